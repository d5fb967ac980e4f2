"""Rendering audit verdicts: one block per claim (text, HTML) and a summary table."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..units import format_count
from .tables import Table

if TYPE_CHECKING:
    from ..auditor import Verdict

__all__ = ["render_verdict_html", "render_verdict_text", "verdict_table"]


def render_verdict_text(verdict: Verdict) -> str:
    lines = [f"{verdict.model}: claim {verdict.claim.text!r} -> {verdict.kind}", f"  {verdict.message}"]
    if verdict.params is not None:
        lines.append(f"  params {verdict.params.claim.text!r}: {verdict.params.message}")
    lines.extend(f"  check: {cause}" for cause in verdict.causes)
    if verdict.source:
        lines.append(f"  source: {verdict.source}")
    return "\n".join(lines)


def render_verdict_html(verdict: Verdict) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c.hypothesis.name)}{' (binary prefix)' if c.binary else ''}</td>"
        f"<td>{e(c.hypothesis.description)}</td><td style='text-align:right'>{e(format_count(c.hypothesis.value))}</td>"
        f"<td style='text-align:right'>{c.relative_error:+.1%}</td></tr>"
        for c in sorted(verdict.comparisons, key=lambda c: abs(c.relative_error))[:8]
    )
    params = f"<p>Params {e(verdict.params.claim.text)}: {e(verdict.params.message)}</p>" if verdict.params else ""
    causes = "".join(f"<li>{e(c)}</li>" for c in verdict.causes)
    return (
        f"<div class='flopmagic-audit'><p><b>{e(verdict.model)}</b>: claim <code>{e(verdict.claim.text)}</code> "
        f"&rarr; <b>{e(verdict.kind)}</b></p><p>{e(verdict.message)}</p>{params}"
        + (f"<p>Check:</p><ul>{causes}</ul>" if causes else "")
        + "<table><thead><tr><th>reading</th><th>what it is</th><th>measured</th><th>claim vs it</th></tr></thead>"
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
