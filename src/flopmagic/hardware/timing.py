"""Measured utilisation: run the workload, time it, and divide counted FLOPs by time x peak.

``time_model`` runs a PyTorch model as flopmagic profiles it (inference: eval mode under
``no_grad``; training: train mode, forward and a backward of ``sum(outputs)`` through
``torch.autograd.grad``, which writes no ``.grad``): ``warmup`` untimed runs, then
``repeats`` timed ones (``time.perf_counter``; on CUDA ``torch.cuda.synchronize()``
before each clock read, so the time is the device's, not the launch queue's). The
latency is the median.

Per top-level module (the model's direct children), a second set of runs times each
forward call with *global* forward pre/post hooks (the model's own hook dictionaries
are never touched; the hooks are removed afterwards, also on error). These runs are
separate from the end-to-end ones, so the synchronisation in the hooks does not slow
the model's latency. Everything the runs could change (training flags, buffers such
as BatchNorm statistics, ``.grad``, hooks) is restored afterwards.

MFU (model FLOPs utilisation, PaLM, Chowdhery et al. 2022) = counted FLOPs /
(latency x the dtype's dense peak): the counted FLOPs are flopmagic's (measured
backward included for a training step), never 6N per token, and the peak is the dense
matrix peak, never the sparsity figure.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import HardwareError, ProfilingError
from ..schema import ModelProfile
from .catalogue import Device, get_device, normalize_dtype

__all__ = ["LayerUtilisation", "Timing", "Utilisation", "time_model", "utilisation"]


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


def _is_cuda(model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    import torch
    from torch.utils._pytree import tree_leaves

    for tensor in [*model.parameters(), *model.buffers(), *tree_leaves((args, dict(kwargs)))]:
        if isinstance(tensor, torch.Tensor):
            if tensor.device.type == "meta":
                raise HardwareError("cannot time a model on the meta device: it computes nothing")
            if tensor.device.type == "cuda":
                return True
    return False


@contextlib.contextmanager
def _restored(model: Any) -> Iterator[None]:
    from ..adapters.torch.state import ModelStateGuard

    guard = ModelStateGuard(model)
    try:
        yield
    finally:
        guard.restore()


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
    import torch

    from ._torchrun import make_inputs, split_inputs, surrogate_loss

    if not isinstance(model, torch.nn.Module):
        raise HardwareError(f"--time runs PyTorch models; got a {type(model).__name__}")
    if repeats < 1 or warmup < 0:
        raise HardwareError(f"repeats must be >= 1 and warmup >= 0 (got {repeats}, {warmup})")
    if inputs is None:
        if input_shape is None:
            raise HardwareError("pass inputs=... or input_shape=... so the model can be timed")
        inputs = make_inputs(model, input_shape)
    args, kwargs = split_inputs(inputs)
    cuda = _is_cuda(model, args, kwargs)
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    params = [p for p in model.parameters() if p.requires_grad]

    def run() -> None:
        if training:
            loss = surrogate_loss(model(*args, **kwargs))
            torch.autograd.grad(loss, params, allow_unused=True)
        else:
            model(*args, **kwargs)

    samples: list[float] = []
    layer_samples: dict[str, list[float]] = {}
    children = list(model.named_children())
    types = {n: type(m).__name__ for n, m in children}
    try:
        with _restored(model), contextlib.ExitStack() as stack:
            model.train(training)
            stack.enter_context(torch.enable_grad() if training else torch.no_grad())
            for _ in range(warmup):
                run()
            sync()
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                sync()
                samples.append(time.perf_counter() - start)
            if layers and children:
                layer_samples = _time_children(children, run, repeats, sync)
    except HardwareError:
        raise
    except Exception as error:
        raise ProfilingError(
            f"timing {name or type(model).__name__} failed: {type(error).__name__}: {error}"
        ) from error
    return Timing(
        model=name or type(model).__name__,
        latency_s=statistics.median(samples),
        samples_s=tuple(samples),
        accelerator="cuda" if cuda else "cpu",
        warmup=warmup,
        repeats=repeats,
        training=training,
        layer_s={k: statistics.median(v) for k, v in layer_samples.items() if v},
        layer_types=types,
    )


def _time_children(
    children: list[tuple[str, Any]], run: Callable[[], None], repeats: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Median-ready forward seconds of each top-level module, per run (repeat calls summed)."""
    import torch

    names = {id(m): n for n, m in children}
    starts: dict[int, list[float]] = {}
    totals: dict[str, float] = {}

    def pre(module: Any, args: Any) -> None:
        key = id(module)
        if key in names:
            sync()
            starts.setdefault(key, []).append(time.perf_counter())

    def post(module: Any, args: Any, output: Any) -> None:
        key = id(module)
        stack = starts.get(key)
        if key in names and stack:
            sync()
            name = names[key]
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - stack.pop()

    handles = [
        torch.nn.modules.module.register_module_forward_pre_hook(pre),
        torch.nn.modules.module.register_module_forward_hook(post, always_call=True),
    ]
    result: dict[str, list[float]] = {}
    try:
        for _ in range(repeats):
            totals.clear()
            starts.clear()
            run()
            sync()
            for name, seconds in totals.items():
                result.setdefault(name, []).append(seconds)
    finally:
        for handle in handles:
            handle.remove()
    return result


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
