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


def _hypothesis_profiles() -> None:
    """The suite's property tests draw the same examples on every run (a CI run cannot go
    red by the luck of the draw); ``make fuzz`` (``FLOPMAGIC_FUZZ_SCALE`` > 1) or
    ``HYPOTHESIS_PROFILE=explore`` draws fresh ones each time."""
    import os

    from hypothesis import settings

    settings.register_profile("suite", derandomize=True, print_blob=True)
    settings.register_profile("explore", derandomize=False, print_blob=True)
    exploring = int(os.environ.get("FLOPMAGIC_FUZZ_SCALE", "1")) > 1
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore" if exploring else "suite"))


def pytest_configure(config: pytest.Config) -> None:
    _hypothesis_profiles()
    # Test modules import TensorFlow directly; load it the way flopmagic does, so that
    # PyTorch's triton (imported lazily later) cannot crash the process.
    import importlib.util

    from flopmagic.adapters import import_tensorflow

    if importlib.util.find_spec("tensorflow") is not None:  # a GPU box may have PyTorch alone
        import_tensorflow()
