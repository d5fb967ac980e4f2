"""HTML rendering for notebooks. Every value is escaped; styles are scoped to ``.flopmagic``."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from .tables import Cell, Table, Unit, View, compact_table, headline, profile_table, totals_lines
from .text import format_cell

if TYPE_CHECKING:  # renderers draw results; they never depend on them at run time
    from ..schema import ModelProfile

__all__ = ["STYLE", "render_header_html", "render_profile_html", "render_table_html"]

# Colours only through JupyterLab's theme variables, each with a fallback that works
# where they are not defined (classic Notebook, VS Code, Colab): text inherits the page's
# colour, lines and shading are translucent, so light and dark pages both keep contrast.
# ``.flopmagic table.fm-table td`` (0,2,2) outranks JupyterLab's
# ``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td`` (0,2,1) right-alignment.
STYLE = """<style>
.flopmagic{font-family:var(--jp-ui-font-family,system-ui,-apple-system,'Segoe UI',sans-serif);font-size:13px;
margin:4px 0 12px 0;color:var(--jp-content-font-color0,inherit);line-height:1.4}
.flopmagic h4{margin:6px 0 2px 0;font-size:15px;color:inherit}
.flopmagic h4 small{font-weight:normal;font-size:13px;color:inherit}
.flopmagic p{margin:2px 0;color:inherit}
.flopmagic .fm-head{margin:2px 0 6px 0}
.flopmagic .fm-head b{font-weight:600}
.flopmagic table.fm-table{border-collapse:collapse;margin:4px 0;table-layout:auto;width:auto;
font-variant-numeric:tabular-nums;color:inherit;background:transparent}
.flopmagic table.fm-table th,.flopmagic table.fm-table td{padding:2px 8px;text-align:left;white-space:nowrap;
color:inherit;background:transparent;border:0;border-bottom:1px solid var(--jp-border-color2,rgba(128,128,128,.35))}
.flopmagic table.fm-table th{font-weight:600}
.flopmagic table.fm-table td.num,.flopmagic table.fm-table th.num{text-align:right;font-variant-numeric:tabular-nums}
.flopmagic table.fm-table tr.fm-totals td{font-weight:600}
.flopmagic .fm-bar{display:inline-block;height:8px;background:var(--jp-brand-color1,#4c78a8);
vertical-align:middle;margin-right:4px}
.flopmagic .fm-note{max-width:72em;white-space:normal;color:inherit}
.flopmagic .fm-unsupported{font-weight:600;color:inherit;border-left:4px solid var(--jp-error-color1,#d32f2f);
padding-left:6px}
.flopmagic table.fm-table td.fm-differs{background:rgba(255,170,0,.18);font-weight:600}
.flopmagic details{margin:4px 0}
.flopmagic details>summary{cursor:pointer;color:inherit}
.flopmagic code{color:inherit;background:transparent}
</style>"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?( ?[a-zA-Zµ%/]+)?$")  # 1.0, +4.6%, 10.024 us, 3 GB/s


def _numeric_column(values: list[Cell]) -> bool:
    """A column of numbers (counts, or numbers written with their unit): right-aligned."""
    shown = [v for v in values if v not in ("", "-")]
    return bool(shown) and all(isinstance(v, (int, float)) or _NUMBER.match(str(v)) for v in shown)


def render_table_html(table: Table, *, highlight: set[tuple[int, int]] | None = None) -> str:
    """A table; names left, numbers right (tabular digits); ``highlight`` marks (row,
    column) cells to shade (comparisons)."""
    right = [
        c or h.startswith("%") or h == "Calls" or (j > 0 and _numeric_column([row[j] for row in table.rows]))
        for j, (h, c) in enumerate(zip(table.columns, table.counts))
    ]
    head = "".join(f"<th class='num'>{_e(h)}</th>" if r else f"<th>{_e(h)}</th>" for h, r in zip(table.columns, right))
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, (value, is_count) in enumerate(zip(row, table.counts)):
            classes = ["num"] if right[j] or isinstance(value, (int, float)) else ["fm-name"]
            if highlight and (i, j) in highlight:
                classes.append("fm-differs")
            text = _e(format_cell(value, is_count))
            if table.columns[j].startswith("%") and isinstance(value, str) and value.endswith("%"):
                width = max(0.0, min(100.0, float(value[:-1]))) * 0.6
                text = f"<span class='fm-bar' style='width:{width:.1f}px'></span>{text}"
            title = f" title='{value:,}'" if is_count and isinstance(value, int) else ""
            cells.append(f"<td class='{' '.join(classes)}'{title}>{text}</td>")
        total = " class='fm-totals'" if row and row[0] == "Total" else ""
        body.append(f"<tr{total}>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p class='fm-unsupported'>&#9888; {_e(n)}</p>" for n in table.footnotes)
    return f"<table class='fm-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}"


def _bare(table: Table) -> Table:
    return Table(table.columns, table.counts, table.rows)


def render_header_html(profile: ModelProfile) -> str:
    """The title and the one-line header: MACs, FLOPs, params, memory, convention."""
    mode = "training step" if profile.training else "inference"
    title = f"<h4>{_e(profile.model)} <small>{_e(profile.framework)} &middot; {_e(profile.backend)} &middot; {mode}</small></h4>"
    parts = " &middot; ".join(f"<b>{_e(k)}</b> {_e(v)}" for k, v in headline(profile))
    return f"{title}<p class='fm-head'>{parts}</p>"


def render_profile_html(
    profile: ModelProfile,
    *,
    by: View = "layer",
    depth: int | None = None,
    unit: Unit = "both",
    top: int | None = None,
    receptive_field: bool = False,
    compact: bool | None = None,
    verdicts: str = "",
    conventions: bool = True,
) -> str:
    """Compact first, everything one click away: the header, ``verdicts`` (HTML, when a
    claim was audited), the layer tree cut to fit (:func:`compact_table`, inclusive rows),
    unsupported ops, then the full per-layer and per-op-type tables and the details
    (inputs, run, notes) in collapsed ``<details>``. ``compact`` defaults to the default
    view (``by="layer"`` with no ``depth`` or ``top``); otherwise the asked table is shown
    first. ``conventions``: explain the convention here (a report explains each once)."""
    if compact is None:
        compact = by == "layer" and depth is None and top is None and not receptive_field
    if compact:
        first = render_table_html(compact_table(profile, unit=unit))
    else:
        first = render_table_html(
            profile_table(profile, by=by, depth=depth, unit=unit, top=top, receptive_field=receptive_field)
        )
    layers = profile_table(profile, by="layer", unit=unit, receptive_field=receptive_field)
    types = profile_table(profile, by="type", unit=unit)
    ops = profile_table(profile, by="op", unit=unit)
    skip = {"MACs", "FLOPs", "Params", "Convention"}
    explained = f"<p class='fm-note'>{_e(convention_text(profile.convention))}</p>" if conventions else ""
    rest = "".join(
        f"<p class='fm-note'><b>{_e(label)}</b>: {_e(value)}</p>"
        for label, value in totals_lines(profile)
        if label not in skip
    )
    return (
        f"{render_header_html(profile)}{verdicts}{first}"
        f"<details><summary>All {len(layers.rows)} layers (each with its own ops)</summary>"
        f"{render_table_html(_bare(layers))}</details>"
        f"<details><summary>By op type ({len(types.rows)} rows)</summary>{render_table_html(_bare(types))}</details>"
        f"<details><summary>By native op ({len(ops.rows)} rows)</summary>{render_table_html(_bare(ops))}</details>"
        f"<details><summary>Inputs, run and notes</summary>{rest}</details>{explained}"
    )


def convention_text(name: str) -> str:
    """``Convention flopmagic: <what it counts>``, said once per output."""
    from ..conventions import get_convention

    return f"Convention {name}: {get_convention(name).description}"
