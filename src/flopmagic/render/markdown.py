"""Markdown rendering (GitHub-flavoured tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tables import Table, Unit, View, profile_table, totals_lines
from .text import format_cell

if TYPE_CHECKING:  # renderers draw results; they never depend on them at run time
    from ..schema import ModelProfile

__all__ = ["render_profile_markdown", "render_table_markdown"]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_table_markdown(table: Table) -> str:
    align = ["---:" if c or h.startswith("%") or h == "Calls" else "---" for h, c in zip(table.columns, table.counts)]
    lines = ["| " + " | ".join(table.columns) + " |", "| " + " | ".join(align) + " |"]
    for row in table.rows:
        lines.append("| " + " | ".join(_escape(format_cell(v, c)) for v, c in zip(row, table.counts)) + " |")
    lines.extend(f"\n{_escape(note)}" for note in table.footnotes)
    return "\n".join(lines)


def render_profile_markdown(
    profile: ModelProfile,
    *,
    by: View = "layer",
    depth: int | None = None,
    unit: Unit = "both",
    top: int | None = None,
    receptive_field: bool = False,
) -> str:
    header = [f"### {_escape(profile.model)}", ""]
    header.extend(f"- **{label}**: {_escape(value)}" for label, value in totals_lines(profile))
    return (
        "\n".join(header)
        + "\n\n"
        + render_table_markdown(
            profile_table(profile, by=by, depth=depth, unit=unit, top=top, receptive_field=receptive_field)
        )
    )
