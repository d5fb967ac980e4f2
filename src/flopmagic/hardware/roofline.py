"""The roofline: each op's compute time, memory time and bound on a device at a dtype.

A pure function of a :class:`~flopmagic.ModelProfile`, a :class:`Device` and a dtype:

- compute time = MAC work (2 FLOPs per MAC: convolutions, matmuls, attention and
  recurrent gates, forward or backward) / the dtype's dense matrix peak
  + every other FLOP (bias adds, softmax, normalisation, activations) / the vector peak;
- memory time = bytes read and written (:mod:`flopmagic.hardware.traffic`) / bandwidth;
- the op's time = max of the two (it is bound by the larger); the model's
  ``compute_s``, ``memory_s`` and ``time_s`` sum these over the ops, so ``time_s`` is
  at least the larger of the two sums.

It is a lower bound on the time of an unfused eager run (no launch overheads, every
kernel at the peak) and the classic roofline of Williams, Waterman and Patterson (2009)
applied op by op, as LLM-Viewer does layer by layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..display import Displayable
from ..errors import HardwareError
from ..schema import ModelProfile
from .catalogue import DTYPE_BYTES, Device, get_device, normalize_dtype
from .traffic import ASSUMPTION, FUSED_ASSUMPTION, activation_footprint, io_bytes, op_bytes

__all__ = ["Bound", "LayerTime", "OpTime", "Roofline", "roofline"]

Bound = Literal["compute", "memory"]


class _OnTheRoof:
    """``bound`` and ``intensity`` of anything with compute and memory times, FLOPs and bytes."""

    __slots__ = ()
    flops: int
    bytes: int
    compute_s: float
    memory_s: float

    @property
    def bound(self) -> Bound:
        """Which time is the larger: compute (on a tie) or memory."""
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte (inf for an op that moves nothing)."""
        return self.flops / self.bytes if self.bytes else float("inf")


@dataclass(frozen=True, slots=True)
class OpTime(_OnTheRoof):
    """One op on the roofline. Seconds and bytes over all its ``count`` calls."""

    name: str
    scope: str
    op: str
    phase: str
    flops: int
    matrix_flops: int
    vector_flops: int
    bytes: int
    compute_s: float
    memory_s: float

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s)


@dataclass(frozen=True, slots=True)
class LayerTime(_OnTheRoof):
    """A layer's ops summed: the ops it ran itself (``scope``), or everything below a
    top-level module (:attr:`Roofline.top_layers`)."""

    scope: str
    type: str
    flops: int
    bytes: int
    compute_s: float
    memory_s: float
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "type": self.type,
            "flops": self.flops,
            "bytes": self.bytes,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "time_s": self.time_s,
            "bound": self.bound,
        }


@dataclass(frozen=True)
class Roofline(_OnTheRoof, Displayable):
    """A profile on a device at a dtype. Build with :func:`roofline`; display in a
    notebook (table), :meth:`plot` (matplotlib), :meth:`to_dict` (the JSON
    ``hardware`` object). Drawn through :func:`flopmagic.render.render` (``top``: rows
    in the slowest-layers table)."""

    _render_kind: ClassVar[str] = "roofline"

    model: str
    device: Device
    dtype: str
    fused: bool
    peak_flops: float  # the dtype's dense matrix peak
    vector_peak_flops: float
    vector_dtype: str  # whose vector figure it is (TF32 borrows FP32's)
    bandwidth: float
    ops: tuple[OpTime, ...]
    layers: tuple[LayerTime, ...]
    top_layers: tuple[LayerTime, ...]
    compute_s: float
    memory_s: float
    time_s: float
    flops: int
    bytes: int
    weight_bytes: int
    io_bytes: int
    param_bytes: int  # the model's parameters at the dtype
    activation_bytes: int  # every forward activation produced, at the dtype
    peak_op_bytes: int  # the largest single op's inputs + outputs
    assumption: str
    notes: tuple[str, ...] = field(default=())
    stored_param_bytes: Mapping[str, int] = field(default_factory=dict)  # the model's own, per dtype

    @property
    def attainable_flops(self) -> float:
        """Counted FLOPs over the roofline time: the FLOP/s this run can reach at best."""
        return self.flops / self.time_s if self.time_s else 0.0

    def slowest(self, n: int = 10, *, top: bool = False) -> list[LayerTime]:
        """The ``n`` layers with the longest roofline time (``top``: top-level modules)."""
        rows = self.top_layers if top else self.layers
        return sorted(rows, key=lambda r: -r.time_s)[:n]

    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.device.name,
            "dtype": self.dtype,
            "peak_flops": self.peak_flops,
            "vector_peak_flops": self.vector_peak_flops,
            "bandwidth": self.bandwidth,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "time_s": self.time_s,
            "bound": self.bound,
            "flops": self.flops,
            "bytes": self.bytes,
            "intensity": self.intensity if self.bytes else None,
            "weight_bytes": self.weight_bytes,
            "io_bytes": self.io_bytes,
            "param_bytes": self.param_bytes,
            "stored_param_bytes": dict(self.stored_param_bytes),
            "activation_bytes": self.activation_bytes,
            "peak_op_bytes": self.peak_op_bytes,
            "fused": self.fused,
            "assumption": self.assumption,
            "device": self.device.to_dict(),
            "notes": list(self.notes),
        }
        if layers:
            data["layers"] = [layer.to_dict() for layer in self.layers]
            data["top_layers"] = [layer.to_dict() for layer in self.top_layers]
        return data

    def plot(self, ax: Any = None, *, annotate: int = 5) -> Any:
        """Ops as points (arithmetic intensity vs attainable FLOP/s) under the roof (matplotlib)."""
        from ..render.roofline import plot_roofline

        return plot_roofline(self, ax=ax, annotate=annotate)

    def __str__(self) -> str:
        return self.to_text()


