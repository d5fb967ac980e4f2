"""Measured utilisation: run the workload, time it, and divide counted FLOPs by time x peak.

``time_model`` asks the model's framework adapter to run and time it (the adapter's
declared ``timer``; PyTorch's is in its adapter, ``adapters/torch/measure.py``). It runs
the model as flopmagic profiles it (inference: evaluation mode, no gradients; training:
a forward and a backward of ``sum(outputs)``): ``warmup`` untimed runs, then
``repeats`` timed ones, each clock read after the device has finished, so the time is
the device's, not the launch queue's. The latency is the median.

Per top-level module (the model's direct children), a second set of runs times each
forward call (hooks the adapter removes again); these runs are separate from the
end-to-end ones, so the synchronisation in the hooks does not slow the model's latency.
Everything the runs could change is restored afterwards.

MFU (model FLOPs utilisation, PaLM, Chowdhery et al. 2022) = counted FLOPs /
(latency x the dtype's dense peak): the counted FLOPs are flopmagic's (measured
backward included for a training step), never 6N per token, and the peak is the dense
matrix peak, never the sparsity figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import HardwareError, ProfilingError
from ..schema import ModelProfile
from .catalogue import Device, get_device, normalize_dtype

if TYPE_CHECKING:
    from ..adapters import Adapter

__all__ = ["LayerUtilisation", "Timing", "Utilisation", "adapter_for", "model_inputs", "time_model", "utilisation"]


@dataclass(frozen=True)
class Timing:
    """Measured seconds of one model run (median of ``repeats``) and of each top-level module."""

    model: str
    latency_s: float
    samples_s: tuple[float, ...]
    accelerator: str  # "cpu" or "cuda"
    warmup: int
    repeats: int
    training: bool
    layer_s: Mapping[str, float] = field(default_factory=dict)  # top-level module -> median forward seconds
    layer_types: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "latency_s": self.latency_s,
            "samples_s": list(self.samples_s),
            "accelerator": self.accelerator,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "training": self.training,
            "layer_s": dict(self.layer_s),
        }


@dataclass(frozen=True, slots=True)
class LayerUtilisation:
    scope: str
    type: str
    flops: int
    seconds: float
    achieved_flops: float
    mfu: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "type": self.type,
            "flops": self.flops,
            "seconds": self.seconds,
            "achieved_flops": self.achieved_flops,
            "mfu": self.mfu,
        }


@dataclass(frozen=True)
class Utilisation:
    """Counted FLOPs against measured time: achieved FLOP/s and MFU, per model and per
    top-level module (forward FLOPs over forward time)."""

    model: str
    device: str
    dtype: str
    peak_flops: float
    flops: int
    latency_s: float
    achieved_flops: float
    mfu: float
    layers: tuple[LayerUtilisation, ...]
    timing: Timing
    formula: str = "MFU = counted FLOPs / (latency_s x peak_flops)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "dtype": self.dtype,
            "peak_flops": self.peak_flops,
            "flops": self.flops,
            "latency_s": self.latency_s,
            "achieved_flops": self.achieved_flops,
            "mfu": self.mfu,
            "formula": self.formula,
            "timing": self.timing.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def __str__(self) -> str:
        lines = [
            f"{self.model}: measured latency {self.latency_s * 1e3:.3f} ms (median of {self.timing.repeats}, "
            f"{self.timing.accelerator}), {self.achieved_flops / 1e12:.4g} TFLOP/s achieved, "
            f"MFU {100 * self.mfu:.2f}% of {self.peak_flops / 1e12:.4g} TFLOPS dense {self.dtype} ({self.device})",
            f"  {self.formula} = {self.flops:,} / ({self.latency_s:.6g} s x {self.peak_flops:.6g})",
        ]
        for layer in sorted(self.layers, key=lambda r: -r.seconds):
            lines.append(
                f"  {layer.scope:<24} {layer.type:<20} {layer.seconds * 1e3:9.3f} ms  "
                f"{layer.achieved_flops / 1e9:10.2f} GFLOP/s  MFU {100 * layer.mfu:6.2f}%"
            )
        return "\n".join(lines)


def adapter_for(model: Any, capability: str, what: str) -> Adapter:
    """The registered adapter of ``model``'s framework, which must declare ``capability``
    (an :class:`~flopmagic.adapters.Adapter` field such as ``"timer"``).

    Raises:
        HardwareError: no framework recognises the model, or its adapter does not declare
            the capability; the message names the frameworks that do.
    """
    from .. import adapters

    able = [a.title for a in adapters.adapters() if getattr(a, capability) is not None]
    framework = adapters.detect_framework(model)
    adapter = adapters.get_adapter(framework) if framework is not None else None
    if adapter is None or getattr(adapter, capability) is None:
        got = f"a {adapter.title} model" if adapter is not None else f"a {type(model).__name__!r} object"
        raise HardwareError(f"{what} runs models of {', '.join(able) or 'no framework'}; got {got}")
    return adapter


def model_inputs(model: Any, shape: Any, what: str) -> Any:
    """Random inputs of ``shape`` for ``model``, made by its framework's adapter."""
    make = adapter_for(model, "make_inputs", what).make_inputs
    assert make is not None  # adapter_for checked it
    return make(model, shape)


