"""The one schema every adapter and backend fills.

A :class:`ModelProfile` holds one :class:`OpRecord` per operator call (with the
canonical spec the formulas priced, so it can be re-priced under another
convention without re-running the model), :class:`LayerInfo` per module/layer,
parameter counts and the provenance of the numbers (framework, backend,
convention, versions). Everything is a frozen dataclass and round-trips through
JSON (:meth:`ModelProfile.to_dict` / :meth:`ModelProfile.from_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_args

from . import aggregate
from .display import Displayable
from .formulas import AttrValue, OpSpec, Shape

if TYPE_CHECKING:
    from .aggregate import Row

__all__ = [
    "SCHEMA_VERSION",
    "LayerInfo",
    "Method",
    "ModelProfile",
    "OpRecord",
    "Phase",
    "TensorInfo",
    "Totals",
]

SCHEMA_VERSION = 1

Method = Literal["formula", "zero-cost", "unsupported", "override", "native"]
# "loss" and "optimizer": a training step the cell runs itself (outside the model)
Phase = Literal["forward", "backward", "loss", "optimizer"]
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One operator call (or ``count`` identical calls, e.g. loop iterations).

    ``macs`` and ``flops`` are totals over all ``count`` calls under the profile's
    convention. ``method`` says how the numbers were obtained: a registered
    ``formula``, a ``zero-cost`` op (data movement), ``unsupported`` (no formula:
    0, and listed in the report), a user ``override``, or a wrapped tool's
    ``native`` count. ``params`` is the number of parameter elements the op reads.
    ``module_class`` is the fully qualified class of the module that issued the op
    (``torch.nn.modules.linear.Linear``; ``module_type`` is its bare name), empty when the
    adapter has none; tools that hook modules by exact type tell subclasses apart by it.
    ``within`` names the function whose decomposition issued the op
    (``scaled_dot_product_attention``), empty for ops the model ran itself.
    """

    name: str
    op: str
    native: str
    scope: str
    macs: int
    flops: int
    method: Method
    module_type: str = ""
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    params: int = 0
    phase: Phase = "forward"
    count: int = 1
    note: str = ""
    module_class: str = ""
    within: str = ""

    @property
    def spec(self) -> OpSpec:
        """The canonical op spec the formulas price (shapes in canonical layout)."""
        return OpSpec(self.op, self.inputs, self.outputs, self.attrs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "native": self.native,
            "scope": self.scope,
            "module_type": self.module_type,
            "module_class": self.module_class,
            "within": self.within,
            "inputs": [list(s) for s in self.inputs],
            "outputs": [list(s) for s in self.outputs],
            "attrs": {k: _attr_to_json(v) for k, v in self.attrs.items()},
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "method": self.method,
            "phase": self.phase,
            "count": self.count,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpRecord:
        method = data["method"]
        if method not in METHODS:
            raise ValueError(f"unknown counting method {method!r}; expected one of {METHODS}")
        return cls(
            name=str(data["name"]),
            op=str(data["op"]),
            native=str(data["native"]),
            scope=str(data["scope"]),
            module_type=str(data.get("module_type", "")),
            module_class=str(data.get("module_class", "")),
            within=str(data.get("within", "")),
            inputs=tuple(tuple(int(d) for d in s) for s in data.get("inputs", ())),
            outputs=tuple(tuple(int(d) for d in s) for s in data.get("outputs", ())),
            attrs={k: _attr_from_json(v) for k, v in data.get("attrs", {}).items()},
            macs=int(data["macs"]),
            flops=int(data["flops"]),
            params=int(data.get("params", 0)),
            method=method,
            phase=data.get("phase", "forward"),
            count=int(data.get("count", 1)),
            note=str(data.get("note", "")),
        )


def _attr_to_json(value: AttrValue) -> Any:
    if isinstance(value, tuple):
        return {"tuple": [_attr_to_json(v) for v in value]}
    return value


def _attr_from_json(value: Any) -> AttrValue:
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_attr_from_json(v) for v in value["tuple"])
    if isinstance(value, list):
        return tuple(_attr_from_json(v) for v in value)
    return cast(AttrValue, value)


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """A module (PyTorch), layer (Keras) or node group as the adapter saw it run.

    ``params`` counts the parameters owned directly by this layer (not its
    children), each shared tensor once in the whole model; ``calls`` how often
    it ran; ``output_shapes`` the shapes of its first call's outputs; ``module_class``
    the fully qualified class (``type`` is its bare name), empty when the adapter has none.
    """

    scope: str
    type: str
    calls: int = 1
    output_shapes: tuple[Shape, ...] = ()
    params: int = 0
    module_class: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "type": self.type,
            "calls": self.calls,
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": self.params,
            "module_class": self.module_class,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerInfo:
        return cls(
            scope=str(data["scope"]),
            type=str(data["type"]),
            calls=int(data.get("calls", 1)),
            output_shapes=tuple(tuple(int(d) for d in s) for s in data.get("output_shapes", ())),
            params=int(data.get("params", 0)),
            module_class=str(data.get("module_class", "")),
        )


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One model input: its name (argument path), shape and dtype."""

    name: str
    shape: Shape
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorInfo:
        return cls(str(data["name"]), tuple(int(d) for d in data["shape"]), str(data["dtype"]))


@dataclass(frozen=True, slots=True)
class Totals:
    """Model totals under the profile's convention. Units are in the names."""

    macs: int
    flops: int
    params: int

    def to_dict(self) -> dict[str, int]:
        return {"macs": self.macs, "flops": self.flops, "params": self.params}


