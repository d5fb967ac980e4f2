"""Rendering audit verdicts: one block per claim (text, HTML) and a summary table."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..units import format_count
from .tables import Table

if TYPE_CHECKING:
    from ..auditor import Verdict
    from ..claims import AuditResults

__all__ = ["render_results", "render_verdict_html", "render_verdict_text", "results_table", "verdict_table"]


def render_verdict_text(verdict: Verdict) -> str:
    lines = [f"{verdict.model}: claim {verdict.claim.text!r} -> {verdict.kind}", f"  {verdict.message}"]
    if verdict.params is not None and verdict.quantity != "params":
        lines.append(f"  params {verdict.params.claim.text!r}: {verdict.params.message}")
    lines.extend(f"  check: {cause}" for cause in verdict.causes)
    if verdict.source:
        lines.append(f"  source: {verdict.source}")
    return "\n".join(lines)


def render_verdict_html(verdict: Verdict) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td class='fm-name'>{e(c.hypothesis.name)}{' (binary prefix)' if c.binary else ''}</td>"
        f"<td class='fm-name'>{e(c.hypothesis.description)}</td><td class='num'>{e(format_count(c.hypothesis.value))}</td>"
        f"<td class='num'>{c.relative_error:+.1%}</td></tr>"
        for c in sorted(verdict.comparisons, key=lambda c: abs(c.relative_error))[:8]
    )
    params = (
        f"<p>Params {e(verdict.params.claim.text)}: {e(verdict.params.message)}</p>"
        if verdict.params and verdict.quantity != "params"
        else ""
    )
    causes = "".join(f"<li>{e(c)}</li>" for c in verdict.causes)
    return (
        f"<div class='flopmagic-audit'><p><b>{e(verdict.model)}</b>: claim <code>{e(verdict.claim.text)}</code> "
        f"&rarr; <b>{e(verdict.kind)}</b></p><p>{e(verdict.message)}</p>{params}"
        + (f"<p>Check:</p><ul>{causes}</ul>" if causes else "")
        + "<table class='fm-table'><thead><tr><th>reading</th><th>what it is</th>"
        "<th class='num'>measured</th><th class='num'>claim vs it</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        + (f"<p><small>source: {e(verdict.source)}</small></p>" if verdict.source else "")
        + "</div>"
    )


def verdict_table(verdicts: Sequence[Verdict], expected: Sequence[str | None] | None = None) -> Table:
    """One row per claim: model, claim, verdict, what it matched and by how much."""
    columns = ["Model", "Claim", "Verdict", "Matched", "Error", "Params"]
    if expected is not None:
        columns.append("Expected")
    rows = []
    for i, v in enumerate(verdicts):
        row = [
            v.model,
            v.claim.text,
            v.kind,
            v.hypothesis or "-",
            f"{v.relative_error:+.1%}",
            ("ok" if v.params.matched else "no") + (" (binary)" if v.params.binary else "") if v.params else "-",
        ]
        if expected is not None:
            row.append(expected[i] or "-")
        rows.append(tuple(row))
    return Table(tuple(columns), (False,) * len(columns), tuple(rows))


def results_table(results: AuditResults) -> Table:
    """One row per claim of a bulk audit, errors included: row number, model, claim,
    status, verdict, the reading that explains it (or the nearest), the measured
    value against the claim, and the message (or the error)."""
    expected = any(r.claim.expected for r in results.rows)
    columns = ["Row", "Model", "Claim", "Status", "Verdict", "Reading", "Model vs claim", "Params"]
    if expected:
        columns.append("Expected")
    columns.append("Message")
    rows = []
    for r in results.rows:
        v = r.verdict
        if v is None:
            cells: list[str | int] = [r.row, r.claim.model, r.claim.text, "error", "-", "-", "-", "-"]
        else:
            versus = v.measured_vs_claim
            params = "-"
            if v.params is not None and v.quantity != "params":
                params = ("ok" if v.params.matched else "no") + (" (binary)" if v.params.binary else "")
            cells = [
                r.row,
                r.claim.model,
                r.claim.text,
                r.status,
                v.kind,
                v.hypothesis or "-",
                f"{versus:+.1%}" if versus is not None else "-",
                params,
            ]
        if expected:
            cells.append(r.claim.expected or "-")
        cells.append((r.error or "") if v is None else v.message)
        rows.append(tuple(cells))
    return Table(tuple(columns), (False,) * len(columns), tuple(rows))


def render_results(results: AuditResults, fmt: str = "table") -> str:
    """A bulk audit as ``table`` (text), ``markdown``, ``csv``, ``json`` or ``html``."""
    if fmt == "json":
        import json

        return json.dumps(results.to_dict(), indent=2)
    table = results_table(results)
    if fmt == "csv":
        from .csv import render_table_csv

        return render_table_csv(table)
    if fmt == "markdown":
        from .markdown import render_table_markdown

        return render_table_markdown(table) + "\n\n" + results.summary()
    if fmt == "html":
        from .html import render_table_html

        return (
            "<div class='flopmagic-audit'>"
            + render_table_html(table)
            + f"<p>{html.escape(results.summary())}</p></div>"
        )
    from .text import render_table_text

    return render_table_text(table) + "\n\n" + results.summary()
