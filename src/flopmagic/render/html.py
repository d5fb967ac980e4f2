"""HTML rendering for notebooks. Every value is escaped; styles are scoped to ``.flopmagic``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .tables import Table, Unit, View, profile_table, totals_lines
from .text import format_cell

if TYPE_CHECKING:  # renderers draw results; they never depend on them at run time
    from ..schema import ModelProfile

__all__ = ["STYLE", "render_profile_html", "render_table_html"]

STYLE = """<style>
.flopmagic{font-family:system-ui,-apple-system,sans-serif;font-size:13px;margin:4px 0 12px 0}
.flopmagic h4{margin:4px 0;font-size:15px}.flopmagic h4 small{color:#666;font-weight:normal}
.flopmagic table{border-collapse:collapse;margin:4px 0}
.flopmagic th,.flopmagic td{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left;white-space:nowrap}
.flopmagic td.num,.flopmagic th.num{text-align:right;font-variant-numeric:tabular-nums}
.flopmagic .fm-totals td{font-weight:600}
.flopmagic .fm-bar{display:inline-block;height:8px;background:#4c78a8;vertical-align:middle;margin-right:4px}
.flopmagic .fm-note{color:#555;max-width:72em;white-space:normal}
.flopmagic .fm-unsupported{color:#a33;font-weight:600}
.flopmagic td.fm-differs{background:#fff3cd}
</style>"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_table_html(table: Table, *, highlight: set[tuple[int, int]] | None = None) -> str:
    """A table; ``highlight`` marks (row, column) cells to shade (comparisons)."""
    right = [c or h.startswith("%") or h == "Calls" for h, c in zip(table.columns, table.counts)]
    head = "".join(f"<th class='num'>{_e(h)}</th>" if r else f"<th>{_e(h)}</th>" for h, r in zip(table.columns, right))
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, (value, is_count) in enumerate(zip(row, table.counts)):
            classes = ["num"] if right[j] else []
            if highlight and (i, j) in highlight:
                classes.append("fm-differs")
            text = _e(format_cell(value, is_count))
            if table.columns[j].startswith("%") and isinstance(value, str) and value.endswith("%"):
                width = max(0.0, min(100.0, float(value[:-1]))) * 0.6
                text = f"<span class='fm-bar' style='width:{width:.1f}px'></span>{text}"
            title = f" title='{value:,}'" if is_count and isinstance(value, int) else ""
            cells.append(f"<td class='{' '.join(classes)}'{title}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p class='fm-unsupported'>&#9888; {_e(n)}</p>" for n in table.footnotes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}"


def render_profile_html(
    profile: ModelProfile,
    *,
    by: View = "layer",
    depth: int | None = None,
    unit: Unit = "both",
    top: int | None = None,
    receptive_field: bool = False,
) -> str:
    """Totals header (MACs, FLOPs, params, memory, convention in words) and one table."""
    lines = totals_lines(profile)
    headline = {label: value for label, value in lines if label in ("MACs", "FLOPs", "Params")}
    totals = "".join(f"<th>{_e(k)}</th><td>{_e(v)}</td>" for k, v in headline.items())
    rest = "".join(
        f"<p class='fm-note'><b>{_e(label)}</b>: {_e(value)}</p>" for label, value in lines if label not in headline
    )
    mode = "training step" if profile.training else "inference"
    title = f"<h4>{_e(profile.model)} <small>{_e(profile.framework)} &middot; {_e(profile.backend)} &middot; {mode}</small></h4>"
    table = render_table_html(
        profile_table(profile, by=by, depth=depth, unit=unit, top=top, receptive_field=receptive_field)
    )
    return f"{title}<table class='fm-totals'><tr>{totals}</tr></table>{rest}{table}"
