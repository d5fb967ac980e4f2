"""Rendering of :class:`~flopmagic.hardware.Estimates`: each estimate with its formula and inputs."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hardware.estimates import Estimate, Estimates

__all__ = ["format_estimate_value", "render_estimate_text", "render_estimates_html", "render_estimates_text"]


def format_estimate_value(estimate: Estimate) -> str:
    """The value in its unit: days/hours/seconds, GiB with the byte count, a percentage."""
    v = estimate.value
    if estimate.unit == "s":
        if v >= 86400:
            return f"{v / 86400:.3g} days ({v:,.0f} s)"
        if v >= 3600:
            return f"{v / 3600:.3g} h ({v:,.0f} s)"
        return f"{v:.4g} s"
    if estimate.unit == "bytes":
        return f"{v / 2**30:.3f} GiB ({int(v):,} bytes)"
    if estimate.unit == "FLOPs":
        return f"{v:.4g} FLOPs"
    if estimate.unit == "fraction":
        return f"{100 * v:.2f}%"
    return f"{v:.4g} {estimate.unit}"


def _fmt(value: float | int | str) -> str:
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"


def render_estimate_text(estimate: Estimate) -> str:
    """``name: value``, then the formula and its inputs, then notes."""
    inputs = ", ".join(f"{k} = {_fmt(v)}" for k, v in estimate.inputs.items())
    lines = [
        f"{estimate.name}: {format_estimate_value(estimate)}",
        f"    {estimate.formula}",
        f"    where {inputs}" if inputs else "",
    ]
    lines.extend(f"    note: {n}" for n in estimate.notes)
    return "\n".join(line for line in lines if line)


def render_estimates_text(estimates: Estimates, **_: Any) -> str:
    head = f"{estimates.model} on {estimates.device} ({estimates.dtype})"
    if estimates.fits is not None:
        head += f": training {'fits' if estimates.fits else 'does NOT fit'} in device memory"
    return head + "\n" + "\n".join(render_estimate_text(item) for item in estimates.items)


def render_estimates_html(estimates: Estimates, **_: Any) -> str:
    return f"<pre>{html.escape(render_estimates_text(estimates))}</pre>"
