"""Aggregations of op records: by op type, by native op, by scope at any depth, per layer.

Pure functions over the schema; rows keep first-seen order (execution order), so
renderers decide how to sort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .formulas import Shape

if TYPE_CHECKING:  # pure functions of the records: the schema imports this module, not the reverse
    from .receptive_field import ReceptiveField
    from .schema import LayerInfo, OpRecord, Phase

__all__ = ["Row", "by_layer", "by_native_op", "by_op_type", "by_scope", "truncate_scope"]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of an aggregated table.

    ``params`` is parameters read (op tables) or parameters owned (scope/layer
    tables); ``calls`` how many op calls (op tables) or module calls (layer tables).
    ``receptive_field``: the layer's output field, when asked for (layer tables).
    """

    key: str
    macs: int
    flops: int
    params: int = 0
    calls: int = 0
    type: str = ""
    output_shapes: tuple[Shape, ...] = ()
    unsupported: int = 0
    receptive_field: ReceptiveField | None = None

    def to_dict(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.receptive_field is not None:
            extra["receptive_field"] = self.receptive_field.to_dict()
        return extra | {
            "key": self.key,
            "type": self.type,
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "calls": self.calls,
            "output_shapes": [list(s) for s in self.output_shapes],
            "unsupported": self.unsupported,
        }


class _Acc:
    __slots__ = ("calls", "flops", "macs", "params", "unsupported")

    def __init__(self) -> None:
        self.macs = self.flops = self.params = self.calls = self.unsupported = 0

    def add(self, record: OpRecord, *, params: bool) -> None:
        self.macs += record.macs
        self.flops += record.flops
        self.calls += record.count
        if params:
            self.params += record.params
        if record.method == "unsupported":
            self.unsupported += record.count


def _group(records: Iterable[OpRecord], key: Callable[[OpRecord], str], *, params: bool) -> dict[str, _Acc]:
    groups: dict[str, _Acc] = {}
    for record in records:
        k = key(record)
        acc = groups.get(k)
        if acc is None:
            acc = groups[k] = _Acc()
        acc.add(record, params=params)
    return groups


def by_op_type(records: Iterable[OpRecord], *, phase: Phase | None = None) -> list[Row]:
    """One row per canonical op type (unsupported ops by their native name)."""
    selected = (r for r in records if phase is None or r.phase == phase)
    groups = _group(selected, lambda r: r.op, params=True)
    return [Row(k, a.macs, a.flops, a.params, a.calls, unsupported=a.unsupported) for k, a in groups.items()]


def by_native_op(records: Iterable[OpRecord]) -> list[Row]:
    """One row per framework op name (``aten.convolution.default``, ``Conv2D``, ``Conv``)."""
    groups = _group(records, lambda r: r.native, params=True)
    return [Row(k, a.macs, a.flops, a.params, a.calls, unsupported=a.unsupported) for k, a in groups.items()]


def truncate_scope(scope: str, depth: int | None) -> str:
    """``truncate_scope("layer1.0.conv1", 1) == "layer1"``; depth None keeps it whole."""
    if depth is None or scope == "":
        return scope
    return ".".join(scope.split(".")[:depth])


def _prefixes(scope: str, depth: int | None) -> list[str]:
    """ "" and each ancestor path of ``scope`` down to ``depth`` components."""
    if scope == "":
        return [""]
    parts = scope.split(".")
    limit = len(parts) if depth is None else min(depth, len(parts))
    return [""] + [".".join(parts[:i]) for i in range(1, limit + 1)]


def _with_fields(rows: list[Row], records: Sequence[OpRecord], *, cumulative: bool) -> list[Row]:
    from .receptive_field import receptive_fields_by_scope  # the schema imports this module: import on use

    fields = receptive_fields_by_scope(records, cumulative=cumulative)
    return [replace(row, receptive_field=fields.get(row.key)) for row in rows]


def by_scope(
    records: Sequence[OpRecord],
    layers: Sequence[LayerInfo],
    depth: int | None = None,
    *,
    receptive_field: bool = False,
) -> list[Row]:
    """Cumulative rows per module path down to ``depth`` (None: every depth).

    Each row includes everything below it; the first row, key ``""``, is the
    whole model. Layers that ran no ops still get a row, in execution order.
    ``receptive_field``: each row carries the field of the last op below it
    (:mod:`flopmagic.receptive_field`).
    """
    groups: dict[str, _Acc] = {"": _Acc()}
    for layer in layers:
        for prefix in _prefixes(layer.scope, depth):
            groups.setdefault(prefix, _Acc())
    for record in records:
        for prefix in _prefixes(record.scope, depth):
            acc = groups.get(prefix)
            if acc is None:
                acc = groups[prefix] = _Acc()
            acc.add(record, params=False)
    owned: dict[str, int] = dict.fromkeys(groups, 0)
    for layer in layers:
        for prefix in _prefixes(layer.scope, None):
            if prefix in owned:
                owned[prefix] += layer.params
    info = {layer.scope: layer for layer in layers}
    rows = []
    for key, acc in groups.items():
        found = info.get(key)
        rows.append(
            Row(
                key,
                acc.macs,
                acc.flops,
                owned[key],
                found.calls if found else acc.calls,
                found.type if found else "",
                found.output_shapes if found else (),
                acc.unsupported,
            )
        )
    return _with_fields(rows, records, cumulative=True) if receptive_field else rows


def by_layer(records: Sequence[OpRecord], layers: Sequence[LayerInfo], *, receptive_field: bool = False) -> list[Row]:
    """One row per layer with the ops it ran itself (not its children's), its
    type, output shapes, own parameters and call count; with ``receptive_field``,
    the field of its last op's output (:mod:`flopmagic.receptive_field`)."""
    groups = _group(records, lambda r: r.scope, params=False)
    rows = []
    seen: set[str] = set()
    for layer in layers:
        acc = groups.get(layer.scope) or _Acc()
        seen.add(layer.scope)
        rows.append(
            Row(
                layer.scope,
                acc.macs,
                acc.flops,
                layer.params,
                layer.calls,
                layer.type,
                layer.output_shapes,
                acc.unsupported,
            )
        )
    for scope, acc in groups.items():
        if scope not in seen:
            rows.append(Row(scope, acc.macs, acc.flops, 0, acc.calls, unsupported=acc.unsupported))
    return _with_fields(rows, records, cumulative=False) if receptive_field else rows
