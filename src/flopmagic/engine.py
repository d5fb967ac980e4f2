"""The engine: observed ops -> priced records -> one :class:`ModelProfile`.

Adapters translate what a framework ran into observed ops (a canonical
:class:`~flopmagic.formulas.OpSpec`, or none when the op has no translation, with its
scope, the parameters it read and how often it ran). The engine prices each op the
one way (:func:`flopmagic.pricing.make_record`: a formula, zero-cost, unsupported, or
a user override; a matmul that reads a weight is a ``linear``), names the records,
and assembles the profile with its unsupported-op report. Every adapter and peer
backend builds its profile here, so a profile's provenance, notes and totals are
put together the same way whatever the framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .formulas import OpSpec, Shape
from .pricing import NameCounter, Override, PricedSpec, price_one, record_priced
from .schema import LayerInfo, ModelProfile, OpRecord, Phase, TensorInfo

__all__ = ["Observed", "ObservedOp", "assemble", "price_ops", "profile_ops", "unsupported_note"]


@dataclass(frozen=True, slots=True)
class ObservedOp:
    """One op as an adapter saw it run, before pricing.

    ``spec`` is the canonical op (None: no translation, recorded unsupported with the
    native ``inputs``/``outputs`` shapes); ``params`` the parameter elements it read;
    ``floating`` whether it computed on floating-point values (integer arithmetic is
    bookkeeping); ``count`` how many identical calls it stands for (loop iterations).
    ``name`` is given by graph formats whose nodes have names; else ``scope/native``.
    """

    native: str
    spec: OpSpec | None
    scope: str = ""
    module_type: str = ""
    params: int = 0
    phase: Phase = "forward"
    floating: bool = True
    count: int = 1
    note: str = ""
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    name: str = ""
    within: str = ""


class Observed(Protocol):
    """What the engine reads of an observed op: :class:`ObservedOp`, or an adapter's own
    record with the same fields (the PyTorch recorder's ``RawCall``; ``count`` and ``name``
    are optional there: 1 and unnamed)."""

    @property
    def native(self) -> str: ...
    @property
    def spec(self) -> OpSpec | None: ...
    @property
    def scope(self) -> str: ...
    @property
    def module_type(self) -> str: ...
    @property
    def params(self) -> int: ...
    @property
    def phase(self) -> Phase: ...
    @property
    def floating(self) -> bool: ...
    @property
    def inputs(self) -> tuple[Shape, ...]: ...
    @property
    def outputs(self) -> tuple[Shape, ...]: ...
    @property
    def note(self) -> str: ...
    @property
    def within(self) -> str: ...


# native op -> (the short name records are named by, extra names an override may use)
Naming = Callable[[str], tuple[str, tuple[str, ...]]]


def price_ops(
    ops: Iterable[Observed],
    *,
    overrides: Mapping[str, Override] | None = None,
    cache: dict[tuple[int, bool, bool], PricedSpec] | None = None,
    naming: Naming | None = None,
    module_classes: Mapping[str, str] | None = None,
) -> list[OpRecord]:
    """Price observed ops in order. Unnamed ones are named ``scope/short`` (``#2`` on
    repeats), ``short`` being the native name unless ``naming`` says otherwise; it is
    asked once per native op (PyTorch: ``aten.convolution.default`` is named
    ``convolution`` and may be overridden as ``aten.convolution``). ``module_classes``:
    each scope's fully qualified module class, copied onto its records."""
    classes = module_classes or {}
    namer = NameCounter()
    known: dict[str, tuple[str, tuple[str, ...]]] = {}
    # which kinds of observed op carry their own ``name`` / ``count`` (asked once per class:
    # a getattr that misses costs an exception per op)
    kinds: dict[type, tuple[bool, bool]] = {}
    records: list[OpRecord] = []
    append = records.append
    for op in ops:
        names = known.get(op.native)
        if names is None:
            names = known[op.native] = naming(op.native) if naming is not None else (op.native, ())
        kind = kinds.get(type(op))
        if kind is None:
            kind = kinds[type(op)] = (hasattr(op, "name"), hasattr(op, "count"))
        extra: Any = op
        spec = op.spec
        name = (kind[0] and extra.name) or namer(op.scope, names[0])
        count = extra.count if kind[1] else 1
        module_class = classes.get(op.scope, "") if classes else ""
        if spec is not None and cache is not None and not overrides:
            # a spec priced before (price_one's cache slot): only this op's record is new
            params = op.params
            priced = cache.get((id(spec), op.floating, params > 0 and spec.op == "matmul"))
            if priced is not None and priced[2] is not None:
                record = record_priced(
                    priced, name, op.native, op.scope, op.module_type, params, op.phase, count, op.note, module_class,
                    op.within,
                )  # fmt: skip
                append(record)
                continue
        append(
            price_one(
                op.native,
                spec,
                op.scope,
                op.inputs,
                op.outputs,
                op.module_type,
                op.params,
                op.phase,
                op.floating,
                count,
                op.note,
                overrides,
                names[1],
                name,
                cache,
                module_class,
                op.within,
            )
        )
    return records


def unsupported_note(records: Iterable[OpRecord]) -> str | None:
    """The report of native ops without a formula (they count 0), or None when every op is priced."""
    unsupported = sorted({r.native for r in records if r.method == "unsupported"})
    if not unsupported:
        return None
    return f"{len(unsupported)} op type(s) have no formula and count 0: " + ", ".join(unsupported)


def assemble(
    *,
    model: str,
    framework: str,
    records: Sequence[OpRecord],
    params: int,
    backend: str = "flopmagic",
    convention: str = "flopmagic",
    layers: Iterable[LayerInfo] = (),
    inputs: Iterable[TensorInfo] = (),
    param_bytes: Mapping[str, int] | None = None,
    param_counts: Mapping[str, int] | None = None,
    versions: Mapping[str, str] | None = None,
    notes: Iterable[str] = (),
    notes_after: Iterable[str] = (),
    training: bool = False,
) -> ModelProfile:
    """The profile of one model run: ``notes``, then the unsupported-op report (for the
    exact counter's records), then ``notes_after``."""
    report = unsupported_note(records) if backend == "flopmagic" else None
    return ModelProfile(
        model=model,
        framework=framework,
        backend=backend,
        convention=convention,
        records=tuple(records),
        params=params,
        layers=tuple(layers),
        inputs=tuple(inputs),
        param_bytes=dict(param_bytes or {}),
        param_counts=dict(param_counts or {}),
        versions=dict(versions or {}),
        notes=(*notes, *([report] if report else []), *notes_after),
        training=training,
    )


def profile_ops(
    ops: Iterable[Observed],
    *,
    overrides: Mapping[str, Override] | None = None,
    naming: Naming | None = None,
    **profile: Any,
) -> ModelProfile:
    """Observed ops to a profile in one call: :func:`price_ops`, then :func:`assemble`
    with ``profile`` (``model``, ``framework``, ``params``, ``layers``, ...). What a new
    adapter needs; see the toy adapter in docs/adding-an-adapter.md."""
    return assemble(records=price_ops(ops, overrides=overrides, cache={}, naming=naming), **profile)
