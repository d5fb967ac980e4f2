"""Profile a PyTorch module with the exact counter.

Inference (default): eval mode under ``torch.no_grad()``, as a deployed model
runs (this is when ``nn.MultiheadAttention`` takes its fused fast path).
Training (``training=True``): train mode, forward, then a measured backward of
``sum(outputs)`` through ``torch.autograd.grad`` (no ``.grad`` is written).
Either way the model is restored afterwards, also when it raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..._collector import collector_paused
from ...engine import assemble, price_ops
from ...errors import ProfilingError
from ...pricing import Override
from ...schema import LayerInfo, ModelProfile, TensorInfo
from ..base import input_shapes
from . import sdpa_scope
from .recorder import RawCall, Recorder, Root
from .state import ModelStateGuard

__all__ = [
    "build_profile",
    "loose_profile",
    "make_inputs",
    "profile_module",
    "signature",
    "split_inputs",
    "torch_versions",
]

InputShape = Sequence[int] | Sequence[Sequence[int]]


def torch_versions() -> dict[str, str]:
    from ..._version import __version__

    return {"flopmagic": __version__, "torch": torch.__version__.split("+")[0]}


def _model_device(model: torch.nn.Module) -> torch.device:
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def _named_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """``list(model.named_modules(remove_duplicate=False))`` without its nested generators:
    pre-order, every path to a shared module listed (tests/test_torch_adapter.py holds the
    two equal)."""
    found: list[tuple[str, torch.nn.Module]] = []
    pending: list[tuple[str, torch.nn.Module]] = [("", model)]
    while pending:
        name, module = pending.pop()
        found.append((name, module))
        children = module._modules
        if children:
            prefix = name + "." if name else ""
            pending.extend(
                (prefix + child_name, child) for child_name, child in reversed(children.items()) if child is not None
            )
    return found


def _unique(tensors: Iterator[torch.Tensor | None]) -> list[torch.Tensor]:
    """Tensors in order, each once (tied weights are one tensor), as ``model.parameters()`` gives them."""
    return list({id(t): t for t in tensors if t is not None}.values())


def _float_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def make_inputs(
    model: torch.nn.Module,
    input_shape: InputShape,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, ...]:
    """Tensors of the given shape(s) on the model's device: random floats in the
    model's dtype, or zeros for integer dtypes (token ids)."""
    shapes = input_shapes(input_shape)
    target = torch.device(device) if device is not None else _model_device(model)
    kind = dtype or _float_dtype(model)
    tensors = []
    for shape in shapes:
        if kind.is_floating_point:
            tensors.append(torch.randn(*shape, dtype=kind, device=target))
        else:
            tensors.append(torch.zeros(*shape, dtype=kind, device=target))
    return tuple(tensors)


def split_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, (list, tuple)):
        return tuple(inputs), {}
    raise ProfilingError(
        f"inputs of type {type(inputs).__name__} are not supported: pass a tensor, a tuple of "
        "positional arguments, or a dict of keyword arguments"
    )


