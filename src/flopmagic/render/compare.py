"""Rendering comparisons: text and HTML, differences highlighted, conventions stated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .html import STYLE, _e, render_table_html
from .tables import Cell, Table
from .text import render_table_text

if TYPE_CHECKING:
    from ..comparison import Comparison

__all__ = ["comparison_table", "render_comparison_html", "render_comparison_text"]


def comparison_table(comparison: Comparison, quantity: str = "macs") -> tuple[Table, set[tuple[int, int]]]:
    """Rows: aligned keys, each profile's value; the last column is the change from the first."""
    header = "MACs" if quantity == "macs" else "FLOPs"
    by = {"type": "Op type", "stage": "Stage", "layer": "Layer"}[comparison.by]
    columns = [by] + [f"{label} {header}" for label in comparison.labels] + ["Change"]
    rows: list[tuple[Cell, ...]] = []
    highlight: set[tuple[int, int]] = set()
    for index, row in enumerate((*comparison.rows, comparison.totals())):
        values = getattr(row, quantity)
        first = values[0]
        last = values[-1]
        if first is None or last is None:
            change = "not in both"
        elif first == 0:
            change = "" if last == 0 else "from 0"
        else:
            change = f"{(last - first) / first:+.1%}"
        key = "Total" if index == len(comparison.rows) else row.key
        rows.append((key, *("-" if v is None else v for v in values), change))
        if row.differs(quantity):
            highlight.update((index, j) for j in range(1, len(values) + 1))
    counts = (False, *(True for _ in comparison.labels), False)
    notes = tuple(
        f"{label}: {profile.model}, {profile.framework}, backend {profile.backend}, convention {convention}"
        for label, profile, convention in zip(comparison.labels, comparison.profiles, comparison.conventions)
    )
    return Table(tuple(columns), counts, tuple(rows), notes), highlight


def render_comparison_text(comparison: Comparison, quantities: tuple[str, ...] = ("macs", "flops")) -> str:
    parts = []
    for quantity in quantities:
        table, _ = comparison_table(comparison, quantity)
        parts.append(render_table_text(Table(table.columns, table.counts, table.rows)))
    conventions = "\n".join(f"  {c}" for c in comparison_table(comparison)[0].footnotes)
    aligned = "by name" if comparison.align == "name" else "by position among rows that do work"
    return f"Comparison ({comparison.by}, aligned {aligned})\n" + "\n\n".join(parts) + "\nConventions:\n" + conventions


def render_comparison_html(comparison: Comparison) -> str:
    table, highlight = comparison_table(comparison, "macs")
    flops, flops_highlight = comparison_table(comparison, "flops")
    conventions = "".join(f"<li>{_e(c)}</li>" for c in table.footnotes)
    bare = Table(table.columns, table.counts, table.rows)
    bare_flops = Table(flops.columns, flops.counts, flops.rows)
    aligned = "by name" if comparison.align == "name" else "by position among rows that do work"
    return (
        f"{STYLE}<div class='flopmagic'><h4>Comparison <small>{_e(comparison.by)}, aligned {_e(aligned)}; "
        "shaded: the profiles differ</small></h4>"
        f"{render_table_html(bare, highlight=highlight)}"
        f"<details><summary>FLOPs</summary>{render_table_html(bare_flops, highlight=flops_highlight)}</details>"
        f"<p class='fm-note'><b>Conventions</b></p><ul class='fm-note'>{conventions}</ul></div>"
    )
