"""Estimates from counted FLOPs: training time, serving throughput, memory to train.

Every :class:`Estimate` carries its formula and the inputs it was computed from, and
prints them, so a number can be checked by hand.

- **Training time** = (F_sample x samples x epochs + F_opt x steps x D) / (D x peak x MFU)
  with F_sample the *measured* training FLOPs per sample (flopmagic's training step:
  forward + the backward autograd actually runs, divided by the batch), F_opt the
  optimizer's FLOPs per step (:data:`OPTIMIZERS`: FLOPs per trainable parameter),
  steps = ceil(samples x epochs / (batch x D)) for D data-parallel devices (each runs
  the full optimizer step), peak the dtype's dense matrix peak, and MFU given, measured
  (``measure=True``: a timed training step on this machine) or, failing both, the
  roofline's bound (counted FLOPs / (roofline time x peak): an upper bound).
- **Serving throughput** at batch b = b / time(b), with time(b) the roofline time of an
  inference run at batch b (or, measured, its median latency).
- **Memory to train** = trainable params x bytes per parameter for the optimizer and
  precision (:data:`STATE_BYTES`; mixed-precision Adam: 2 fp16/bf16 weights + 2
  gradients + 4 fp32 master weights + 4 + 4 Adam moments = 16, Rajbhandari et al.,
  "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", SC 2020,
  section 3.1) + frozen params at the compute dtype + the activations autograd saves for
  backward, measured by the model's framework adapter (PyTorch's with
  ``torch.autograd.graph.saved_tensors_hooks``; each storage once, parameters
  excluded), scaled to the compute dtype. Not counted: temporaries,
  workspaces, allocator fragmentation, the CUDA context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..display import Displayable
from ..errors import HardwareError
from ..schema import ModelProfile
from .catalogue import Device, custom_device, get_device, normalize_dtype
from .roofline import Roofline, default_dtype, roofline

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "STATE_BYTES",
    "Estimate",
    "Estimates",
    "estimate",
    "saved_activation_bytes",
    "serving_throughput",
    "training_memory",
    "training_time",
]

# optimizer -> (FLOPs per trainable parameter per step, how they are counted)
OPTIMIZERS: Mapping[str, tuple[int, str]] = {
    "sgd": (2, "p -= lr * g: 1 multiply + 1 subtract"),
    "sgd-momentum": (4, "b = mu * b + g (2); p -= lr * b (2)"),
    "adam": (
        14,
        "m = b1*m + (1-b1)*g (3); v = b2*v + (1-b2)*g*g (4); "
        "p -= lr * (m/c1) / (sqrt(v/c2) + eps) (7: 2 divides for the bias corrections, sqrt, add, divide, "
        "multiply, subtract); the per-tensor scalars c1, c2 are not counted",
    ),
    "adamw": (16, "adam (14) + decoupled weight decay p -= lr * wd * p (2)"),
}

PRECISIONS: tuple[str, ...] = ("fp32", "mixed", "bf16")

# (optimizer, precision) -> (bytes per trainable parameter, breakdown)
STATE_BYTES: Mapping[tuple[str, str], tuple[int, str]] = {
    ("adam", "fp32"): (16, "4 weights + 4 grads + 4 m + 4 v"),
    ("adam", "mixed"): (16, "2 weights + 2 grads (fp16/bf16) + 4 fp32 master + 4 m + 4 v (ZeRO, K=12)"),
    ("adam", "bf16"): (8, "2 weights + 2 grads + 2 m + 2 v, all bf16"),
    ("adamw", "fp32"): (16, "4 weights + 4 grads + 4 m + 4 v"),
    ("adamw", "mixed"): (16, "2 weights + 2 grads (fp16/bf16) + 4 fp32 master + 4 m + 4 v (ZeRO, K=12)"),
    ("adamw", "bf16"): (8, "2 weights + 2 grads + 2 m + 2 v, all bf16"),
    ("sgd-momentum", "fp32"): (12, "4 weights + 4 grads + 4 momentum"),
    ("sgd-momentum", "mixed"): (12, "2 weights + 2 grads + 4 fp32 master + 4 momentum"),
    ("sgd-momentum", "bf16"): (6, "2 weights + 2 grads + 2 momentum"),
    ("sgd", "fp32"): (8, "4 weights + 4 grads"),
    ("sgd", "mixed"): (8, "2 weights + 2 grads + 4 fp32 master"),
    ("sgd", "bf16"): (4, "2 weights + 2 grads"),
}

_ACTIVATION_BYTES = {"fp32": 4, "mixed": 2, "bf16": 2}


@dataclass(frozen=True)
class Estimate:
    """One estimated quantity with the formula and inputs that produced it."""

    name: str
    value: float
    unit: str  # "s", "queries/s", "bytes", "FLOPs", "fraction"
    formula: str
    inputs: Mapping[str, float | int | str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        from ..render.estimates import render_estimate_text

        return render_estimate_text(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "formula": self.formula,
            "inputs": dict(self.inputs),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Estimates(Displayable):
    """The estimates for one model; ``fits`` says whether training fits the device's memory.
    Drawn through :func:`flopmagic.render.render`, like every result."""

    _render_kind: ClassVar[str] = "estimates"

    model: str
    device: str
    dtype: str
    items: tuple[Estimate, ...]
    fits: bool | None = None

    def __getitem__(self, name: str) -> Estimate:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(f"no estimate {name!r}; this has: {', '.join(i.name for i in self.items)}")

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "dtype": self.dtype,
            "fits": self.fits,
            "estimates": [i.to_dict() for i in self.items],
        }


# -- the pure estimates ---------------------------------------------------------------------------
def batch_of(profile: ModelProfile) -> int:
    """The batch size of a profile: the first dimension of its first input (1 without inputs)."""
    for tensor in profile.inputs:
        if tensor.shape:
            return int(tensor.shape[0])
    return 1


def _trainable(profile: ModelProfile) -> int:
    return int(profile.param_counts.get("trainable", profile.params))


def optimizer_flops(profile: ModelProfile, optimizer: str) -> Estimate:
    per_param, how = _optimizer(optimizer)
    trainable = _trainable(profile)
    return Estimate(
        "optimizer FLOPs per step",
        float(per_param * trainable),
        "FLOPs",
        "F_opt = FLOPs per parameter x trainable parameters",
        {"optimizer": optimizer, "FLOPs per parameter": per_param, "trainable parameters": trainable},
        (f"{optimizer}: {how}",),
    )


def _optimizer(name: str) -> tuple[int, str]:
    found = OPTIMIZERS.get(name.lower())
    if found is None:
        raise HardwareError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return found


def training_time(
    profile: ModelProfile,
    device: Device,
    dtype: str,
    *,
    samples: float,
    epochs: float = 1,
    devices: int = 1,
    mfu: float,
    optimizer: str = "adam",
    mfu_source: str = "given",
) -> Estimate:
    """Wall-clock time to train on ``samples`` x ``epochs`` (see the module doc).
    ``profile`` must be a training-step profile (``training=True``)."""
    if not profile.training:
        raise HardwareError("training time needs a training-step profile: profile with training=True")
    if not 0 < mfu <= 1:
        raise HardwareError(f"MFU must be in (0, 1], got {mfu}")
    if samples <= 0 or epochs <= 0 or devices < 1:
        raise HardwareError("samples and epochs must be positive and devices at least 1")
    key = normalize_dtype(dtype)
    peak = device.matrix_peak(key)
    batch = batch_of(profile)
    per_sample = profile.flops / batch
    per_param, _ = _optimizer(optimizer)
    opt = per_param * _trainable(profile)
    steps = math.ceil(samples * epochs / (batch * devices))
    total = per_sample * samples * epochs + opt * steps * devices
    seconds = total / (devices * peak * mfu)
    return Estimate(
        "training time",
        seconds,
        "s",
        "time = (F_sample x samples x epochs + F_opt x steps x D) / (D x peak x MFU), "
        "steps = ceil(samples x epochs / (batch x D))",
        {
            "F_sample (measured forward + backward FLOPs / batch)": per_sample,
            "samples": samples,
            "epochs": epochs,
            "F_opt (optimizer FLOPs per step)": opt,
            "batch per device": batch,
            "steps": steps,
            "D (devices)": devices,
            "peak (dense FLOP/s)": peak,
            "dtype": key,
            "MFU": mfu,
            "MFU from": mfu_source,
        },
    )


def serving_throughput(rooflines: Sequence[Roofline], batches: Sequence[int]) -> list[Estimate]:
    """Queries per second at each batch size from roofline times: b / time_s(b)."""
    out = []
    for r, b in zip(rooflines, batches):
        out.append(
            Estimate(
                f"serving throughput at batch {b}",
                b / r.time_s if r.time_s > 0 else 0.0,
                "queries/s",
                "QPS = batch / roofline time_s (sum over ops of max(compute, memory))",
                {"batch": b, "time_s": r.time_s, "compute_s": r.compute_s, "memory_s": r.memory_s, "bound": r.bound},
            )
        )
    return out


def training_memory(
    profile: ModelProfile,
    device: Device | None,
    *,
    optimizer: str = "adam",
    precision: str = "mixed",
    activation_bytes: int = 0,
    activation_note: str = "",
) -> Estimate:
    """Params + gradients + optimizer state + saved activations (see the module doc)."""
    if precision not in PRECISIONS:
        raise HardwareError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    _optimizer(optimizer)
    per_param, breakdown = STATE_BYTES[(optimizer.lower(), precision)]
    trainable = _trainable(profile)
    frozen = max(profile.params - trainable, 0)
    frozen_bytes = frozen * _ACTIVATION_BYTES[precision]
    total = per_param * trainable + frozen_bytes + activation_bytes
    inputs: dict[str, float | int | str] = {
        "trainable parameters": trainable,
        "bytes per trainable parameter": per_param,
        "frozen parameters": frozen,
        "frozen bytes": frozen_bytes,
        "saved activations (bytes)": activation_bytes,
        "optimizer": optimizer,
        "precision": precision,
    }
    notes = [f"{optimizer}, {precision}: {breakdown} bytes per parameter (Rajbhandari et al. 2020, ZeRO)"]
    if activation_note:
        notes.append(activation_note)
    if device is not None and device.memory_bytes:
        inputs["device memory (bytes)"] = device.memory_bytes
        notes.append(
            f"{'fits' if total <= device.memory_bytes else 'does NOT fit'} in {device.name}'s "
            f"{device.memory_bytes / 2**30:.0f} GiB (temporaries, workspaces and fragmentation not counted)"
        )
    return Estimate(
        "memory to train",
        float(total),
        "bytes",
        "memory = trainable x bytes per parameter + frozen bytes + saved activations",
        inputs,
        tuple(notes),
    )


def saved_activation_bytes(model: Any, inputs: Any, *, precision: str = "fp32") -> tuple[int, str]:
    """Bytes autograd saves for backward in one training-mode forward, measured by the
    model's framework adapter (its declared ``saved_activation_bytes``; PyTorch's uses
    ``saved_tensors_hooks``): each storage once, parameters excluded; floating tensors
    scaled to ``precision``'s activation dtype. Returns (bytes, a note saying how).
    The model is left as it was."""
    from .timing import adapter_for

    meter = adapter_for(model, "saved_activation_bytes", "measuring saved activations").saved_activation_bytes
    assert meter is not None  # adapter_for checked it
    try:
        saved = meter(model, inputs)
    except HardwareError:
        raise
    except Exception as error:
        raise HardwareError(f"measuring saved activations failed: {type(error).__name__}: {error}") from error
    measured_elem = saved.floating_element_bytes or 4
    target = _ACTIVATION_BYTES.get(precision, measured_elem)
    scaled = saved.floating_bytes * target // measured_elem
    note = (
        f"saved activations measured with {saved.method}: {saved.floating_bytes:,} bytes of floating tensors "
        f"at {measured_elem} bytes/element"
        + (f", scaled to {target} bytes/element for {precision}" if target != measured_elem else "")
        + f", plus {saved.other_bytes:,} bytes of integer/bool tensors"
    )
    return scaled + saved.other_bytes, note


# -- the one-call API --------------------------------------------------------------------------------
def _resolve_device(
    hardware: str | Device | None, peak_tflops: float | None, bandwidth_gbs: float | None, dtype: str
) -> Device:
    base = get_device(hardware) if isinstance(hardware, str) else hardware
    if peak_tflops is None and bandwidth_gbs is None:
        if base is None:
            raise HardwareError(
                "name a device (--hardware h100-sxm; 'local' calibrates this machine) or give "
                "--peak-tflops and --bandwidth-gbs"
            )
        return base
    return custom_device(peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs, dtype=dtype, base=base)


def _with_batch(shape: Any, batch: int) -> Any:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [(batch, *tuple(s)[1:]) for s in shape]
    return (batch, *tuple(shape)[1:])


def estimate(
    model: Any,
    *,
    hardware: str | Device | None = None,
    dtype: str | None = None,
    input_shape: Any = None,
    samples: float | None = None,
    epochs: float = 1,
    devices: int = 1,
    mfu: float | None = None,
    optimizer: str = "adam",
    precision: str = "mixed",
    batch_sizes: Sequence[int] = (),
    measure: bool = False,
    peak_tflops: float | None = None,
    bandwidth_gbs: float | None = None,
    repeats: int = 5,
    warmup: int = 1,
) -> Estimates:
    """Training time, serving throughput and memory to train for a model or spec.

    ``model``: a model of a framework whose adapter measures saved activations (and, with
    ``measure``, times runs): a ``torch.nn.Module``, or a spec (``"torchvision:resnet50"``);
    ``input_shape``: one batch's shape (the spec's default if omitted).
    ``hardware``: a catalogue name, ``"local"``, or a :class:`Device`; ``peak_tflops``/
    ``bandwidth_gbs`` override or replace its figures. ``samples``: train-set size (the
    training-time estimate needs it). ``mfu``: the utilisation to assume; without it,
    ``measure=True`` times a training step here, else the roofline's bound is used.
    ``batch_sizes``: serving batch sizes (default the input's batch).
    With ``measure``, MFU is measured against this machine's calibrated peak (``local``
    or ``local-cuda``) and applied to ``hardware``: stated in the estimate's notes.
    """
    from .. import options
    from ..api import profile as run_profile

    options.check(
        "api.estimate",
        {
            "samples": samples,
            "epochs": epochs,
            "devices": devices,
            "mfu": mfu,
            "optimizer": optimizer,
            "precision": precision,
            "peak_tflops": peak_tflops,
            "bandwidth_gbs": bandwidth_gbs,
            "repeats": repeats,
        },
    )
    key = normalize_dtype(dtype) if dtype is not None else None
    name: str | None = None
    make = None
    if isinstance(model, str):
        from ..specs import load_spec

        loaded = load_spec(model, device=None if measure else "meta")
        name, make = loaded.name, loaded.make_inputs
        input_shape = input_shape if input_shape is not None else loaded.input_shape
        model = loaded.model
    from .timing import adapter_for, model_inputs

    adapter_for(model, "saved_activation_bytes", "estimate")  # memory to train needs it: fail before profiling
    if input_shape is None:
        raise HardwareError("pass input_shape=... (one batch), e.g. (8, 3, 224, 224)")

    def inputs_at(shape: Any) -> Any:
        if make is not None:
            return make(shape)
        return model_inputs(model, shape, "estimate")

    first = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
    batch = int(first[0])
    train = run_profile(model, inputs_at(input_shape), training=True, name=name)
    key = key or default_dtype(train)
    dev = _resolve_device(
        hardware if hardware is not None else ("local" if measure else None), peak_tflops, bandwidth_gbs, key
    )
    items: list[Estimate] = []
    per_sample = train.flops / batch
    items.append(
        Estimate(
            "training FLOPs per sample",
            per_sample,
            "FLOPs",
            "F_sample = counted FLOPs of one training step (forward + measured backward) / batch",
            {
                "step FLOPs": train.flops,
                "batch": batch,
                "forward FLOPs": sum(r.flops for r in train.records if r.phase == "forward"),
            },
        )
    )
    items.append(optimizer_flops(train, optimizer))

    mfu_source = "given"
    if mfu is None and measure:
        from .timing import time_model, utilisation

        timing = time_model(model, inputs_at(input_shape), training=True, repeats=repeats, warmup=warmup, layers=False)
        # the utilisation of the machine that ran it: the target's peak would mix two machines
        here = (
            dev
            if dev.name.startswith("local")
            else get_device("local-cuda" if timing.accelerator == "cuda" else "local")
        )
        used = utilisation(train, timing, here, key)
        mfu = min(used.mfu, 1.0)
        mfu_source = f"measured on {here.name}: {used.latency_s * 1e3:.3f} ms per training step"
        notes: tuple[str, ...] = ()
        if here is not dev:
            notes = (f"measured on {here.name} and assumed to carry over to {dev.name}",)
        items.append(
            Estimate(
                "measured MFU (training step)",
                used.mfu,
                "fraction",
                used.formula,
                {
                    "counted FLOPs": used.flops,
                    "latency_s": used.latency_s,
                    "peak_flops": used.peak_flops,
                    "device": here.name,
                },
                notes,
            )
        )
    if mfu is None:
        bound = roofline(train, dev, key)
        mfu = min(1.0, bound.flops / (bound.time_s * bound.peak_flops)) if bound.time_s else 1.0
        mfu_source = "roofline: counted FLOPs / (roofline time x peak), unfused eager; fused kernels can do better"
    if samples is not None:
        items.append(
            training_time(
                train,
                dev,
                key,
                samples=samples,
                epochs=epochs,
                devices=devices,
                mfu=mfu,
                optimizer=optimizer,
                mfu_source=mfu_source,
            )
        )

    activation, note = saved_activation_bytes(model, inputs_at(input_shape), precision=precision)
    memory = training_memory(
        train, dev, optimizer=optimizer, precision=precision, activation_bytes=activation, activation_note=note
    )
    items.append(memory)
    fits = memory.value <= dev.memory_bytes if dev.memory_bytes else None

    sizes = tuple(batch_sizes) or (batch,)
    rooflines = []
    for b in sizes:
        inference = run_profile(model, inputs_at(_with_batch(input_shape, b)), name=name)
        rooflines.append(roofline(inference, dev, key))
    items.extend(serving_throughput(rooflines, sizes))
    if measure:
        from .timing import time_model

        for b in sizes:
            timing = time_model(
                model, inputs_at(_with_batch(input_shape, b)), repeats=repeats, warmup=warmup, layers=False
            )
            items.append(
                Estimate(
                    f"measured serving throughput at batch {b} (this machine, {timing.accelerator})",
                    b / timing.latency_s,
                    "queries/s",
                    "QPS = batch / measured median latency",
                    {"batch": b, "latency_s": timing.latency_s, "repeats": repeats, "on": timing.accelerator},
                )
            )
    return Estimates(model=name or type(model).__name__, device=dev.name, dtype=key, items=tuple(items), fits=fits)
