"""Plain-text rendering for terminals: aligned columns, SI-prefixed counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..units import format_count
from .tables import Cell, Table, Unit, View, compact_table, profile_table, totals_lines

if TYPE_CHECKING:  # renderers draw results; they never depend on them at run time
    from ..schema import ModelProfile

__all__ = ["format_cell", "render_profile_text", "render_table_text"]


def format_cell(value: Cell, is_count: bool) -> str:
    if is_count and isinstance(value, int):
        return format_count(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table_text(table: Table) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[format_cell(v, c) for v, c in zip(row, table.counts)] for row in table.rows]
    widths = [len(h) for h in table.columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row)]
    right = [
        c or (bool(table.rows) and isinstance(table.rows[0][i], (int, float))) or table.columns[i].startswith("%")
        for i, c in enumerate(table.counts)
    ]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
        return "  ".join(parts).rstrip()

    out = [line(list(table.columns)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    out.extend(table.footnotes)
    return "\n".join(out)


def render_profile_text(
    profile: ModelProfile,
    *,
    by: View = "layer",
    depth: int | None = None,
    unit: Unit = "both",
    top: int | None = None,
    receptive_field: bool = False,
    compact: bool | None = None,
    conventions: bool = True,
) -> str:
    """The header (totals, inputs, convention in words) and one table: in the compact
    (default) view the layer tree cut to fit, each row inclusive (as the HTML)."""
    if compact is None:
        compact = by == "layer" and depth is None and top is None and not receptive_field
    lines = [(k, v) for k, v in totals_lines(profile) if conventions or k != "Convention"]
    header = [profile.model]
    width = max(len(label) for label, _ in lines)
    header.extend(f"  {label.ljust(width)}  {value}" for label, value in lines)
    if compact:
        table = compact_table(profile, unit=unit)
        hint = "\n(layer tree: each row includes everything below it)"
    else:
        table = profile_table(profile, by=by, depth=depth, unit=unit, top=top, receptive_field=receptive_field)
        hint = ""
    return "\n".join(header) + "\n\n" + render_table_text(table) + hint
