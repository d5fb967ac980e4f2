"""TensorFlow's own counter as a backend: ``tf.compat.v1.profiler`` with ``float_operation()``.

It reports FLOPs (2 per MAC) per op type. It runs on the traced graph: freezing
(turning every variable into a constant) gives the same counts -- the profiler
reads shapes, not values; tests/test_tensorflow.py checks it -- and takes 30 s
for VGG16's 138M weights. Ops without registered statistics (Relu, Sigmoid,
Tanh, FusedBatchNorm, Einsum, resizing) count 0 there; the profile says which
of them this model has, and by how much flopmagic's own count differs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..adapters.tensorflow.contractions import CONTRACTIONS
from ..schema import ModelProfile, OpRecord
from ..units import format_count

__all__ = ["profile_with_tf_profiler", "profiler_counts"]


def profiler_counts(graph: Any) -> dict[str, int]:
    """FLOPs per op type from ``tf.compat.v1.profiler`` (float_operation, op view)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = (
        option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
        .with_empty_output()
        .build()
    )
    stats = model_analyzer.profile(graph, cmd="op", options=options)
    counts: dict[str, int] = {}
    pending = list(stats.children)
    while pending:  # the op view is a chain: each node holds its own float_ops
        node = pending.pop()
        if node.float_ops:
            counts[node.name] = counts.get(node.name, 0) + int(node.float_ops)
        pending.extend(node.children)
    return counts


def profile_with_tf_profiler(concrete: Any, base: ModelProfile) -> ModelProfile:
    """Normalise the profiler's per-op-type FLOPs into the schema; ``base`` is
    flopmagic's own profile of the same graph (for params, inputs and the explanation)."""
    counts = profiler_counts(concrete.graph)
    records = [
        OpRecord(
            name=f"(graph)/{op_type}",
            op=op_type,
            native=f"tf-profiler:{op_type}",
            scope="",
            macs=flops // 2 if op_type in CONTRACTIONS else 0,
            flops=flops,
            method="native",
        )
        for op_type, flops in sorted(counts.items(), key=lambda item: -item[1])
    ]
    skipped: dict[str, int] = {}
    for record in base.records:
        if record.flops and record.native not in counts and record.method == "formula":
            skipped[record.native] = skipped.get(record.native, 0) + record.flops
    total = sum(counts.values())
    notes = [
        "TensorFlow's profiler counts FLOPs (2 per MAC), BiasAdd and registered elementwise ops; "
        "ops without registered statistics count 0.",
        f"flopmagic's own count of this graph is {format_count(base.flops, 'FLOPs')}; the profiler's is {format_count(total, 'FLOPs')}.",
    ]
    if skipped:
        listed = ", ".join(
            f"{op} {format_count(f, 'FLOPs')}" for op, f in sorted(skipped.items(), key=lambda item: -item[1])
        )
        notes.append(f"Not counted by the profiler (no registered statistics): {listed}")
    return replace(
        base, backend="tf-profiler", convention="tf-profiler", records=tuple(records), layers=(), notes=tuple(notes)
    )
