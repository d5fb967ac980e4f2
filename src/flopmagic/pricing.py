"""Turn an adapter's translated op into an :class:`OpRecord`: the compute layer.

Every adapter (PyTorch, TensorFlow, ONNX) ends here, so the method of counting
(formula, zero-cost, unsupported, override) is decided the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .formulas import Cost, FormulaEntry, OpSpec, Shape, find_formula
from .schema import Method, OpRecord, Phase

__all__ = ["NameCounter", "Override", "make_record"]

Override = Callable[[OpSpec], Cost]

# Categories whose work on integer or boolean tensors is bookkeeping, not FLOPs.
_NUMERIC = frozenset({"elementwise", "activation", "reduction"})


def make_record(
    *,
    native: str,
    spec: OpSpec | None,
    scope: str,
    inputs: tuple[Shape, ...] = (),
    outputs: tuple[Shape, ...] = (),
    module_type: str = "",
    params: int = 0,
    phase: Phase = "forward",
    floating: bool = True,
    count: int = 1,
    note: str = "",
    overrides: Mapping[str, Override] | None = None,
    override_keys: Iterable[str] = (),
    name: str = "",
) -> OpRecord:
    """Price one op. ``spec=None`` means the adapter has no translation: the op is
    recorded as unsupported (0, listed in the report) unless an override prices it.
    ``override_keys`` are extra names an override may be registered under (e.g. the
    aten packet ``aten.sort`` for ``aten.sort.default``)."""

    def record(
        shown: OpSpec, cost: Cost, method: Method, why: str = note, found: FormulaEntry | None = None
    ) -> OpRecord:
        # A view or copy touches a weight without computing with it: no params read.
        moved = found is not None and found.category == "movement"
        return OpRecord(
            name=name,
            op=shown.op,
            native=native,
            scope=scope,
            macs=cost.macs,
            flops=cost.flops,
            method=method,
            module_type=module_type,
            inputs=shown.inputs,
            outputs=shown.outputs,
            attrs=shown.attrs,
            params=0 if moved else params,
            phase=phase,
            count=count,
            note=why,
        )

    if overrides:
        keys = [native, *override_keys] + ([spec.op] if spec is not None else [])
        for key in keys:
            override = overrides.get(key)
            if override is not None:
                shown = spec or OpSpec(native, inputs, outputs)
                return record(shown, override(shown).times(count), "override", found=find_formula(shown.op))
    entry = find_formula(spec.op) if spec is not None else None
    if spec is None or entry is None:
        why = note or "no formula for this op: its cost is not counted"
        return record(OpSpec(native, inputs, outputs), Cost(), "unsupported", why)
    if not floating and entry.category in _NUMERIC:
        spec = OpSpec("integer", spec.inputs, spec.outputs, {"fn": spec.op})
        entry = find_formula("integer")
        assert entry is not None
    cost = entry.fn(spec)
    return record(
        spec, cost if count == 1 else cost.times(count), "zero-cost" if entry.zero_cost else "formula", found=entry
    )


class NameCounter:
    """Names ``scope/op``, numbering repeats (``scope/op#2``)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, scope: str, op: str) -> str:
        stem = f"{scope or '(root)'}/{op}"
        n = self.seen.get(stem, 0) + 1
        self.seen[stem] = n
        return stem if n == 1 else f"{stem}#{n}"
