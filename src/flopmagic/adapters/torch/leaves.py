"""Leaf modules whose aten ops are known from the module and its input: the fast path.

Recording an op through the dispatch mode costs a Python round trip per op, the
same for every dispatch-level counter (the "dispatch floor"). For the standard
``torch.nn`` leaves (convolutions, batch and layer norm, linear layers, the common
activations) the ops a call issues are a fixed function of the module's settings
and its input's shape, so the recorder may run such a call with the dispatch mode
set aside and then note the ops it would have seen, with the same arguments
(:func:`replay`): the records, and so every count, are those of the dispatch path.

What makes that safe:

- only the exact classes below (a subclass may override ``forward``), with no hooks
  of their own, one positional plain-tensor input, and a settings ``variant`` this
  module knows (anything else, e.g. a string ``padding`` or a non-contiguous input
  to ``Linear``, takes the dispatch path);
- the first call of each variant in a process is *checked*: it runs through the
  dispatch mode, its replay is compared op by op with what the dispatch mode saw,
  and a variant that differs is never replayed (it keeps the dispatch path), so a
  PyTorch whose kernels decompose differently costs speed, never a number.
  ``tests/test_torch_leaves.py`` holds the replays equal on many shapes and settings.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Leaf", "Note", "Replay", "leaf_of"]

_aten = torch.ops.aten

# Note(op, args, kwargs, output): record one aten op as the dispatch mode would have seen it
Note = Callable[[Any, tuple[Any, ...], dict[str, Any], Any], None]
Replay = Callable[[nn.Module, torch.Tensor, Any, Note], None]

_empty_cache: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _empty(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A 0-element tensor like the kernels return for unused outputs (shared: never written)."""
    key = (dtype, device)
    found = _empty_cache.get(key)
    if found is None:
        found = _empty_cache[key] = torch.empty(0, dtype=dtype, device=device)
    return found


# -- convolutions ---------------------------------------------------------------------------


def _conv_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        return None
    if x.dim() != len(module.kernel_size) + 2:  # unbatched input: unsqueeze/squeeze around it
        return None
    return module._parameters.get("bias") is None


def _conv_config(module: Any) -> Hashable:
    return (module.stride, module.padding, module.dilation, module.groups)


