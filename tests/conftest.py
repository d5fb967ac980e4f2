"""Shared test fixtures: golden snapshots with an update flag (like torchinfo's)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/* from the current output instead of comparing",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden("name.txt", text)`` compares ``text`` with tests/golden/name.txt."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"no golden file {path}; run pytest --update-golden to create it")
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "\n".join(
                difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "actual", lineterm="")
            )
            pytest.fail(f"output differs from {path} (pytest --update-golden rewrites it):\n{diff}")

    return check


@pytest.fixture(scope="session")
def spec_profile():
    """Profile a spec on meta tensors once per architecture for the whole session
    (the torchvision walk and the claims audit build the same ~90 models)."""
    import flopmagic
    from flopmagic.specs import architecture_key

    cache: dict = {}

    def get(spec: str):
        key = architecture_key(spec)
        if key not in cache:
            cache[key] = flopmagic.profile(spec, device="meta")
        return cache[key]

    return get


@pytest.fixture(scope="module")
def ip():
    """The one IPython shell of the test session (IPython makes one per process), with
    ``%load_ext flopmagic`` and PyTorch imported."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "flopmagic")
    shell.run_cell("import torch, torchvision\nfrom torch import nn")
    return shell


def pytest_configure(config: pytest.Config) -> None:
    # Test modules import TensorFlow directly; load it the way flopmagic does, so that
    # PyTorch's triton (imported lazily later) cannot crash the process.
    import importlib.util

    from flopmagic.adapters import import_tensorflow

    if importlib.util.find_spec("tensorflow") is not None:  # a GPU box may have PyTorch alone
        import_tensorflow()
