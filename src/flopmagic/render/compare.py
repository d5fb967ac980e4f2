"""Rendering comparisons: text and HTML, differences highlighted, conventions stated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .html import STYLE, _e, render_table_html
from .tables import Cell, Table
from .text import render_table_text

if TYPE_CHECKING:
    from ..comparison import Comparison

__all__ = ["comparison_table", "render_comparison_html", "render_comparison_text"]


def _change(value: int | None, base: int | None) -> str:
    if value is None or base is None:
        return "not in both"
    if base == 0:
        return "" if value == 0 else "from 0"
    return f"{(value - base) / base:+.1%}"


def baseline_index(comparison: Comparison, baseline: str | None) -> int:
    """The position of the baseline model (by label or model name; None: the first)."""
    if baseline is None:
        return 0
    for index, (label, profile) in enumerate(zip(comparison.labels, comparison.profiles)):
        if baseline in (label, profile.model):
            return index
    raise ValueError(f"unknown baseline {baseline!r}; choose one of: {', '.join(comparison.labels)}")


def comparison_table(
    comparison: Comparison, quantity: str = "macs", baseline: str | None = None
) -> tuple[Table, set[tuple[int, int]]]:
    """Rows: aligned keys, each profile's value, then one change column per other model,
    each against the baseline (``baseline``: a label or model name; default the first)."""
    header = "MACs" if quantity == "macs" else "FLOPs"
    by = {"type": "Op type", "stage": "Stage", "layer": "Layer"}[comparison.by]
    base = baseline_index(comparison, baseline)
    others = [i for i in range(len(comparison.labels)) if i != base]
    columns = [by] + [f"{label} {header}" for label in comparison.labels]
    columns += [f"Change {comparison.labels[i]} vs {comparison.labels[base]}" for i in others]
    rows: list[tuple[Cell, ...]] = []
    highlight: set[tuple[int, int]] = set()
    for index, row in enumerate((*comparison.rows, comparison.totals())):
        values = getattr(row, quantity)
        changes = tuple(_change(values[i], values[base]) for i in others)
        key = "Total" if index == len(comparison.rows) else row.key
        rows.append((key, *("-" if v is None else v for v in values), *changes))
        if row.differs(quantity):
            highlight.update((index, j) for j in range(1, len(values) + 1))
    counts = (False, *(True for _ in comparison.labels), *(False for _ in others))
    notes = tuple(
        f"{label}: {profile.model}, {profile.framework}, backend {profile.backend}, convention {convention}"
        for label, profile, convention in zip(comparison.labels, comparison.profiles, comparison.conventions)
    )
    return Table(tuple(columns), counts, tuple(rows), notes), highlight


def render_comparison_text(
    comparison: Comparison, quantities: tuple[str, ...] = ("macs", "flops"), baseline: str | None = None
) -> str:
    parts = []
    for quantity in quantities:
        table, _ = comparison_table(comparison, quantity, baseline)
        parts.append(render_table_text(Table(table.columns, table.counts, table.rows)))
    conventions = "\n".join(f"  {c}" for c in comparison_table(comparison, baseline=baseline)[0].footnotes)
    aligned = "by name" if comparison.align == "name" else "by position among rows that do work"
    return f"Comparison ({comparison.by}, aligned {aligned})\n" + "\n\n".join(parts) + "\nConventions:\n" + conventions


def render_comparison_html(comparison: Comparison, baseline: str | None = None, *, style: bool = True) -> str:
    table, highlight = comparison_table(comparison, "macs", baseline)
    flops, flops_highlight = comparison_table(comparison, "flops", baseline)
    conventions = "".join(f"<li>{_e(c)}</li>" for c in table.footnotes)
    bare = Table(table.columns, table.counts, table.rows)
    bare_flops = Table(flops.columns, flops.counts, flops.rows)
    aligned = "by name" if comparison.align == "name" else "by position among rows that do work"
    body = (
        f"<h4>Comparison <small>{_e(comparison.by)}, aligned {_e(aligned)}; "
        "shaded: the profiles differ</small></h4>"
        f"{render_table_html(bare, highlight=highlight)}"
        f"<details><summary>FLOPs</summary>{render_table_html(bare_flops, highlight=flops_highlight)}</details>"
        f"<p class='fm-note'><b>Models</b></p><ul class='fm-note'>{conventions}</ul>"
    )
    return f"{STYLE}<div class='flopmagic'>{body}</div>" if style else body