def _conv(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    n = len(module.kernel_size)
    note(
        _aten.convolution.default,
        (
            x,
            module.weight,
            module.bias,
            list(module.stride),
            list(module.padding),
            list(module.dilation),
            False,
            [0] * n,
            module.groups,
        ),
        {},
        out,
    )


# -- normalisation ----------------------------------------------------------------------------


def _batch_norm_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    # eval with running statistics only: training mode updates them (another kernel path)
    buffers = module._buffers
    if module.training or buffers.get("running_mean") is None or buffers.get("running_var") is None:
        return None
    params = module._parameters
    return (params.get("weight") is None, params.get("bias") is None, module.momentum is None)


def _batch_norm_config(module: Any) -> Hashable:
    mean = module._buffers["running_mean"]
    return (module.momentum, module.eps, mean.shape, mean.dtype)


def _batch_norm(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    scratch = _empty(torch.uint8, x.device)
    note(
        _aten.empty.memory_format,
        ([0],),
        {"dtype": torch.uint8, "layout": torch.strided, "device": x.device},
        scratch,
    )
    momentum = 0.0 if module.momentum is None else module.momentum
    unused = _empty(x.dtype, x.device)
    note(
        _aten.native_batch_norm.default,
        (x, module.weight, module.bias, module.running_mean, module.running_var, False, momentum, module.eps),
        {},
        (out, unused, unused),
    )


def _layer_norm_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    params = module._parameters
    return (params.get("weight") is None, params.get("bias") is None, len(module.normalized_shape))


def _layer_norm_config(module: Any) -> Hashable:
    return (tuple(module.normalized_shape), module.eps)


def _layer_norm(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    kept = x.dim() - len(module.normalized_shape)
    stats_shape = (*x.shape[:kept], *([1] * len(module.normalized_shape)))
    stats = torch.empty(stats_shape, dtype=_stats_dtype(x.dtype), device=x.device)
    note(
        _aten.native_layer_norm.default,
        (x, list(module.normalized_shape), module.weight, module.bias, module.eps),
        {},
        (out, stats, stats),
    )


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    # reduced-precision inputs keep float32 statistics on CPU; the check catches any other rule
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


# -- linear ---------------------------------------------------------------------------------------


def _linear_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    if not x.is_contiguous():  # a strided input is copied first: other ops
        return None
    return (module._parameters.get("bias") is None, min(x.dim(), 3))


def _linear(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    weight, bias = module.weight, module.bias
    transposed = weight.t()
    if x.dim() == 2:
        note(_aten.t.default, (weight,), {}, transposed)
        if bias is None:
            note(_aten.mm.default, (x, transposed), {}, out)
        else:
            note(_aten.addmm.default, (bias, x, transposed), {}, out)
        return
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    flat = x.view(rows, x.shape[-1])
    flat_out = out.view(rows, out.shape[-1])
    if bias is None:
        note(_aten.t.default, (weight,), {}, transposed)
        note(_aten.view.default, (x, [rows, x.shape[-1]]), {}, flat)
        note(_aten.mm.default, (flat, transposed), {}, flat_out)
        note(_aten._unsafe_view.default, (flat_out, list(out.shape)), {}, out)
    else:
        note(_aten.view.default, (x, [rows, x.shape[-1]]), {}, flat)
        note(_aten.t.default, (weight,), {}, transposed)
        note(_aten.addmm.default, (bias, flat, transposed), {}, flat_out)
        note(_aten.view.default, (flat_out, list(out.shape)), {}, out)


# -- activations and pass-throughs ------------------------------------------------------------------


def _inplace_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    return bool(getattr(module, "inplace", False))


def _unary(name: str) -> Replay:
    plain, inplace = getattr(_aten, name).default, getattr(_aten, name + "_").default

    def replay_unary(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
        note(inplace if getattr(module, "inplace", False) else plain, (x,), {}, out)

    return replay_unary


def _no_config(module: Any) -> Hashable:
    return ()


def _hardtanh_config(module: Any) -> Hashable:
    return (type(module.min_val), module.min_val, type(module.max_val), module.max_val)


def _hardtanh(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    op = _aten.hardtanh_.default if module.inplace else _aten.hardtanh.default
    note(op, (x, module.min_val, module.max_val), {}, out)


def _gelu_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    return str(module.approximate)


def _gelu(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    kwargs = {} if module.approximate == "none" else {"approximate": module.approximate}
    note(_aten.gelu.default, (x,), kwargs, out)


def _nothing_variant(module: Any, x: torch.Tensor) -> Hashable | None:
    # dropout runs no op in eval (F.dropout returns its input); Identity never does
    return None if module.training and isinstance(module, nn.Dropout) else True


def _nothing(module: Any, x: torch.Tensor, out: Any, note: Note) -> None:
    return None


# what a call's ops depend on beyond its variant and the shapes and dtypes of its input,
# output and parameters (those are in every key)
Config = Callable[[Any], Hashable]
Variant = Callable[[Any, torch.Tensor], Hashable | None]


class _Kind(NamedTuple):
    """One leaf class: its variant and settings functions, its replay, and what its forward
    relies on: the class attributes it runs (``forward``, ``_conv_forward``) and the
    ``torch.nn.functional`` functions it calls, as they were when flopmagic was imported (a
    library that patches either, as ptflops and calflops patch the functionals while they
    count, runs code the replay does not know: such a call takes the dispatch path), and
    whether the class holds ``weight`` and ``bias`` parameters."""

    variant: Variant
    config: Config
    replay: Replay
    methods: tuple[tuple[str, Any], ...]
    functionals: tuple[tuple[str, Any], ...]
    weighted: bool


def _kind(cls: type, variant: Variant, config: Config, replay: Replay, functionals: tuple[str, ...]) -> _Kind:
    methods = tuple(
        (name, cls.__dict__.get(name) or getattr(cls, name))
        for name in ("forward", "_conv_forward")
        if hasattr(cls, name)
    )
    originals = tuple((name, getattr(F, name)) for name in functionals)
    weighted = issubclass(cls, (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.Linear))
    return _Kind(variant, config, replay, methods, originals, weighted)


_LEAVES: dict[type, _Kind] = {
    nn.Conv1d: _kind(nn.Conv1d, _conv_variant, _conv_config, _conv, ("conv1d",)),
    nn.Conv2d: _kind(nn.Conv2d, _conv_variant, _conv_config, _conv, ("conv2d",)),
    nn.Conv3d: _kind(nn.Conv3d, _conv_variant, _conv_config, _conv, ("conv3d",)),
    nn.BatchNorm1d: _kind(nn.BatchNorm1d, _batch_norm_variant, _batch_norm_config, _batch_norm, ("batch_norm",)),
    nn.BatchNorm2d: _kind(nn.BatchNorm2d, _batch_norm_variant, _batch_norm_config, _batch_norm, ("batch_norm",)),
    nn.BatchNorm3d: _kind(nn.BatchNorm3d, _batch_norm_variant, _batch_norm_config, _batch_norm, ("batch_norm",)),
    nn.LayerNorm: _kind(nn.LayerNorm, _layer_norm_variant, _layer_norm_config, _layer_norm, ("layer_norm",)),
    nn.Linear: _kind(nn.Linear, _linear_variant, _no_config, _linear, ("linear",)),
    nn.ReLU: _kind(nn.ReLU, _inplace_variant, _no_config, _unary("relu"), ("relu",)),
    nn.SiLU: _kind(nn.SiLU, _inplace_variant, _no_config, _unary("silu"), ("silu",)),
    nn.Hardswish: _kind(nn.Hardswish, _inplace_variant, _no_config, _unary("hardswish"), ("hardswish",)),
    nn.ReLU6: _kind(nn.ReLU6, _inplace_variant, _hardtanh_config, _hardtanh, ("hardtanh",)),
    nn.Hardtanh: _kind(nn.Hardtanh, _inplace_variant, _hardtanh_config, _hardtanh, ("hardtanh",)),
    nn.GELU: _kind(nn.GELU, _gelu_variant, _no_config, _gelu, ("gelu",)),
    nn.Dropout: _kind(nn.Dropout, _nothing_variant, _no_config, _nothing, ("dropout",)),
    nn.Identity: _kind(nn.Identity, _nothing_variant, _no_config, _nothing, ()),
}


# A leaf call that may take the fast path: (variant, replay, key). The variant is what the op
# sequence depends on (the first call of each is checked); the key, everything the replayed
# ops depend on (variant, settings, parameter shapes and dtypes, input shape), under which they
# are kept for the next call with the same key. A plain tuple: one is made per leaf call.
Leaf = tuple[Hashable, Replay, Hashable]

_PARAMETER = nn.Parameter


def _weights(module: nn.Module, weighted: bool) -> Hashable | None:
    """The parameters' shapes and dtypes; None when they are not what the replay reads:
    ``weight`` and ``bias`` held elsewhere than in ``_parameters`` (assigned as plain
    tensors or buffers), or a tensor subclass (its ``__torch_function__`` runs other ops)."""
    params = module._parameters
    if weighted and ("weight" not in params or "bias" not in params):
        return None
    weight, bias = params.get("weight"), params.get("bias")
    if (weight is not None and type(weight) is not _PARAMETER) or (bias is not None and type(bias) is not _PARAMETER):
        return None
    return (
        None if weight is None else weight.shape,
        None if weight is None else weight.dtype,
        None if bias is None else bias.shape,
        len(params),  # any other parameter (none in these classes) changes the key
    )


def leaf_of(module: nn.Module, args: tuple[Any, ...]) -> Leaf | None:
    """The fast-path description of the call ``module(*args)``, or None when the call
    must take the dispatch path."""
    kind = _LEAVES.get(type(module))
    if kind is None or len(args) != 1:
        return None
    x = args[0]
    # a plain tensor with elements (kernels skip empty inputs, with other ops)
    if type(x) is not torch.Tensor or not x.numel():
        return None
    # hooks of the module's own (weight norm, pruning, user hooks) may run ops of their own
    if (
        module._forward_pre_hooks
        or module._forward_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or "forward" in module.__dict__
    ):
        return None
    cls = type(module)
    for name, original in kind.methods:
        if getattr(cls, name) is not original:
            return None
    for name, original in kind.functionals:
        if getattr(F, name) is not original:
            return None
    weights = _weights(module, kind.weighted)
    if weights is None:
        return None
    settings = kind.variant(module, x)
    if settings is None:
        return None
    variant = (cls, settings, x.dtype, x.device, x.dim(), x.is_contiguous())
    return variant, kind.replay, (variant, kind.config(module), weights, x.shape)
