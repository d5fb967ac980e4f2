"""Receptive field and effective stride ("jump") of each op and layer of a convolutional net.

A pure function of a profile's op records (their shapes and the ``kernel``,
``stride`` and ``dilation`` attributes the adapters record for convolutions and
pooling): no model is re-run. Per spatial dimension, an op with kernel ``k``,
stride ``s`` and dilation ``d`` maps the receptive field ``r`` and jump ``j`` of
its input to

    k_eff = d * (k - 1) + 1
    r_out = r_in + (k_eff - 1) * j_in        (j_in: the product of the earlier strides)
    j_out = j_in * s

starting from ``r = j = 1`` at the input of the first convolution or pooling.
VGG-16: the last convolution sees 196 x 196 input pixels, pool5 212 x 212.

Which ops move it:

- ``conv``, ``max_pool``, ``avg_pool``: the recursion above;
- ``conv_transpose`` (stride ``s``): ``r_out = r_in + (ceil(k_eff / s) - 1) * j_in``,
  ``j_out = j_in / s`` (jumps may become fractions);
- ``adaptive_*_pool`` whose output size divides its input size: a pool with
  ``k = s = in / out`` (global pooling: the whole input); other sizes: unknown;
- ``resize``: ``j_out = j_in * in / out``; nearest adds nothing, linear modes one
  input step, bicubic three;
- padding (Keras' ``ZeroPadding2D``, ONNX ``Pad``, ``F.pad``): the same field at the new size;
- every other op keeps the field of the input it shares its spatial size with
  (activations, normalisation, residual adds, concatenation), read as channels-last
  (N, H, W, C) when only that reading is known (TensorFlow's elementwise ops, a
  permuted block); so do views that only split or merge channels (ShuffleNet's
  channel shuffle) and permutations of dimensions; an op that changes
  the spatial size otherwise (not a pure permutation of dimensions) makes that
  size unknown, and ops without spatial dimensions (flatten, linear) have none.

**Branching graphs.** Records carry shapes, not tensor identities, so the walk keeps,
per spatial size, the largest field of any tensor of that size computed so far
(in execution order), and each op reads the one of its input's size. That is
exact for sequential stacks, and for ResNet and DenseNet, whose shortcuts read a
block's input: it is the **maximum over paths** (the main, convolutional path).
Where parallel branches at one size run one after another (Inception), a later
branch starts from an earlier branch's output field, so the figure is an upper
bound. Two tensors of one size with different jumps make that size unknown.
Unknown fields are ``None``, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from .formulas import Shape

if TYPE_CHECKING:  # the schema imports aggregate, which imports this module
    from .schema import OpRecord

__all__ = ["ReceptiveField", "receptive_fields", "receptive_fields_by_scope"]

_POOLS = frozenset({"max_pool", "avg_pool"})
_ADAPTIVE = frozenset({"adaptive_avg_pool", "adaptive_max_pool"})
_RESIZE_TAPS = {"linear": 1, "bilinear": 1, "trilinear": 1, "bicubic": 3}

Size = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ReceptiveField:
    """Input pixels an output element sees (``size``) and input pixels between
    neighbouring output elements (``jump``, the effective stride), per spatial
    dimension (H, W for images)."""

    size: tuple[Fraction, ...]
    jump: tuple[Fraction, ...]

    @property
    def square(self) -> bool:
        return len(set(self.size)) == 1 and len(set(self.jump)) == 1

    def size_value(self) -> int | float | str:
        """One number when every dimension agrees (``212``), else ``"212x100"``."""
        return _value(self.size)

    def jump_value(self) -> int | float | str:
        return _value(self.jump)

    def to_dict(self) -> dict[str, list[int | float]]:
        return {"size": [_number(v) for v in self.size], "jump": [_number(v) for v in self.jump]}

    def __str__(self) -> str:
        return f"{self.size_value()} (jump {self.jump_value()})"


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _value(values: tuple[Fraction, ...]) -> int | float | str:
    if len(set(values)) == 1:
        return _number(values[0])
    return "x".join(str(_number(v)) for v in values)


def _spatial(shape: Shape) -> Size | None:
    return tuple(shape[2:]) if len(shape) >= 3 else None


def _ints(value: object, rank: int) -> tuple[int, ...] | None:
    if isinstance(value, tuple) and len(value) == rank and all(isinstance(v, int) for v in value):
        return tuple(int(v) for v in value if isinstance(v, int))
    return None


class _Walk:
    """The per-size state: the largest field of any tensor of that size so far (None: unknown)."""

    def __init__(self) -> None:
        self.fields: dict[Size, ReceptiveField | None] = {}
        self.latest: tuple[Size, ReceptiveField | None] | None = None  # the last sliding op's output

    def store(self, size: Size, field: ReceptiveField | None, *, sliding: bool = False) -> ReceptiveField | None:
        if sliding:
            self.latest = (size, field)
        """Record an op's output field at its size; returns the op's own field."""
        kept = field
        if size in self.fields:
            old = self.fields[size]
            if old is None or field is None or old.jump != field.jump:
                kept = None
            else:
                kept = ReceptiveField(tuple(max(a, b) for a, b in zip(old.size, field.size)), field.jump)
        self.fields[size] = kept
        return field

    def source(self, record: OpRecord) -> tuple[Size, ReceptiveField | None] | None:
        """The spatial size and field of the op's (first) input; the first spatial op seeds r = j = 1."""
        size = _spatial(record.inputs[0]) if record.inputs else None
        if size is None:
            return None
        if self.latest is None and size not in self.fields:
            one = tuple(Fraction(1) for _ in size)
            self.fields[size] = ReceptiveField(one, one)
        return size, self.fields.get(size)

    def step(self, record: OpRecord) -> ReceptiveField | None:
        out = _spatial(record.outputs[0]) if record.outputs else None
        if out is None:
            return None
        if record.op in _POOLS or record.op in ("conv", "conv_transpose") or record.op in _ADAPTIVE:
            return self.store(out, self.sliding(record, out), sliding=True)
        if record.op == "resize":
            return self.store(out, self.resize(record, out))
        if "pad" in record.native.lower() and record.op in ("copy", "view"):
            found = self.source(record)  # padding adds border positions, each with the same field
            return self.store(out, found[1] if found is not None else None)
        return self.passthrough(record, out)

    def sliding(self, record: OpRecord, out: Size) -> ReceptiveField | None:
        found = self.source(record)
        if found is None or record.count != 1 or len(found[0]) != len(out):
            return None
        size, field = found
        rank = len(size)
        if record.op in _ADAPTIVE:
            if any(i % o for i, o in zip(size, out)):
                return None  # uneven windows: no single kernel and stride
            kernel = stride = tuple(i // o for i, o in zip(size, out))
            dilation: tuple[int, ...] = (1,) * rank
        else:
            if record.op in _POOLS:
                kernel_attr = _ints(record.attrs.get("kernel"), rank)
            else:
                weight = record.inputs[1] if len(record.inputs) > 1 else ()
                kernel_attr = tuple(weight[2:]) if len(weight) == rank + 2 else None
            stride_attr = _ints(record.attrs.get("stride"), rank)
            dilation_attr = _ints(record.attrs.get("dilation", (1,) * rank), rank)
            if kernel_attr is None or stride_attr is None or dilation_attr is None:
                return None  # a profile from before these attributes were recorded
            kernel, stride, dilation = kernel_attr, stride_attr, dilation_attr
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if size not in self.fields and self.latest is not None and record.op not in _ADAPTIVE:
            # An input no tracked op produced, at most a kernel wider than the last sliding op's
            # output: that output padded (TensorFlow records Pad without its input).
            latest, last_field = self.latest
            if len(latest) == rank and all(0 <= i - s < e for i, s, e in zip(size, latest, effective)):
                field = last_field
        if field is None:
            return None
        if record.op == "conv_transpose":
            return ReceptiveField(
                tuple(r + (math.ceil(e / s) - 1) * j for r, j, e, s in zip(field.size, field.jump, effective, stride)),
                tuple(j / s for j, s in zip(field.jump, stride)),
            )
        return ReceptiveField(
            tuple(r + (e - 1) * j for r, j, e in zip(field.size, field.jump, effective)),
            tuple(j * s for j, s in zip(field.jump, stride)),
        )

    def resize(self, record: OpRecord, out: Size) -> ReceptiveField | None:
        found = self.source(record)
        mode = str(record.attrs.get("mode", "nearest"))
        taps = 0 if mode.startswith("nearest") else _RESIZE_TAPS.get(mode)
        if taps is None or found is None:
            return None
        size, field = found
        if field is None or len(size) != len(out):
            return None
        return ReceptiveField(
            tuple(r + taps * j for r, j in zip(field.size, field.jump)),
            tuple(j * Fraction(i, o) for j, i, o in zip(field.jump, size, out)),
        )

    def passthrough(self, record: OpRecord, out: Size) -> ReceptiveField | None:
        shape = record.outputs[0]
        inputs = [s for s in record.inputs if len(s) >= 3]
        # channels-first: the output keeps an input's trailing spatial dimensions (elementwise
        # ops, adds, concatenation, views that split or merge channels: ShuffleNet's shuffle)
        found = self.fields.get(out)
        if found is not None and any(tuple(s[-len(out) :]) == out for s in inputs):
            return found
        # channels-last (N, H, W, C): Keras' activations, ConvNeXt's permuted blocks
        channels_last = tuple(shape[1:-1])
        found = self.fields.get(channels_last) if len(shape) >= 3 else None
        if found is not None and any(tuple(s[1:-1]) == channels_last for s in inputs):
            return found
        # a permutation of dimensions (NCHW <-> NHWC) keeps its input's field
        for s in inputs:
            if sorted(s) == sorted(shape):
                found = self.fields.get(tuple(s[2:])) or self.fields.get(tuple(s[1:-1]))
                if found is not None:
                    return found
        changed = not any(sorted(s) == sorted(shape) or tuple(s[-len(out) :]) == out for s in inputs)
        if inputs and changed and out in self.fields:
            self.fields[out] = None  # this size now also holds tensors the recursion cannot follow
        return None


def receptive_fields(records: Iterable[OpRecord]) -> tuple[ReceptiveField | None, ...]:
    """The receptive field of each record's (first) output, in record order.

    ``None`` where it is undefined (no spatial dimensions, before the first
    convolution or pooling, backward ops) or unknown (see the module docstring).
    """
    walk = _Walk()
    fields: list[ReceptiveField | None] = []
    for record in records:
        fields.append(walk.step(record) if record.phase == "forward" else None)
    return tuple(fields)


def _on_feature_maps(record: OpRecord) -> bool:
    """A forward op from and to tensors with spatial dimensions (not a weight read, a
    reshape of a constant, or a linear layer on flattened features)."""
    if record.phase != "forward" or not record.outputs or len(record.outputs[0]) < 3:
        return False
    return any(len(shape) >= 3 for shape in record.inputs)


def receptive_fields_by_scope(records: Sequence[OpRecord], *, cumulative: bool = False) -> Mapping[str, ReceptiveField]:
    """The field of each layer's output: that of the last op (in execution order) on
    feature maps in the layer's scope; absent where that op's field is unknown (never
    an earlier op's field in its place). Ops not on feature maps (a linear layer on
    flattened features, a weight read) do not count.

    ``cumulative``: also per ancestor path (``layer1`` gets its last block's field),
    for tables of module paths cut at a depth.
    """
    last: dict[str, ReceptiveField | None] = {}
    for record, field in zip(records, receptive_fields(records)):
        if not _on_feature_maps(record):
            continue
        if cumulative:
            parts = record.scope.split(".") if record.scope else []
            for i in range(len(parts) + 1):
                last[".".join(parts[:i])] = field
        else:
            last[record.scope] = field
    return {scope: field for scope, field in last.items() if field is not None}
