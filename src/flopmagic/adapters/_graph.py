"""Control flow the graph walkers share (ONNX's ``If``/``Loop``/``Scan``, TensorFlow's
``If``/``StatelessIf``/``While``/``StatelessWhile``).

A branch that is decided at run time is counted by its costlier side: both sides are
walked, the cheaper side's records are dropped, and the profile says it is an upper
bound. A loop's body is walked once with its records multiplied by the trip count: a
bound of 0 or less means the body never runs (ONNX ``Loop``'s ``M``, TensorFlow's
``maximum_iterations``); a trip count that is not static counts the body once and the
profile says so. Never a silent guess, never a negative count. The walkers resolve
what is format-specific (which input bounds the loop, a Scan's sequence length) and
name the node in the notes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ProfilingError

if TYPE_CHECKING:
    from ..schema import OpRecord

__all__ = ["constant_trip_count", "keep_costlier_branch", "walk_repeated_body"]


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


def constant_trip_count(value: Any) -> int | None:
    """The trip count a constant bound gives a loop (``value``: a numpy array, or None when
    the bound is not a constant): its one element, 0 when that is 0 or negative (the body
    never runs); None when it is not a one-element constant (not static)."""
    if value is None or value.size != 1:
        return None
    return max(int(value.reshape(-1)[0]), 0)


def walk_repeated_body(
    notes: list[str], label: str, trips: int | None, how: str, walk: Callable[[int], None], count: int
) -> None:
    """Walk a loop body once with its records multiplied by ``trips`` (``walk`` gets the
    multiplier: the enclosing ``count`` times the trip count) and note what was counted.

    ``trips`` None (not static): the body is counted once and a note says why (``how``);
    the counts are then per iteration. A negative ``trips`` is a walker's bug, not a model's.
    """
    if trips is not None and trips < 0:
        raise ProfilingError(f"{label}: negative trip count {trips}: resolve bounds with constant_trip_count")
    if trips is None:
        notes.append(
            f"{label}: trip count not static ({how}); assumed to run its body once (the counts are per iteration)"
        )
    walk(count * (1 if trips is None else trips))
    if trips is not None:
        notes.append(f"{label}: body counted {trips} times ({how})")
