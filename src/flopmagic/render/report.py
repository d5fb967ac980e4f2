"""Rendering a :class:`~flopmagic.report.Report`: its profiles (side by side when several),
audit verdicts and notes, in each output format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .audit import render_verdict_html, render_verdict_text
from .compare import render_comparison_html, render_comparison_text
from .csv import render_table_csv
from .html import STYLE, _e, convention_text, render_profile_html
from .markdown import render_profile_markdown
from .tables import profile_table
from .text import render_profile_text

if TYPE_CHECKING:
    from ..auditor import Verdict
    from ..report import Report

__all__ = ["render_report_csv", "render_report_html", "render_report_markdown", "render_report_text"]


def _verdicts_of(report: Report, model: str) -> list[Verdict]:
    return [v for v in report.verdicts if v.model == model]


def _conventions(report: Report) -> list[str]:
    return list(dict.fromkeys(p.convention for p in report.profiles))


def render_report_text(report: Report) -> str:
    """Compact first: each profile's header, its claim verdicts, its table; the comparison
    (several models), extras (rooflines, timings), notes, then each convention once."""
    parts = []
    for p in report.profiles:
        parts.append(render_profile_text(p, **report.view, conventions=False))
        parts.extend(render_verdict_text(v) for v in _verdicts_of(report, p.model))
    parts.extend(render_verdict_text(v) for v in report.verdicts if v.model not in {p.model for p in report.profiles})
    comparison = report.comparison
    if comparison is not None:
        parts.append(render_comparison_text(comparison, baseline=report.baseline))
    parts.extend(_extra_text(extra) for extra in report.extras)
    parts.extend(report.notes)
    parts.extend(convention_text(c) for c in _conventions(report))
    return "\n\n".join(parts)


def render_report_html(report: Report) -> str:
    parts = [STYLE, "<div class='flopmagic'>"]
    for p in report.profiles:
        verdicts = "".join(render_verdict_html(v) for v in _verdicts_of(report, p.model))
        parts.append(render_profile_html(p, **report.view, verdicts=verdicts, conventions=False))
    parts.extend(render_verdict_html(v) for v in report.verdicts if v.model not in {p.model for p in report.profiles})
    comparison = report.comparison
    if comparison is not None:
        parts.append(render_comparison_html(comparison, baseline=report.baseline, style=False))
    parts.extend(_extra_html(extra) for extra in report.extras)
    parts.extend(f"<p class='fm-note'>{_e(n)}</p>" for n in report.notes)
    parts.extend(f"<p class='fm-note'>{_e(convention_text(c))}</p>" for c in _conventions(report))
    parts.append("</div>")
    return "".join(parts)


def _extra_text(extra: Any) -> str:
    """A result shown after the profiles: a Displayable (a roofline) or any result with a str (a timing)."""
    return str(extra.to_text()) if hasattr(extra, "to_text") else str(extra)


def _extra_html(extra: Any) -> str:
    if hasattr(extra, "to_html"):
        return _inner(str(extra.to_html()))
    return f"<pre class='fm-note'>{_e(str(extra))}</pre>"


def _inner(html: str) -> str:
    """A result's own HTML without its style block (the report's is there already)."""
    return html.replace(STYLE, "")


def render_report_markdown(report: Report) -> str:
    return "\n\n".join(render_profile_markdown(p, **report.view) for p in report.profiles)


def render_report_csv(report: Report) -> str:
    """The current view, every profile, with a leading ``Model`` column; raw integers."""
    return "".join(
        render_table_csv(profile_table(p, **report.view), lead=("Model", p.model), header=index == 0)
        for index, p in enumerate(report.profiles)
    )
