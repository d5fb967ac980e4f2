"""Tables in the docs that are generated from the registries, never copied by hand.

``python -m flopmagic.render.docs docs/conventions.md docs/options.md`` rewrites the generated
blocks in place; ``tests/test_docs.py`` fails when they are stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..conventions import conventions
from ..formulas import formulas
from ..options import options_table

__all__ = ["BLOCKS", "convention_table", "formula_table", "options_table", "update"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def formula_table() -> str:
    """Every canonical op: category and what its formula counts (the docstring's first line)."""
    lines = ["| op | category | counts |", "| --- | --- | --- |"]
    for entry in sorted(formulas(), key=lambda e: (e.category, e.op)):
        zero = " (zero-cost)" if entry.zero_cost else ""
        lines.append(f"| `{entry.op}` | {entry.category}{zero} | {_cell(entry.summary)} |")
    return "\n".join(lines)


def convention_table() -> str:
    """Every convention: what it reproduces, the quantity and label it reports, its source."""
    lines = ["| name | reproduces | reports (label) | what it counts | source |", "| --- | --- | --- | --- | --- |"]
    for c in conventions():
        lines.append(
            f"| `{c.name}` | {_cell(c.title)} | {c.reports} ({_cell(c.label)}) | {_cell(c.description)} | {_cell(c.source)} |"
        )
    return "\n".join(lines)


BLOCKS = {"formulas": formula_table, "conventions": convention_table, "options": options_table}


def update(text: str) -> str:
    """``text`` with every ``<!-- generated: NAME -->...<!-- end generated -->`` block regenerated."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"<!-- generated: {name} -->\n{BLOCKS[name]()}\n<!-- end generated -->"

    return re.sub(r"<!-- generated: (\w+) -->.*?<!-- end generated -->", replace, text, flags=re.S)


def main(paths: list[str]) -> int:
    for path in paths:
        file = Path(path)
        file.write_text(update(file.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
