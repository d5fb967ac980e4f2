"""Rendering of :class:`~flopmagic.llm.Generation`: a step table, the affinity and causal notes."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .csv import render_table_csv
from .markdown import render_table_markdown
from .tables import Table
from .text import render_table_text

if TYPE_CHECKING:
    from ..llm import Generation

__all__ = [
    "generation_table",
    "render_generation_csv",
    "render_generation_html",
    "render_generation_markdown",
    "render_generation_text",
]


def generation_table(g: Generation, top: int = 8) -> Table:
    """Prefill, the first ``top`` decode steps and the last one; totals as a footnote."""
    decode = g.decode_steps
    shown = list(decode[:top]) + ([decode[-1]] if len(decode) > top else [])
    rows = tuple(
        (
            s.phase,
            s.position,
            s.tokens,
            s.context,
            s.macs,
            s.flops,
            s.bytes,
            s.kv_cache_bytes,
            "measured" if s.measured else "extrapolated",
        )
        for s in [g.prefill_step, *shown]
    )
    notes: tuple[str, ...] = (
        f"{g.model}: prefill {g.prefill} + decode {g.decode}, batch {g.batch}, {g.dtype}, convention {g.convention}, "
        f"lm_head at {g.lm_head} positions",
        f"total {g.macs:,} MACs, {g.flops:,} FLOPs; KV cache {g.kv_bytes_per_token:,} bytes/token; "
        f"weights {g.weight_bytes:,} bytes",
        g.affinity,
        g.causal,
    )
    if g.bounds is not None:
        b = g.bounds
        notes += (
            f"{b.device}: prefill >= {b.prefill_seconds:.4g} s (compute), decode >= "
            f"{b.decode_seconds_per_token:.4g} s/step at context {b.context} (bandwidth); "
            f"KV fits {b.max_cache_tokens:,} tokens (batch <= {b.max_batch_at_context} at that context)",
        )
    return Table(
        ("step", "position", "tokens", "context", "MACs", "FLOPs", "bytes", "KV bytes", "how"),
        (False, False, False, False, True, True, True, True, False),
        rows,
        tuple(n for n in notes if n),
    )


def render_generation_text(g: Generation, top: int = 8, **_: Any) -> str:
    return render_table_text(generation_table(g, top))


def render_generation_markdown(g: Generation, top: int = 8, **_: Any) -> str:
    return render_table_markdown(generation_table(g, top))


def render_generation_csv(g: Generation, top: int = 8, **_: Any) -> str:
    return render_table_csv(generation_table(g, top))


def render_generation_html(g: Generation, top: int = 8, **_: Any) -> str:
    return "<pre class='flopmagic'>" + html.escape(render_generation_text(g, top)) + "</pre>"
