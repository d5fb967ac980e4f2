"""Views of a profile as tables: the one place that decides columns and rows.

Text, Markdown, CSV and HTML renderers all draw these tables, so every output
shows the same numbers. Cells keep raw values (ints, shapes); renderers format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from ..aggregate import Row
from ..conventions import get_convention
from ..formulas import Shape

if TYPE_CHECKING:  # renderers draw results; they never depend on them at run time
    from ..schema import ModelProfile

__all__ = [
    "COMPACT_ROWS",
    "Cell",
    "Table",
    "Unit",
    "View",
    "compact_table",
    "headline",
    "profile_table",
    "shape_text",
    "totals_lines",
]

View = Literal["layer", "type", "op"]
Unit = Literal["macs", "flops", "both"]
Cell: TypeAlias = str | int | float

VIEWS: tuple[View, ...] = ("layer", "type", "op")
UNITS: tuple[Unit, ...] = ("macs", "flops", "both")


@dataclass(frozen=True, slots=True)
class Table:
    """Column names, which columns are counts (formatted with SI prefixes), rows."""

    columns: tuple[str, ...]
    counts: tuple[bool, ...]
    rows: tuple[tuple[Cell, ...], ...]
    footnotes: tuple[str, ...] = ()


def shape_text(shapes: Sequence[Shape]) -> str:
    """``[(1, 64, 56, 56)]`` -> ``"1x64x56x56"``; several outputs joined by ", "."""
    return ", ".join("x".join(str(d) for d in s) if s else "scalar" for s in shapes)


def _share(value: int, total: int) -> str:
    return f"{100.0 * value / total:.1f}%" if total else "-"


def _quantities(unit: Unit) -> tuple[str, ...]:
    return {"macs": ("macs",), "flops": ("flops",), "both": ("macs", "flops")}[unit]


_HEADERS = {"macs": "MACs", "flops": "FLOPs"}


def profile_table(
    profile: ModelProfile,
    *,
    by: View = "layer",
    depth: int | None = None,
    unit: Unit = "both",
    top: int | None = None,
    receptive_field: bool = False,
) -> Table:
    """A table of ``profile`` per layer, per op type or per native op.

    ``by="layer"`` without ``depth`` lists every layer with the ops it ran itself;
    with ``depth`` it lists module paths cut at that depth, each with everything below.
    ``top`` keeps the rows with the most FLOPs (MACs when ``unit="macs"``).
    ``receptive_field`` (layer views only) adds the ``RF`` and ``Jump`` columns: input
    pixels each output element sees, and between neighbouring outputs ("" where undefined).
    """
    if receptive_field and by != "layer":
        raise ValueError("the receptive field is a per-layer column: use by='layer'")
    if by not in VIEWS:
        raise ValueError(f"unknown view {by!r}; choose one of {', '.join(VIEWS)}")
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; choose one of {', '.join(UNITS)}")
    quantities = _quantities(unit)
    share_of = "macs" if unit == "macs" else "flops"
    totals = profile.totals
    total = getattr(totals, share_of)
    rows: list[Row]
    head: tuple[str, ...]
    counts: tuple[bool, ...]
    if by == "layer":
        rows = (
            profile.by_scope(depth, receptive_field=receptive_field)[1:]
            if depth is not None
            else profile.by_layer(receptive_field=receptive_field)
        )
        head = ("Layer", "Type", "Output shape", "Params") + (("RF", "Jump") if receptive_field else ())
        counts = (False, False, False, True) + ((False, False) if receptive_field else ())

        def lead(r: Row) -> tuple[Cell, ...]:
            cells: tuple[Cell, ...] = (r.key or "(root)", r.type, shape_text(r.output_shapes), r.params)
            if not receptive_field:
                return cells
            field = r.receptive_field
            return cells + ((field.size_value(), field.jump_value()) if field is not None else ("", ""))

    elif by == "type":
        rows = profile.by_op_type()
        head = ("Op type", "Calls", "Params read")
        counts = (False, False, True)

        def lead(r: Row) -> tuple[Cell, ...]:
            return (r.key, r.calls, r.params)

    else:
        rows = profile.by_native_op()
        head = ("Native op", "Calls")
        counts = (False, False)

        def lead(r: Row) -> tuple[Cell, ...]:
            return (r.key, r.calls)

    if by != "layer":
        rows = sorted(rows, key=lambda r: (-getattr(r, share_of), r.key))
    if top is not None:
        rows = sorted(rows, key=lambda r: -getattr(r, share_of))[:top]
    body = tuple(
        lead(r) + tuple(getattr(r, q) for q in quantities) + (_share(getattr(r, share_of), total),) for r in rows
    )
    columns = head + tuple(_HEADERS[q] for q in quantities) + (f"% {_HEADERS[share_of]}",)
    footnotes = []
    unsupported = profile.unsupported()
    if unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
        footnotes.append(f"Unsupported ops (counted as 0, not guessed): {listed}")
    return Table(columns, counts + (True,) * len(quantities) + (False,), body, tuple(footnotes))


COMPACT_ROWS = 30  # the most rows the compact (default) view shows


def _unsupported_footnotes(profile: ModelProfile) -> tuple[str, ...]:
    unsupported = profile.unsupported()
    if not unsupported:
        return ()
    listed = ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items()))
    return (f"Unsupported ops (counted as 0, not guessed): {listed}",)


def compact_table(profile: ModelProfile, *, unit: Unit = "both", max_rows: int = COMPACT_ROWS) -> Table:
    """The default view: the layer tree cut at the deepest depth that fits in ``max_rows``
    rows, each row INCLUSIVE (a stage's row is the stage's cost and parameters).

    When even the first level has more rows (a long flat model), the ``max_rows - 1``
    costliest rows are kept in order and the rest summed in one ``(N more layers)`` row,
    so the rows always add up to the totals."""
    quantities = _quantities(unit)
    share_of = "macs" if unit == "macs" else "flops"
    total = getattr(profile.totals, share_of)
    rows = profile.by_scope(1)[1:]
    depth = 1
    while True:
        deeper = profile.by_scope(depth + 1)[1:]
        if len(deeper) > max_rows or len(deeper) == len(rows):
            break
        rows, depth = deeper, depth + 1
    body: list[tuple[Cell, ...]] = []
    if len(rows) > max_rows:
        ranked = sorted(range(len(rows)), key=lambda i: -getattr(rows[i], share_of))
        kept = sorted(ranked[: max_rows - 1])
        rest = [rows[i] for i in ranked[max_rows - 1 :]]
        shown = [rows[i] for i in kept]
    else:
        shown, rest = rows, []
    for r in shown:
        lead: tuple[Cell, ...] = (r.key or "(root)", r.type, shape_text(r.output_shapes), r.params)
        body.append(lead + tuple(getattr(r, q) for q in quantities) + (_share(getattr(r, share_of), total),))
    first = profile.by_scope(1)
    own = tuple(getattr(first[0], q) - sum(getattr(r, q) for r in first[1:]) for q in quantities)
    if any(own):  # ops of the model itself, outside its layers (functional calls in forward)
        value = getattr(first[0], share_of) - sum(getattr(r, share_of) for r in first[1:])
        root = next((layer for layer in profile.layers if layer.scope == ""), None)
        kind = root.type if root is not None else ""
        if len(first) == 1:  # a model of one layer: its row
            shapes = shape_text(root.output_shapes) if root is not None else ""
            body.append((profile.model, kind, shapes, profile.params, *own, _share(value, total)))
        else:
            body.append(("(own ops)", kind, "", 0, *own, _share(value, total)))
    if rest:
        sums = tuple(sum(getattr(r, q) for r in rest) for q in quantities)
        value = sum(getattr(r, share_of) for r in rest)
        body.append((f"({len(rest)} more layers)", "", "", sum(r.params for r in rest), *sums, _share(value, total)))
    columns = ("Layer", "Type", "Output shape", "Params", *(_HEADERS[q] for q in quantities), f"% {_HEADERS[share_of]}")
    counts = (False, False, False, True, *(True for _ in quantities), False)
    return Table(columns, counts, tuple(body), _unsupported_footnotes(profile))


def headline(profile: ModelProfile) -> list[tuple[str, str]]:
    """The one-line header: MACs, FLOPs, params, parameter memory, convention (its name)."""
    from ..units import format_count

    totals = profile.totals
    memory = ", ".join(
        f"{format_count(b, 'B', binary=True)} {dtype}" for dtype, b in sorted(profile.param_bytes.items())
    )
    parts = [
        ("MACs", f"{format_count(totals.macs, 'MACs')} ({totals.macs:,})"),
        ("FLOPs", f"{format_count(totals.flops, 'FLOPs')} ({totals.flops:,})"),
        ("Params", f"{format_count(totals.params)} ({totals.params:,})"),
    ]
    if memory:
        parts.append(("Memory", memory))
    parts.append(("Convention", profile.convention))
    return parts


def totals_lines(profile: ModelProfile) -> list[tuple[str, str]]:
    """(label, value) pairs for a profile's header: totals, inputs, convention in words."""
    from ..units import format_count

    totals = profile.totals
    convention = get_convention(profile.convention)
    memory = ", ".join(
        f"{format_count(b, 'B', binary=True)} {dtype}" for dtype, b in sorted(profile.param_bytes.items())
    )
    inputs = ", ".join(f"{t.name} {shape_text([t.shape])} {t.dtype}" for t in profile.inputs)
    lines = [
        ("MACs", f"{format_count(totals.macs, 'MACs')} ({totals.macs:,})"),
        ("FLOPs", f"{format_count(totals.flops, 'FLOPs')} ({totals.flops:,})"),
        ("Params", f"{format_count(totals.params)} ({totals.params:,})" + (f"; {memory}" if memory else "")),
    ]
    extra = {k: v for k, v in profile.param_counts.items() if v}
    if extra:
        lines.append(("Weights", ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in extra.items())))
    if inputs:
        lines.append(("Inputs", inputs))
    phases: dict[str, int] = {}
    for record in profile.records:
        phases[record.phase] = phases.get(record.phase, 0) + record.flops
    if set(phases) - {"forward"}:
        lines.append(("Phases", ", ".join(f"{p} {format_count(f, 'FLOPs')}" for p, f in phases.items())))
    mode = "training step (forward + backward)" if profile.training else "inference (forward)"
    lines.append(("Run", f"{profile.framework}, backend {profile.backend}, {mode}"))
    lines.append(("Convention", f"{convention.name}: {convention.description}"))
    lines.extend(("Note", note) for note in profile.notes)
    return lines
