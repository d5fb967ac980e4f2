"""Turn an adapter's translated op into an :class:`OpRecord`: the compute layer.

Every adapter (PyTorch, TensorFlow, ONNX) ends here, so the method of counting
(formula, zero-cost, unsupported, override) is decided the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .formulas import Cost, FormulaEntry, OpSpec, Shape, find_formula
from .schema import Method, OpRecord, Phase

__all__ = ["NameCounter", "Override", "make_record", "price_one", "record_priced"]

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
    cache: dict[tuple[int, bool, bool], PricedSpec] | None = None,
    module_class: str = "",
    within: str = "",
) -> OpRecord:
    """Price one op. ``spec=None`` means the adapter has no translation: the op is
    recorded as unsupported (0, listed in the report) unless an override prices it.
    ``override_keys`` are extra names an override may be registered under (e.g. the
    aten packet ``aten.sort`` for ``aten.sort.default``). ``cache``: a dict the caller
    keeps for one model, so that a spec object used for many ops (a graph walk
    translates identical nodes once) is priced once; it holds the spec it keys on.

    A ``matmul`` that reads parameters (a weight operand) is recorded as ``linear``,
    the same arithmetic: this is the one place that says so, for every adapter."""
    return price_one(
        native,
        spec,
        scope,
        inputs,
        outputs,
        module_type,
        params,
        phase,
        floating,
        count,
        note,
        overrides,
        override_keys,
        name,
        cache,
        module_class,
        within,
    )


def price_one(
    native: str,
    spec: OpSpec | None,
    scope: str,
    inputs: tuple[Shape, ...],
    outputs: tuple[Shape, ...],
    module_type: str,
    params: int,
    phase: Phase,
    floating: bool,
    count: int,
    note: str,
    overrides: Mapping[str, Override] | None,
    override_keys: Iterable[str],
    name: str,
    cache: dict[tuple[int, bool, bool], PricedSpec] | None,
    module_class: str,
    within: str,
) -> OpRecord:
    """:func:`make_record` with positional arguments, for loops over many ops."""
    weighted = spec is not None and params > 0 and spec.op == "matmul"
    if overrides:
        shown_spec = _as_linear(spec) if weighted and spec is not None else spec
        keys = [native, *override_keys] + ([shown_spec.op] if shown_spec is not None else [])
        for key in keys:
            override = overrides.get(key)
            if override is not None:
                shown = shown_spec or OpSpec(native, inputs, outputs)
                cost = override(shown).times(count)
                return _record(name, native, scope, module_type, params, phase, count, module_class, within,
                               shown, cost, "override", note, find_formula(shown.op))  # fmt: skip
    priced: PricedSpec | None = None
    if spec is not None:
        slot = (id(spec), floating, weighted)
        priced = cache.get(slot) if cache is not None else None
        if priced is None:
            priced = _price(_as_linear(spec) if weighted else spec, floating, spec)
            if cache is not None:
                cache[slot] = priced
    if priced is None or priced[2] is None:  # no translation, or a canonical op without a formula
        why = note or "no formula for this op: its cost is not counted"
        return _record(name, native, scope, module_type, params, phase, count, module_class, within,
                       OpSpec(native, inputs, outputs), Cost(), "unsupported", why, None)  # fmt: skip
    return record_priced(priced, name, native, scope, module_type, params, phase, count, note, module_class, within)


def record_priced(
    priced: PricedSpec,
    name: str,
    native: str,
    scope: str,
    module_type: str,
    params: int,
    phase: Phase,
    count: int,
    note: str,
    module_class: str,
    within: str,
) -> OpRecord:
    """The record of an op whose spec :func:`price_one` priced (one with a formula): a
    loop over many ops calls this directly when the spec is in its cache."""
    _, shown, entry, cost = priced
    assert entry is not None  # a spec without a formula is recorded as unsupported, not here
    return _record(name, native, scope, module_type, params, phase, count, module_class, within,
                   shown, cost if count == 1 else cost.times(count),
                   "zero-cost" if entry.zero_cost else "formula", note, entry)  # fmt: skip


def _record(
    name: str,
    native: str,
    scope: str,
    module_type: str,
    params: int,
    phase: Phase,
    count: int,
    module_class: str,
    within: str,
    shown: OpSpec,
    cost: Cost,
    method: Method,
    note: str,
    found: FormulaEntry | None,
) -> OpRecord:
    # A view or copy touches a weight without computing with it: no params read.
    moved = found is not None and found.category == "movement"
    # positional, in OpRecord's field order (tests/test_schema.py holds the order): this runs
    # once per op, and keywords cost a third more
    return OpRecord(
        name,
        shown.op,
        native,
        scope,
        cost.macs,
        cost.flops,
        method,
        module_type,
        shown.inputs,
        shown.outputs,
        shown.attrs,
        0 if moved else params,
        phase,
        count,
        note,
        module_class,
        within,
    )


def _as_linear(spec: OpSpec) -> OpSpec:
    return OpSpec("linear", spec.inputs, spec.outputs, spec.attrs)


# (the spec observed: the cache's key is its id; the spec shown, its formula or None,
# the cost of one call)
PricedSpec = tuple[OpSpec, OpSpec, FormulaEntry | None, Cost]


def _price(spec: OpSpec, floating: bool, observed: OpSpec) -> PricedSpec:
    entry = find_formula(spec.op)
    if entry is None:
        return observed, spec, None, Cost()
    shown = spec
    if not floating and entry.category in _NUMERIC:
        shown = OpSpec("integer", spec.inputs, spec.outputs, {"fn": spec.op})
        entry = find_formula("integer")
        assert entry is not None
    return observed, shown, entry, entry.fn(shown)


class NameCounter:
    """Names ``scope/op``, numbering repeats (``scope/op#2``)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, scope: str, op: str) -> str:
        stem = f"{scope or '(root)'}/{op}"
        n = self.seen.get(stem, 0) + 1
        self.seen[stem] = n
        return stem if n == 1 else f"{stem}#{n}"