def signature(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[TensorInfo, ...]:
    from torch.utils._pytree import keystr, tree_flatten_with_path

    infos = []
    for prefix, tree in (("args", list(args)), ("kwargs", dict(kwargs))):
        leaves, _ = tree_flatten_with_path(tree)
        for path, leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                name = keystr(path)
                name = name.strip("[]'\"") if prefix == "kwargs" else f"args{name}"
                infos.append(TensorInfo(name, tuple(int(d) for d in leaf.shape), str(leaf.dtype).replace("torch.", "")))
    return tuple(infos)


def _surrogate_loss(output: Any) -> torch.Tensor:
    from torch.utils._pytree import tree_leaves

    leaves = [
        t for t in tree_leaves(output) if isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
    ]
    if not leaves:
        raise ProfilingError(
            "training=True needs an output that depends on parameters with requires_grad=True; "
            "this model's outputs do not (are all its parameters frozen?)"
        )
    total = leaves[0].sum()
    for leaf in leaves[1:]:
        total = total + leaf.sum()
    return total


@contextlib.contextmanager
def _mode_flags(modules: list[torch.nn.Module], training: bool) -> Iterator[None]:
    """Set train/eval on every module (the state guard restores the user's flags)."""
    for module in modules:
        module.__dict__["training"] = training  # a plain attribute: skip nn.Module.__setattr__
    yield


def build_profile(
    root: Root,
    *,
    name: str,
    inputs: tuple[TensorInfo, ...],
    params: Sequence[torch.Tensor],
    buffers: Sequence[torch.Tensor],
    training: bool,
    overrides: Mapping[str, Override] | None,
    notes: Sequence[str] = (),
) -> ModelProfile:
    """Price a root's raw calls and assemble the profile (flopmagic convention)."""
    classes = {s.scope: s.module_class for s in root.layers.values()}  # tools that hook exact types
    # one cache for the model: ops that share a spec object (one signature) are priced once
    records = price_ops(root.calls, overrides=overrides, naming=aten_naming, module_classes=classes, cache={})
    # one pass over the parameters: bytes by dtype, trainable and frozen element counts
    by_dtype: dict[torch.dtype, int] = {}
    trainable = frozen = 0
    for tensor in params:
        count = tensor.numel()
        by_dtype[tensor.dtype] = by_dtype.get(tensor.dtype, 0) + count * tensor.element_size()
        if tensor.requires_grad:
            trainable += count
        else:
            frozen += count
    param_bytes = {str(dtype).replace("torch.", ""): size for dtype, size in by_dtype.items()}
    layers = tuple(
        LayerInfo(
            scope=s.scope,
            type=s.type,
            calls=s.calls,
            output_shapes=s.output_shapes,
            params=s.params,
            module_class=s.module_class,
        )
        for s in root.layers.values()
    )
    return assemble(
        model=name,
        framework="torch",
        records=records,
        params=trainable + frozen,
        layers=layers,
        inputs=inputs,
        param_bytes=param_bytes,
        param_counts={
            "trainable": trainable,
            "non_trainable": frozen,
            "buffers": sum(b.numel() for b in buffers),
        },
        versions=torch_versions(),
        notes=notes,
        training=training,
    )


def loose_profile(calls: Sequence[RawCall]) -> ModelProfile | None:
    """Torch ops run outside any nn.Module (a cell's own tensor code), as their own
    profile when they computed anything."""
    records = price_ops(calls, naming=aten_naming, cache={})
    if not any(r.macs or r.flops or r.method == "unsupported" for r in records):
        return None
    return assemble(
        model="(ops outside modules)",
        framework="torch",
        records=records,
        params=0,
        versions=torch_versions(),
        notes=("torch ops the cell ran outside any nn.Module (tensor code of its own)",),
    )


def aten_naming(native: str) -> tuple[str, tuple[str, ...]]:
    """``aten.convolution.default`` -> records named ``convolution``; an override may be
    keyed by the packet ``aten.convolution``."""
    packet = ".".join(native.split(".")[:2])
    return (packet.split(".", 1)[1] if native.startswith("aten.") else native), (packet,)


def _meta_stand_ins(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Meta tensors shaped like the model's parameters and buffers: nothing is allocated."""
    params = {
        n: torch.empty_like(t, device="meta").requires_grad_(t.requires_grad) for n, t in model.named_parameters()
    }
    buffers = {n: torch.empty_like(t, device="meta") for n, t in model.named_buffers()}
    return params, buffers


def _to_meta(value: Any) -> Any:
    from torch.utils._pytree import tree_map

    return tree_map(lambda t: torch.empty_like(t, device="meta") if isinstance(t, torch.Tensor) else t, value)


def _needs_data(error: BaseException) -> bool:
    """Whether a meta run failed because an op needed real values (or has no meta kernel)."""
    text = str(error)
    return isinstance(error, NotImplementedError) or "meta tensor" in text or "data-dependent" in text


def profile_module(
    model: torch.nn.Module,
    inputs: Any = None,
    *,
    input_shape: InputShape | None = None,
    training: bool = False,
    device: str | None = None,
    overrides: Mapping[str, Override] | None = None,
    name: str | None = None,
) -> ModelProfile:
    """Run ``model`` once under the recorder and return its profile.

    Args:
        inputs: a tensor, a tuple of positional arguments or a dict of keyword
            arguments; or None with ``input_shape``.
        input_shape: shape(s) of random inputs to make on the model's device.
        training: count a training step: forward in train mode + measured backward.
        device: ``"meta"`` to run without allocating weights or activations. A
            model whose parameters are on the meta device is always run this way.
            Scaled dot-product attention is then recorded as one op, as the CPU
            runs it, so meta and real profiles agree.
        overrides: prices for ops flopmagic has no formula for, keyed by native
            name (``"aten.sort"``) or canonical op.
    """
    if not isinstance(model, torch.nn.Module):
        raise ProfilingError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if inputs is None and input_shape is None:
        raise ProfilingError("pass inputs=... or input_shape=... so the model can be run once")
    if device not in (None, "meta"):
        raise ProfilingError(f"device={device!r} is not supported: use None (the model's device) or 'meta'")
    display_name = name or type(model).__name__

    # one walk of the module tree serves the recorder, the state guard and the profile
    named = _named_modules(model)
    modules = list({id(m): m for _, m in named}.values())
    params = _unique(p for m in modules for p in m._parameters.values())
    buffers = _unique(b for m in modules for b in m._buffers.values())
    first = next(iter(params or buffers), None)
    on_meta = first is not None and first.device.type == "meta"
    meta = device == "meta" or on_meta
    stand_ins: dict[str, torch.Tensor] | None = None
    if meta and not on_meta:
        # real weights: meta stand-ins are swapped in by functional_call, which puts the originals back
        meta_params, meta_buffers = _meta_stand_ins(model)
        stand_ins = {**meta_params, **meta_buffers}
        params = list(meta_params.values())

    if inputs is None:
        assert input_shape is not None
        args: tuple[Any, ...] = make_inputs(model, input_shape, device="meta" if meta else None)
        kwargs: dict[str, Any] = {}
    else:
        args, kwargs = split_inputs(inputs)
        if meta:
            args, kwargs = _to_meta(args), _to_meta(kwargs)

    guard = ModelStateGuard(model, modules, params if stand_ins is None else None)
    # inference on real tensors: the standard leaves may skip the dispatch mode (.leaves)
    recorder = Recorder(track_backward=training, overrides=overrides, fast=not training and not meta)
    root = recorder.add_root(model, params, named=named)

    def call() -> Any:
        if stand_ins is not None:
            from torch.func import functional_call

            return functional_call(model, stand_ins, args, kwargs)
        return model(*args, **kwargs)

    restored: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_mode_flags(modules, training))
            stack.enter_context(recorder.hooks())
            stack.enter_context(sdpa_scope.marked())  # SDPA's records labelled as issued inside it
            stack.enter_context(collector_paused())
            if training:
                stack.enter_context(torch.enable_grad())
                with recorder.active(meta=meta):
                    output = call()
                loss = _surrogate_loss(output)
                recorder.phase = "backward"
                with recorder.active(meta=meta):
                    torch.autograd.grad(loss, [p for p in params if p.requires_grad], allow_unused=True)
            else:
                stack.enter_context(torch.no_grad())
                with recorder.active(meta=meta):
                    call()
    except ProfilingError:
        raise
    except Exception as error:
        hint = ""
        if meta and _needs_data(error):
            hint = " (an op needs the tensors' values, which a meta run does not have: profile with real tensors)"
        raise ProfilingError(f"running {display_name} failed{hint}: {type(error).__name__}: {error}") from error
    finally:
        restored = guard.restore()
    return build_profile(
        root,
        name=display_name,
        inputs=signature(args, kwargs),
        params=params,
        buffers=buffers,
        training=training,
        overrides=overrides,
        notes=restored,
    )