def time_model(
    model: Any,
    inputs: Any = None,
    *,
    input_shape: Any = None,
    training: bool = False,
    warmup: int = 2,
    repeats: int = 10,
    layers: bool = True,
    name: str | None = None,
) -> Timing:
    """Time ``model`` on ``inputs`` (see the module doc). The model is left as it was."""
    timer = adapter_for(model, "timer", "--time").timer
    assert timer is not None  # adapter_for checked it
    if repeats < 1 or warmup < 0:
        raise HardwareError(f"repeats must be >= 1 and warmup >= 0 (got {repeats}, {warmup})")
    if inputs is None:
        if input_shape is None:
            raise HardwareError("pass inputs=... or input_shape=... so the model can be timed")
        inputs = model_inputs(model, input_shape, "--time")
    try:
        times = timer(model, inputs, training=training, warmup=warmup, repeats=repeats, layers=layers)
    except HardwareError:
        raise
    except Exception as error:
        raise ProfilingError(
            f"timing {name or type(model).__name__} failed: {type(error).__name__}: {error}"
        ) from error
    return Timing(
        model=name or type(model).__name__,
        latency_s=statistics.median(times.samples_s),
        samples_s=tuple(times.samples_s),
        accelerator=times.accelerator,
        warmup=warmup,
        repeats=repeats,
        training=training,
        layer_s={k: statistics.median(v) for k, v in times.layer_samples_s.items() if v},
        layer_types=dict(times.layer_types),
    )


def utilisation(profile: ModelProfile, timing: Timing, device: Device | str, dtype: str | None = None) -> Utilisation:
    """MFU of a measured run: ``profile``'s counted FLOPs / (``timing``'s latency x the
    dense peak of ``device`` at ``dtype``), per model and per top-level module."""
    from .roofline import default_dtype

    dev = get_device(device) if isinstance(device, str) else device
    key = normalize_dtype(dtype) if dtype is not None else default_dtype(profile)
    peak = dev.matrix_peak(key)
    if profile.training != timing.training:
        raise HardwareError(
            "the profile and the timing must both be of inference or both of a training step "
            f"(profile training={profile.training}, timing training={timing.training})"
        )
    flops = profile.flops
    latency = timing.latency_s
    forward: dict[str, int] = {}
    for record in profile.records:
        if record.phase == "forward":
            top = record.scope.split(".", 1)[0]
            forward[top] = forward.get(top, 0) + record.flops
    rows = []
    for scope, seconds in timing.layer_s.items():
        layer_flops = forward.get(scope, 0)
        achieved = layer_flops / seconds if seconds > 0 else 0.0
        rows.append(
            LayerUtilisation(
                scope=scope,
                type=timing.layer_types.get(scope, ""),
                flops=layer_flops,
                seconds=seconds,
                achieved_flops=achieved,
                mfu=achieved / peak,
            )
        )
    achieved = flops / latency if latency > 0 else 0.0
    return Utilisation(
        model=profile.model,
        device=dev.name,
        dtype=key,
        peak_flops=peak,
        flops=flops,
        latency_s=latency,
        achieved_flops=achieved,
        mfu=achieved / peak,
        layers=tuple(rows),
        timing=timing,
    )
