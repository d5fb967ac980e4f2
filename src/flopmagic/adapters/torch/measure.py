"""The PyTorch adapter's measurements for ``flopmagic.hardware``: timing a module (end to
end and per top-level module), the bytes autograd saves for backward, and the GEMM/copy
micro-benchmarks that calibrate the ``local`` devices.

Timing runs the model as flopmagic profiles it (inference: eval mode under ``no_grad``;
training: train mode, forward and a backward of ``sum(outputs)`` through
``torch.autograd.grad``, which writes no ``.grad``): ``warmup`` untimed runs, then
``repeats`` timed ones (``time.perf_counter``; on CUDA ``torch.cuda.synchronize()``
before each clock read, so the time is the device's, not the launch queue's).

Per top-level module (the model's direct children), a second set of runs times each
forward call with *global* forward pre/post hooks (the model's own hook dictionaries
are never touched; the hooks are removed afterwards, also on error). These runs are
separate from the end-to-end ones, so the synchronisation in the hooks does not slow
the model's latency. Everything the runs could change (training flags, buffers such
as BatchNorm statistics, ``.grad``, hooks) is restored afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from ...errors import HardwareError
from ..base import CalibrationTarget, MeasuredRates, RunTimes, SavedActivations
from .run_module import _surrogate_loss, split_inputs
from .state import ModelStateGuard

__all__ = ["calibration_target", "measure_rates", "saved_activations", "time_module"]


def _is_cuda(model: torch.nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    from torch.utils._pytree import tree_leaves

    for tensor in [*model.parameters(), *model.buffers(), *tree_leaves((args, dict(kwargs)))]:
        if isinstance(tensor, torch.Tensor):
            if tensor.device.type == "meta":
                raise HardwareError("cannot time a model on the meta device: it computes nothing")
            if tensor.device.type == "cuda":
                return True
    return False


@contextlib.contextmanager
def _restored(model: torch.nn.Module) -> Iterator[None]:
    guard = ModelStateGuard(model)
    try:
        yield
    finally:
        guard.restore()


def time_module(model: Any, inputs: Any, *, training: bool, warmup: int, repeats: int, layers: bool) -> RunTimes:
    """Time ``model`` on ``inputs`` (see the module doc). The model is left as it was."""
    if not isinstance(model, torch.nn.Module):
        raise HardwareError(f"the PyTorch timer runs torch.nn.Module models; got a {type(model).__name__}")
    args, kwargs = split_inputs(inputs)
    cuda = _is_cuda(model, args, kwargs)
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    params = [p for p in model.parameters() if p.requires_grad]

    def run() -> None:
        if training:
            loss = _surrogate_loss(model(*args, **kwargs))
            torch.autograd.grad(loss, params, allow_unused=True)
        else:
            model(*args, **kwargs)

    samples: list[float] = []
    layer_samples: dict[str, list[float]] = {}
    children = list(model.named_children())
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
    return RunTimes(
        samples_s=tuple(samples),
        accelerator="cuda" if cuda else "cpu",
        layer_samples_s={k: tuple(v) for k, v in layer_samples.items()},
        layer_types={n: type(m).__name__ for n, m in children},
    )


def _time_children(
    children: list[tuple[str, torch.nn.Module]], run: Callable[[], None], repeats: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Forward seconds of each top-level module, per run (repeat calls summed)."""
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


def saved_activations(model: Any, inputs: Any) -> SavedActivations:
    """Bytes autograd saves for backward in one training-mode forward (and the surrogate
    loss), measured with ``saved_tensors_hooks``: each storage once, parameters excluded.
    The model is left as it was."""
    args, kwargs = split_inputs(inputs)
    params = {id(p) for p in model.parameters()}
    seen: set[Any] = set()
    keep: list[torch.Tensor] = []
    totals = {"float": 0, "other": 0, "float_elem": 0}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        base = tensor._base if tensor._base is not None else tensor
        if id(tensor) in params or id(base) in params:
            return tensor
        if base.device.type == "meta":
            key: Any = id(base)
            keep.append(base)
            nbytes = base.numel() * base.element_size()
        else:
            storage = base.untyped_storage()
            key = storage.data_ptr()
            nbytes = storage.nbytes()
        if key in seen:
            return tensor
        seen.add(key)
        if base.is_floating_point():
            totals["float"] += nbytes
            totals["float_elem"] = base.element_size()
        else:
            totals["other"] += nbytes
        return tensor

    try:
        with _restored(model), torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.train(True)
            output = model(*args, **kwargs)
            _surrogate_loss(output)  # the loss's own saved tensors are part of the step
    finally:
        keep.clear()
    return SavedActivations(
        floating_bytes=totals["float"],
        floating_element_bytes=totals["float_elem"],
        other_bytes=totals["other"],
        method="saved_tensors_hooks",
    )


# -- calibration --------------------------------------------------------------------------------
def calibration_target(accelerator: str) -> CalibrationTarget:
    """What calibrating ``accelerator`` with this PyTorch would measure.

    Raises:
        HardwareError: ``cuda`` asked for and no CUDA device is available.
    """
    library = f"torch {torch.__version__.split('+')[0]}"
    if accelerator == "cuda":
        if not torch.cuda.is_available():
            raise HardwareError("local-cuda: no CUDA device is available to calibrate")
        memory = int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
        return CalibrationTarget(library, torch.get_num_threads(), torch.cuda.get_device_name(), memory)
    return CalibrationTarget(library, torch.get_num_threads())


def _best(run: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    run()  # warm-up: allocation, thread pool start, kernel selection
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def measure_rates(accelerator: str, sides: tuple[int, ...], copy_elements: int, repeats: int) -> MeasuredRates:
    """FP32 GEMMs of each side (on CUDA also BF16 and FP16 at the largest) and a streaming copy."""
    device = torch.device(accelerator)
    sync: Callable[[], None] = torch.cuda.synchronize if accelerator == "cuda" else (lambda: None)
    gemm_flops = 0.0
    extra: dict[str, float] = {}
    with torch.no_grad():
        for side in sides:
            a = torch.randn(side, side, device=device)
            b = torch.randn(side, side, device=device)
            out = torch.empty(side, side, device=device)

            def gemm(x: Any = a, y: Any = b, z: Any = out) -> None:
                torch.mm(x, y, out=z)

            gemm_flops = max(gemm_flops, 2.0 * side**3 / _best(gemm, repeats, sync))
        if accelerator == "cuda":
            n = sides[-1]
            for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
                half_a, half_b = a.to(dtype), b.to(dtype)
                half_out = torch.empty(n, n, device=device, dtype=dtype)

                def half_gemm(x: Any = half_a, y: Any = half_b, z: Any = half_out) -> None:
                    torch.mm(x, y, out=z)

                extra[name] = 2.0 * n**3 / _best(half_gemm, repeats, sync)
        src = torch.randn(copy_elements, device=device)
        dst = torch.empty_like(src)
        copy = _best(lambda: dst.copy_(src), repeats, sync)
    nbytes = copy_elements * 4
    return MeasuredRates(
        gemm_flops=gemm_flops, copy_bandwidth=2.0 * nbytes / copy, copy_bytes=nbytes, extra_flops=extra
    )
