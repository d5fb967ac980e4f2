"""Renderers: turn results into text, HTML, Markdown, CSV and JSON. No computation here.

One dispatch for every result: :func:`render` picks the renderer from the result's
kind (``profile``, ``comparison``, ``verdict``, ``report``: the ``_render_kind`` its
class declares) and the format. The CLI, the magic, ``_repr_mimebundle_`` and the
``to_*`` methods all go through it. Renderers import the result classes only for
type checking: the data never depends on how it is drawn, and the arrows run one way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, get_args

from .audit import render_results, render_verdict_html, render_verdict_text, verdict_table
from .compare import comparison_table, render_comparison_html, render_comparison_text
from .csv import render_table_csv
from .estimates import render_estimates_html, render_estimates_text
from .html import STYLE, render_profile_html, render_table_html
from .llm import (
    render_generation_csv,
    render_generation_html,
    render_generation_markdown,
    render_generation_text,
)
from .markdown import render_profile_markdown, render_table_markdown
from .report import render_report_csv, render_report_html, render_report_markdown, render_report_text
from .roofline import render_roofline_html, render_roofline_text, roofline_table
from .survey import render_survey_csv, render_survey_html, render_survey_markdown, render_survey_text
from .tables import Table, Unit, profile_table, shape_text, totals_lines
from .text import render_profile_text, render_table_text

if TYPE_CHECKING:
    from ..auditor import Verdict
    from ..comparison import Comparison
    from ..schema import ModelProfile

__all__ = [
    "FORMATS",
    "Format",
    "Table",
    "mimebundle",
    "profile_table",
    "register",
    "render",
    "render_table_html",
    "render_table_text",
    "shape_text",
    "totals_lines",
]

Format = Literal["text", "html", "markdown", "csv", "json"]
FORMATS: tuple[Format, ...] = get_args(Format)


def _quantities(unit: Unit) -> tuple[str, ...]:
    return ("macs", "flops") if unit == "both" else (unit,)


# -- profiles ----------------------------------------------------------------------------
def _profile_json(profile: ModelProfile, **view: Any) -> str:
    table = profile_table(profile, **view)
    data = profile.to_dict()
    data["rows"] = [dict(zip(table.columns, row)) for row in table.rows]
    return json.dumps(data, indent=2)


def _profile_html(profile: ModelProfile, **view: Any) -> str:
    return f"{STYLE}<div class='flopmagic'>{render_profile_html(profile, **view)}</div>"


# -- comparisons ---------------------------------------------------------------------------
def _comparison_text(comparison: Comparison, unit: Unit = "both", baseline: str | None = None, **_: Any) -> str:
    return render_comparison_text(comparison, _quantities(unit), baseline)


def _comparison_html(comparison: Comparison, baseline: str | None = None, **_: Any) -> str:
    return render_comparison_html(comparison, baseline)


def _comparison_markdown(comparison: Comparison, unit: Unit = "both", baseline: str | None = None, **_: Any) -> str:
    return "\n\n".join(render_table_markdown(comparison_table(comparison, q, baseline)[0]) for q in _quantities(unit))


def _comparison_csv(comparison: Comparison, unit: Unit = "both", baseline: str | None = None, **_: Any) -> str:
    return render_table_csv(comparison_table(comparison, unit if unit != "both" else "macs", baseline)[0])


# -- verdicts -----------------------------------------------------------------------------
def _verdict_markdown(verdict: Verdict, **_: Any) -> str:
    return render_table_markdown(verdict_table([verdict])) + "\n\n" + verdict.message


def _to_json(result: Any, **_: Any) -> str:
    return json.dumps(result.to_dict(), indent=2)


def _ignore_view(fn: Callable[[Any], str]) -> Callable[..., str]:
    def call(result: Any, **_: Any) -> str:
        return fn(result)

    return call


_RENDERERS: dict[str, dict[Format, Callable[..., str]]] = {
    "profile": {
        "text": render_profile_text,
        "html": _profile_html,
        "markdown": render_profile_markdown,
        "csv": lambda p, **view: render_table_csv(profile_table(p, **view)),
        "json": _profile_json,
    },
    "comparison": {
        "text": _comparison_text,
        "html": _comparison_html,
        "markdown": _comparison_markdown,
        "csv": _comparison_csv,
        "json": _to_json,
    },
    "verdict": {
        "text": _ignore_view(render_verdict_text),
        "html": _ignore_view(render_verdict_html),
        "markdown": _verdict_markdown,
        "csv": lambda v, **_: render_table_csv(verdict_table([v])),
        "json": _to_json,
    },
    "report": {
        "text": _ignore_view(render_report_text),
        "html": _ignore_view(render_report_html),
        "markdown": _ignore_view(render_report_markdown),
        "csv": _ignore_view(render_report_csv),
        "json": _to_json,
    },
    "audit-results": {
        "text": lambda r, **_: render_results(r, "table"),
        "html": lambda r, **_: render_results(r, "html"),
        "markdown": lambda r, **_: render_results(r, "markdown"),
        "csv": lambda r, **_: render_results(r, "csv"),
        "json": _to_json,
    },
    "roofline": {
        "text": render_roofline_text,
        "html": render_roofline_html,
        "markdown": lambda r, top=10, **_: render_table_markdown(roofline_table(r, top)),
        "csv": lambda r, top=10, **_: render_table_csv(roofline_table(r, top)),
        "json": _to_json,
    },
    "estimates": {
        "text": render_estimates_text,
        "html": render_estimates_html,
        "json": _to_json,
    },
    "llm-generation": {
        "text": render_generation_text,
        "html": render_generation_html,
        "markdown": render_generation_markdown,
        "csv": render_generation_csv,
        "json": _to_json,
    },
    "survey": {
        "text": render_survey_text,
        "html": render_survey_html,
        "markdown": render_survey_markdown,
        "csv": render_survey_csv,
        "json": _to_json,
    },
}


def register(kind: str, renderers: dict[Format, Callable[..., str]]) -> None:
    """Add the renderers of a new kind of result (a class with ``_render_kind = kind`` and
    the :class:`~flopmagic.display.Displayable` mixin): one function per format, each
    ``(result, **view) -> str``. Registering a kind twice is an error."""
    if kind in _RENDERERS:
        raise ValueError(f"renderers for {kind!r} are registered already")
    _RENDERERS[kind] = dict(renderers)


def render(result: Any, fmt: str = "text", **view: Any) -> str:
    """``result`` (a profile, comparison, verdict or report) in format ``fmt``.

    ``view`` are the table options a profile takes (``by``, ``depth``, ``unit``,
    ``top``; a comparison reads ``unit``); a report carries its own.

    Raises:
        ValueError: an unknown format, or an object that is not a result.
    """
    kind = getattr(type(result), "_render_kind", None)
    if kind not in _RENDERERS:
        raise ValueError(f"cannot render a {type(result).__name__}: not a flopmagic result")
    by_format = _RENDERERS[kind]
    if fmt not in by_format:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(by_format)}")
    return by_format[fmt](result, **view)


def mimebundle(result: Any) -> dict[str, str]:
    """What a notebook shows: plain text and HTML."""
    return {"text/plain": render(result, "text"), "text/html": render(result, "html")}