@dataclass(frozen=True, slots=True)
class ModelProfile(Displayable):
    """Everything flopmagic knows about one model run.

    ``params`` is the number of unique parameters (tied weights once) comparable
    across frameworks: Keras' BatchNorm moving statistics are not parameters here,
    as in PyTorch, and are listed in ``param_counts`` instead.
    ``param_counts`` holds the other views of the same weights (e.g.
    ``trainable``, ``non_trainable``, ``buffers``, ``framework_weights``).
    """

    model: str
    framework: str
    backend: str
    convention: str
    records: tuple[OpRecord, ...]
    params: int
    layers: tuple[LayerInfo, ...] = ()
    inputs: tuple[TensorInfo, ...] = ()
    param_bytes: Mapping[str, int] = field(default_factory=dict)
    param_counts: Mapping[str, int] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    training: bool = False
    schema_version: int = SCHEMA_VERSION
    _render_kind: ClassVar[str] = "profile"

    # -- totals and views ---------------------------------------------------------
    @property
    def totals(self) -> Totals:
        return Totals(
            macs=sum(r.macs for r in self.records),
            flops=sum(r.flops for r in self.records),
            params=self.params,
        )

    @property
    def macs(self) -> int:
        return self.totals.macs

    @property
    def flops(self) -> int:
        return self.totals.flops

    @property
    def param_memory(self) -> int:
        """Bytes of parameter storage, over all dtypes."""
        return sum(self.param_bytes.values())

    def by_op_type(self, *, phase: Phase | None = None) -> list[Row]:
        return aggregate.by_op_type(self.records, phase=phase)

    def by_native_op(self) -> list[Row]:
        return aggregate.by_native_op(self.records)

    def by_scope(self, depth: int | None = None, *, receptive_field: bool = False) -> list[Row]:
        return aggregate.by_scope(self.records, self.layers, depth, receptive_field=receptive_field)

    def by_layer(self, *, receptive_field: bool = False) -> list[Row]:
        """One row per layer; ``receptive_field=True`` adds each layer's output field
        and jump (:mod:`flopmagic.receptive_field`)."""
        return aggregate.by_layer(self.records, self.layers, receptive_field=receptive_field)

    def unsupported(self) -> dict[str, int]:
        """Native ops with no formula, with how often each ran. Their cost is 0."""
        counts: dict[str, int] = {}
        for record in self.records:
            if record.method == "unsupported":
                counts[record.native] = counts.get(record.native, 0) + record.count
        return counts

    def under(self, convention: str) -> ModelProfile:
        """The same profile re-priced under another convention, without re-running the model."""
        from .conventions import reprice

        return reprice(self, convention)

    def with_records(self, records: Sequence[OpRecord], **changes: Any) -> ModelProfile:
        return replace(self, records=tuple(records), **changes)

    # -- serialisation --------------------------------------------------------------
    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "model": self.model,
            "framework": self.framework,
            "backend": self.backend,
            "convention": self.convention,
            "training": self.training,
            "totals": self.totals.to_dict(),
            "inputs": [t.to_dict() for t in self.inputs],
            "params": self.params,
            "param_bytes": dict(self.param_bytes),
            "param_counts": dict(self.param_counts),
            "versions": dict(self.versions),
            "notes": list(self.notes),
            "unsupported": self.unsupported(),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if records:
            data["records"] = [r.to_dict() for r in self.records]
        return data

    def to_json(self, *, indent: int | None = 2, records: bool = True) -> str:
        return json.dumps(self.to_dict(records=records), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelProfile:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"profile has schema_version {version!r}; this flopmagic reads version "
                f"{SCHEMA_VERSION}: re-run the profile with this version"
            )
        if "records" not in data:
            raise ValueError("profile JSON has no 'records': write it with records=True")
        return cls(
            model=str(data["model"]),
            framework=str(data["framework"]),
            backend=str(data["backend"]),
            convention=str(data["convention"]),
            records=tuple(OpRecord.from_dict(r) for r in data["records"]),
            params=int(data["params"]),
            layers=tuple(LayerInfo.from_dict(x) for x in data.get("layers", ())),
            inputs=tuple(TensorInfo.from_dict(x) for x in data.get("inputs", ())),
            param_bytes={str(k): int(v) for k, v in data.get("param_bytes", {}).items()},
            param_counts={str(k): int(v) for k, v in data.get("param_counts", {}).items()},
            versions={str(k): str(v) for k, v in data.get("versions", {}).items()},
            notes=tuple(str(n) for n in data.get("notes", ())),
            training=bool(data.get("training", False)),
        )

    @classmethod
    def from_json(cls, text: str) -> ModelProfile:
        return cls.from_dict(json.loads(text))
