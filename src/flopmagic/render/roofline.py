"""Rendering of a :class:`~flopmagic.hardware.Roofline`: summary, slowest layers, plot.

The data object imports this module only when it is displayed.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..units import format_count
from .tables import Table
from .text import render_table_text

if TYPE_CHECKING:
    from ..hardware.roofline import Roofline

__all__ = ["plot_roofline", "render_roofline_html", "render_roofline_text", "roofline_table", "summary_lines"]


def _seconds(value: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale:
            return f"{value / scale:.3f} {unit}"
    return f"{value * 1e9:.1f} ns"


def summary_lines(r: Roofline) -> list[tuple[str, str]]:
    """(label, value) pairs: device, peaks, times, bytes, assumption."""
    lines = [
        ("Device", f"{r.device.name} ({r.device.title}), dtype {r.dtype}"),
        (
            "Peaks",
            f"{r.peak_flops / 1e12:.4g} TFLOPS dense matrix, {r.vector_peak_flops / 1e12:.4g} TFLOPS vector "
            f"({r.vector_dtype}), {r.bandwidth / 1e9:.4g} GB/s",
        ),
        (
            "Time",
            f"{_seconds(r.time_s)} ({r.bound}-bound overall): compute {_seconds(r.compute_s)}, "
            f"memory {_seconds(r.memory_s)}; sum over ops of max(compute, memory)",
        ),
        (
            "Bytes",
            f"{format_count(r.bytes, 'B', binary=True)} moved ({r.bytes:,}); weights read "
            f"{format_count(r.weight_bytes, 'B', binary=True)}; intensity "
            + (f"{r.intensity:.1f} FLOP/B" if r.bytes else "-"),
        ),
        (
            "Memory",
            f"params {format_count(r.param_bytes, 'B', binary=True)} at {r.dtype}"
            + (
                " (stored: "
                + ", ".join(f"{format_count(b, 'B', binary=True)} {d}" for d, b in sorted(r.stored_param_bytes.items()))
                + ")"
                if r.stored_param_bytes
                else ""
            )
            + f"; activations produced "
            f"{format_count(r.activation_bytes, 'B', binary=True)}; largest op in+out "
            f"{format_count(r.peak_op_bytes, 'B', binary=True)}",
        ),
        ("Assumption", r.assumption),
    ]
    lines.extend(("Note", n) for n in r.notes)
    return lines


def roofline_table(r: Roofline, top: int = 10, *, top_level: bool = False) -> Table:
    """The ``top`` slowest layers: time, compute, memory, bound, FLOPs, bytes, intensity."""
    rows = []
    total = r.time_s or 1.0
    for layer in r.slowest(top, top=top_level):
        rows.append(
            (
                layer.scope or "(root)",
                layer.type,
                _seconds(layer.time_s),
                _seconds(layer.compute_s),
                _seconds(layer.memory_s),
                layer.bound,
                layer.flops,
                layer.bytes,
                f"{layer.intensity:.1f}" if layer.bytes else "-",
                f"{100.0 * layer.time_s / total:.1f}%",
            )
        )
    columns = ("Layer", "Type", "Time", "Compute", "Memory", "Bound", "FLOPs", "Bytes", "FLOP/B", "% time")
    counts = (False, False, False, False, False, False, True, True, False, False)
    return Table(columns, counts, tuple(rows))


def render_roofline_text(r: Roofline, top: int = 10, **_: Any) -> str:
    lines = summary_lines(r)
    width = max(len(label) for label, _ in lines)
    head = [f"{r.model}: roofline"] + [f"  {label.ljust(width)}  {value}" for label, value in lines]
    return "\n".join(head) + "\n\n" + render_table_text(roofline_table(r, top))


def render_roofline_html(r: Roofline, top: int = 10, **_: Any) -> str:
    from .html import STYLE, render_table_html

    notes = "".join(
        f"<p class='fm-note'><b>{html.escape(label)}</b>: {html.escape(value)}</p>" for label, value in summary_lines(r)
    )
    title = f"<h4>{html.escape(r.model)} <small>roofline</small></h4>"
    return f"{STYLE}<div class='flopmagic'>{title}{notes}{render_table_html(roofline_table(r, top))}</div>"


def plot_roofline(r: Roofline, ax: Any = None, *, annotate: int = 5) -> Any:
    """Ops as points: x = FLOPs per byte, y = attainable FLOP/s (the op's FLOPs over its
    roofline time); the roof min(peak, intensity x bandwidth) for the matrix and vector
    peaks. Point area ~ the op's time. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    points = [op for op in r.ops if op.flops > 0 and op.bytes > 0]
    if points:
        xs = [op.intensity for op in points]
        ys = [op.flops / op.time_s for op in points]
        longest = max(op.time_s for op in points)
        sizes = [8 + 120 * op.time_s / longest for op in points]
        colors = ["#4c78a8" if op.bound == "compute" else "#e45756" for op in points]
        ax.scatter(xs, ys, s=sizes, c=colors, alpha=0.6, linewidths=0)
        for op in sorted(points, key=lambda o: -o.time_s)[:annotate]:
            ax.annotate(op.name, (op.intensity, op.flops / op.time_s), fontsize=7, alpha=0.8)
        lo, hi = min(xs) / 2, max(xs) * 2
    else:
        lo, hi = 0.1, 1000.0
    ridge = r.peak_flops / r.bandwidth
    lo, hi = min(lo, ridge / 10), max(hi, ridge * 10)
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(grid, [min(r.peak_flops, x * r.bandwidth) for x in grid], color="black", lw=1.5, label="matrix roof")
    ax.plot(
        grid,
        [min(r.vector_peak_flops, x * r.bandwidth) for x in grid],
        color="gray",
        lw=1,
        ls="--",
        label="vector roof",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title(f"{r.model} on {r.device.name} ({r.dtype}); blue: compute-bound, red: memory-bound", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return ax
