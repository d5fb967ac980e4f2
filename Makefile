# Two commands for a fresh machine (see README.md):
#   make demo   set everything up, then run the main demo
#   make test   set everything up, then run the whole test suite
# Both are idempotent: the virtual environment is built once and reused.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.flopmagic-installed
OUT ?= out

.PHONY: setup demo test fuzz lint typecheck bench clean

$(STAMP): pyproject.toml constraints/test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints/test.txt -e ".[all,test,bench]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python docs/run_quickstart.py --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the long fuzz run: 50x the cases of the normal run (figures in docs/reliability.md)
FUZZ_SCALE ?= 50
fuzz: $(STAMP)
	FLOPMAGIC_FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -q tests/test_error_contract.py tests/test_onnx_wire.py -k fuzz

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py --out docs/benchmarks.md

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