def default_dtype(profile: ModelProfile) -> str:
    """The dtype holding most of the profile's parameter bytes (fp32 without parameters)."""
    if profile.param_bytes:
        name = max(profile.param_bytes.items(), key=lambda kv: kv[1])[0]
        try:
            return normalize_dtype(name)
        except HardwareError:
            pass
    for tensor in profile.inputs:
        try:
            return normalize_dtype(tensor.dtype)
        except HardwareError:
            continue
    return "fp32"


def _top(scope: str) -> str:
    return scope.split(".", 1)[0] if scope else ""


def roofline(
    profile: ModelProfile,
    device: Device | str,
    dtype: str | None = None,
    *,
    fused: bool = False,
) -> Roofline:
    """Place every op of ``profile`` on ``device``'s roofline at ``dtype``.

    ``dtype``: the storage and arithmetic dtype of every tensor (``"bf16"``); default
    the dtype of the profile's parameters. ``fused``: count only weights and the
    model's inputs and outputs as memory traffic (see :mod:`.traffic`).

    Raises:
        HardwareError: unknown device, a dtype the device has no peak for, or a profile
            whose records keep no shapes (a wrapped tool's backend).
    """
    dev = get_device(device) if isinstance(device, str) else device
    key = normalize_dtype(dtype) if dtype is not None else default_dtype(profile)
    peak = dev.matrix_peak(key)
    vector, vector_dtype = dev.vector_peak(key)
    element = DTYPE_BYTES[key]
    bandwidth = dev.bandwidth
    if bandwidth <= 0:
        raise HardwareError(f"device {dev.name!r} has no memory bandwidth")
    notes: list[str] = []
    if vector_dtype != key:
        notes.append(
            f"elementwise work at {key} uses the {vector_dtype} vector peak (the device quotes none for {key})"
        )
    if any(r.method == "native" for r in profile.records):
        raise HardwareError(
            f"the roofline needs per-op shapes; this profile comes from backend {profile.backend!r}, "
            "which reports per-module totals only: profile with the flopmagic backend"
        )

    ops: list[OpTime] = []
    weight_total = 0
    for record in profile.records:
        moved = op_bytes(record, element, fused=fused)
        weight_total += moved.weight_bytes
        matrix = min(2 * record.macs, record.flops) if record.macs else 0
        rest = max(record.flops - matrix, 0)
        ops.append(
            OpTime(
                name=record.name,
                scope=record.scope,
                op=record.op,
                phase=record.phase,
                flops=record.flops,
                matrix_flops=matrix,
                vector_flops=rest,
                bytes=moved.total,
                compute_s=matrix / peak + rest / vector,
                memory_s=moved.total / bandwidth,
            )
        )

    inputs_bytes, outputs_bytes = io_bytes(profile, element)
    io_total = inputs_bytes + outputs_bytes if fused else 0
    types = {layer.scope: layer.type for layer in profile.layers}
    layers = _group(ops, lambda op: op.scope, types)
    top_layers = _group(ops, lambda op: _top(op.scope), types)
    compute_s = sum(op.compute_s for op in ops)
    memory_s = sum(op.memory_s for op in ops) + io_total / bandwidth
    time_s = sum(op.time_s for op in ops) + io_total / bandwidth
    activations, largest = activation_footprint(profile, element)
    unsupported = profile.unsupported()
    if unsupported:
        notes.append(
            f"{len(unsupported)} op type(s) without a formula count 0 FLOPs; their bytes are counted: "
            + ", ".join(sorted(unsupported))
        )
    if fused:
        notes.append(f"model inputs {inputs_bytes:,} B and outputs {outputs_bytes:,} B added to memory time")
    return Roofline(
        model=profile.model,
        device=dev,
        dtype=key,
        fused=fused,
        peak_flops=peak,
        vector_peak_flops=vector,
        vector_dtype=vector_dtype,
        bandwidth=bandwidth,
        ops=tuple(ops),
        layers=layers,
        top_layers=top_layers,
        compute_s=compute_s,
        memory_s=memory_s,
        time_s=time_s,
        flops=sum(op.flops for op in ops),
        bytes=sum(op.bytes for op in ops) + io_total,
        weight_bytes=weight_total,
        io_bytes=io_total,
        param_bytes=profile.params * element,
        activation_bytes=activations,
        peak_op_bytes=largest,
        assumption=FUSED_ASSUMPTION if fused else ASSUMPTION,
        notes=tuple(notes),
        stored_param_bytes=dict(profile.param_bytes),
    )


def _group(ops: list[OpTime], key: Any, types: Mapping[str, str]) -> tuple[LayerTime, ...]:
    acc: dict[str, list[float]] = {}
    for op in ops:
        k = key(op)
        row = acc.get(k)
        if row is None:
            row = acc[k] = [0, 0, 0.0, 0.0, 0.0]
        row[0] += op.flops
        row[1] += op.bytes
        row[2] += op.compute_s
        row[3] += op.memory_s
        row[4] += op.time_s
    return tuple(
        LayerTime(
            scope=k,
            type=types.get(k, ""),
            flops=int(v[0]),
            bytes=int(v[1]),
            compute_s=v[2],
            memory_s=v[3],
            time_s=v[4],
        )
        for k, v in acc.items()
    )
