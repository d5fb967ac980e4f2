"""Control flow the graph walkers share (TensorFlow's ``If``/``StatelessIf``, ONNX's ``If``).

A branch that is decided at run time is counted by its costlier side: both sides are
walked, the cheaper side's records are dropped, and the profile says it is an upper
bound. The walkers keep their own notes (names and scopes differ by format).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..schema import OpRecord

__all__ = ["keep_costlier_branch"]


def keep_costlier_branch(
    records: list[OpRecord], branches: Sequence[tuple[str, Callable[[], None]]]
) -> tuple[str, int, int]:
    """Walk each branch (each call appends its records to ``records``), keep the one with
    the most FLOPs (the first on a tie) and drop the others' records.

    Returns the kept branch's label, its FLOPs and the most FLOPs among the dropped ones.
    """
    spans = []
    for label, walk in branches:
        start = len(records)
        walk()
        spans.append((sum(r.flops for r in records[start:]), start, len(records), label))
    kept = max(spans, key=lambda span: span[0])  # max keeps the first of equals: then before else
    for _, start, end, _ in reversed(spans):
        if (start, end) != (kept[1], kept[2]):
            del records[start:end]
    dropped = max((s[0] for s in spans if s is not kept), default=0)
    return kept[3], kept[0], dropped
