"""Rendering a :class:`~flopmagic.report.Report`: its profiles (side by side when several),
audit verdicts and notes, in each output format."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .audit import render_verdict_html, render_verdict_text
from .compare import render_comparison_html, render_comparison_text
from .csv import render_table_csv
from .html import STYLE, _e, render_profile_html
from .markdown import render_profile_markdown
from .tables import profile_table
from .text import render_profile_text

if TYPE_CHECKING:
    from ..report import Report

__all__ = ["render_report_csv", "render_report_html", "render_report_markdown", "render_report_text"]


def render_report_text(report: Report) -> str:
    parts = [render_profile_text(p, **report.view) for p in report.profiles]
    comparison = report.comparison
    if comparison is not None:
        parts.insert(0, render_comparison_text(comparison))
    parts.extend(render_verdict_text(v) for v in report.verdicts)
    parts.extend(report.notes)
    return "\n\n".join(parts)


def render_report_html(report: Report) -> str:
    parts = [STYLE, "<div class='flopmagic'>"]
    comparison = report.comparison
    if comparison is not None:
        parts.append(render_comparison_html(comparison))
    parts.extend(render_profile_html(p, **report.view) for p in report.profiles)
    parts.extend(render_verdict_html(v) for v in report.verdicts)
    parts.extend(f"<p class='fm-note'>{_e(n)}</p>" for n in report.notes)
    parts.append("</div>")
    return "".join(parts)


def render_report_markdown(report: Report) -> str:
    return "\n\n".join(render_profile_markdown(p, **report.view) for p in report.profiles)


def render_report_csv(report: Report) -> str:
    """The current view, every profile, with a leading ``Model`` column; raw integers."""
    return "".join(
        render_table_csv(profile_table(p, **report.view), lead=("Model", p.model), header=index == 0)
        for index, p in enumerate(report.profiles)
    )
