"""The registry behind the formula library.

A formula is a pure function of an :class:`OpSpec` (canonical op name, tensor
shapes in the canonical layout, attributes) returning a :class:`Cost`. It never
sees a framework object, so PyTorch, TensorFlow and ONNX price the same op with
the same code. ``@formula("conv")`` registers one; registering a name twice is an
error, so there is exactly one price per canonical op.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from ..errors import FlopmagicError

__all__ = [
    "CATEGORIES",
    "AttrValue",
    "Category",
    "Cost",
    "Formula",
    "FormulaEntry",
    "OpSpec",
    "Shape",
    "UnknownOpError",
    "find_formula",
    "formula",
    "formulas",
    "get_formula",
    "numel",
    "price",
]

Shape: TypeAlias = tuple[int, ...]
AttrValue: TypeAlias = bool | int | float | str | tuple["AttrValue", ...] | None

Category = Literal[
    "contraction",  # dot-product work: convolution, matmul, einsum (the MACs)
    "attention",  # fused attention kernels: their matmuls are MACs, softmax is FLOPs
    "recurrent",  # RNN/LSTM/GRU layers: gate matmuls are MACs
    "normalization",
    "activation",
    "elementwise",
    "reduction",
    "pooling",
    "resize",
    "embedding",
    "movement",  # views, copies, tensor creation: zero arithmetic
    "backward",  # gradient kernels with no forward counterpart of the same shape
]
CATEGORIES: tuple[Category, ...] = (
    "contraction",
    "attention",
    "recurrent",
    "normalization",
    "activation",
    "elementwise",
    "reduction",
    "pooling",
    "resize",
    "embedding",
    "movement",
    "backward",
)


def numel(shape: Shape) -> int:
    """Number of elements of a tensor of this shape (1 for a scalar)."""
    total = 1
    for dim in shape:
        total *= dim
    return total


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One operator call as the formulas see it.

    ``inputs`` and ``outputs`` are shapes in the canonical (PyTorch, channels-first)
    layout, in the order each formula's docstring states; absent optional tensors
    are described by attributes (``bias=False``), never by placeholders.
    """

    op: str
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    def attr(self, name: str, default: AttrValue = None) -> AttrValue:
        return self.attrs.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        return bool(self.attrs.get(name, default))

    def int_attr(self, name: str, default: int) -> int:
        value = self.attrs.get(name, default)
        if not isinstance(value, (int, float)):
            raise TypeError(f"{self.op}: attribute {name!r} must be a number, got {value!r}")
        return int(value)

    def with_attrs(self, **attrs: AttrValue) -> OpSpec:
        return OpSpec(self.op, self.inputs, self.outputs, {**self.attrs, **attrs})


@dataclass(frozen=True, slots=True)
class Cost:
    """What one op costs.

    ``macs`` are multiply-accumulates of dot products (convolution, matmul,
    attention, recurrent gates) and nothing else. ``flops`` counts every
    floating-point operation: 2 per MAC (a multiply and an add) plus all
    elementwise work. ``bias_flops`` is the part of ``flops`` spent adding a bias
    fused into a contraction (some tools count it, some do not). ``chains`` is the
    number of dot products: a dot product of length K is K multiplies and K-1
    adds, so the strict count is ``flops - chains``.
    """

    macs: int = 0
    flops: int = 0
    bias_flops: int = 0
    chains: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.macs + other.macs,
            self.flops + other.flops,
            self.bias_flops + other.bias_flops,
            self.chains + other.chains,
        )

    def times(self, factor: int) -> Cost:
        """The cost of running this op ``factor`` times (loop iterations, timesteps)."""
        return Cost(self.macs * factor, self.flops * factor, self.bias_flops * factor, self.chains * factor)

    @staticmethod
    def elementwise(flops: int) -> Cost:
        """Elementwise work: FLOPs with no MACs."""
        return Cost(flops=flops)

    @staticmethod
    def contraction(macs: int, *, chains: int, bias_flops: int = 0, extra_flops: int = 0) -> Cost:
        """Dot-product work: 2 FLOPs per MAC, plus fused bias adds and any extra FLOPs."""
        return Cost(macs=macs, flops=2 * macs + bias_flops + extra_flops, bias_flops=bias_flops, chains=chains)


Formula: TypeAlias = Callable[[OpSpec], Cost]


@dataclass(frozen=True, slots=True)
class FormulaEntry:
    """A registered formula with what the docs and conventions need to know of it."""

    op: str
    fn: Formula
    category: Category
    zero_cost: bool

    @property
    def summary(self) -> str:
        """The first line of the formula's docstring: what it counts and why."""
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""


_REGISTRY: dict[str, FormulaEntry] = {}


class UnknownOpError(FlopmagicError, KeyError):
    """No formula is registered for a canonical op name."""


def formula(*ops: str, category: Category, zero_cost: bool = False) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula of each canonical op in ``ops``.

    Raises:
        ValueError: an op already has a formula (one op, one price).
    """

    def register(fn: Formula) -> Formula:
        for op in ops:
            if op in _REGISTRY:
                raise ValueError(
                    f"duplicate formula for op {op!r}: {_REGISTRY[op].fn.__qualname__} "
                    f"already prices it, {fn.__qualname__} cannot"
                )
            _REGISTRY[op] = FormulaEntry(op=op, fn=fn, category=category, zero_cost=zero_cost)
        return fn

    return register


def get_formula(op: str) -> FormulaEntry:
    try:
        return _REGISTRY[op]
    except KeyError:
        raise UnknownOpError(f"no formula is registered for canonical op {op!r}") from None


def formulas() -> Iterator[FormulaEntry]:
    """All registered formulas, in registration order."""
    return iter(tuple(_REGISTRY.values()))


def registered_ops() -> Mapping[str, FormulaEntry]:
    """A copy of the registry (op -> entry). For lookups on a hot path use :func:`find_formula`."""
    return dict(_REGISTRY)


def find_formula(op: str) -> FormulaEntry | None:
    """The entry for ``op``, or None: a lookup without copying the registry."""
    return _REGISTRY.get(op)


def price(spec: OpSpec) -> Cost:
    """Price one op with its registered formula."""
    return get_formula(spec.op).fn(spec)
