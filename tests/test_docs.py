"""The docs' generated tables are current, and the README's commands are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

from flopmagic.render.docs import update

ROOT = Path(__file__).parents[1]


def test_generated_tables_are_current():
    # python -m flopmagic.render.docs docs/conventions.md rewrites them
    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    assert update(text) == text
    assert "| `conv` | contraction |" in text and "| `fvcore` |" in text


def test_options_table_is_current():
    # python -m flopmagic.render.docs docs/options.md rewrites it from flopmagic/options.py
    text = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    assert update(text) == text
    assert "| `--top` | profile | yes |" in text and "| `--backend` |" in text


def test_readme_commands_exist_in_the_makefile_and_ci():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
