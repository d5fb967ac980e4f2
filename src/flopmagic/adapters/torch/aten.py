"""The hand-kept table from aten ops to canonical op specs.

Each entry translates one aten op packet (``aten.convolution``) into the
:class:`~flopmagic.formulas.OpSpec` its formula prices: shapes in the canonical
layout and the attributes that matter. Translators see torch objects; formulas
never do. ``tests/test_drift.py`` checks this table against the installed torch
(every packet exists, every canonical op has a formula, every op
``FlopCounterMode`` knows is here) and runs a model zoo that must produce no
unsupported op.

An in-place variant (``aten.relu_``) falls back to its out-of-place entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ...formulas import AttrValue, OpSpec, Shape
from ...formulas.resize import GRID_SAMPLE_MODES
from .._table import TranslationTable

__all__ = ["FUNCTIONS", "TABLE", "Bound", "Translator", "lookup", "shape_of"]

Bound = Mapping[str, Any]
Translator = Callable[[Bound, Any], OpSpec]


_PLAIN = (torch.Tensor, torch.nn.Parameter)


def shape_of(value: Any) -> Shape:
    """A tensor's shape as plain ints (SymInts of static fake tensors included)."""
    shape = tuple(value.shape)
    if type(value) in _PLAIN or all(type(d) is int for d in shape):  # plain tensors hold no SymInts
        return shape
    return tuple(int(d) for d in shape)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def _out(out: Any, index: int = 0) -> Shape:
    tensors = _tensors(out)
    return shape_of(tensors[index]) if tensors else ()


TABLE: TranslationTable[Translator] = TranslationTable("aten")
_register = TABLE.register
translates = TABLE.translates


def lookup(packet: str) -> Translator | None:
    """The translator for an aten packet, or its out-of-place form for ``op_``."""
    translator = TABLE.get(packet)
    if translator is None and packet.endswith("_"):
        translator = TABLE.get(packet.rstrip("_"))
    return translator


# -- simple families ------------------------------------------------------------------


def _inputs(a: Bound) -> tuple[Shape, ...]:
    """The shapes of every tensor argument, in schema order."""
    shapes: list[Shape] = []
    for value in a.values():
        if isinstance(value, torch.Tensor):
            shapes.append(shape_of(value))
        elif isinstance(value, (list, tuple)):
            shapes.extend(shape_of(t) for t in value if isinstance(t, torch.Tensor))
    return tuple(shapes)


def _same(op: str, **attrs: AttrValue) -> Translator:
    """All tensor arguments as inputs, the (first) output as output."""

    def translate(a: Bound, out: Any) -> OpSpec:
        return OpSpec(op, _inputs(a), (_out(out),), dict(attrs))

    return translate


_MOVEMENT = {
    "view": [
        "view",
        "_unsafe_view",
        "_reshape_alias",
        "reshape",
        "permute",
        "transpose",
        "t",
        "expand",
        "squeeze",
        "unsqueeze",
        "slice",
        "select",
        "as_strided",
        "alias",
        "detach",
        "unbind",
        "split",
        "split_with_sizes",
        "unsafe_split",
        "unsafe_split_with_sizes",
        "chunk",
        "narrow",
        "diagonal",
        "lift_fresh",
        "view_as_real",
        "view_as_complex",
        "unfold",
        "_unsafe_view",
        "movedim",
        "flatten",
        "numpy_T",
        "expand_as",
        "view_as",
    ],
    "copy": [
        "clone",
        "contiguous",
        "_to_copy",
        "copy",
        "cat",
        "stack",
        "index",
        "index_select",
        "gather",
        "scatter",
        "index_put",
        "_unsafe_index",
        "_unsafe_index_put",
        "masked_fill",
        "where",
        "constant_pad_nd",
        "reflection_pad1d",
        "reflection_pad2d",
        "reflection_pad3d",
        "replication_pad1d",
        "replication_pad2d",
        "replication_pad3d",
        "roll",
        "flip",
        "repeat",
        "tril",
        "triu",
        "pixel_shuffle",
        "pixel_unshuffle",
        "native_channel_shuffle",
        "channel_shuffle",
        "im2col",
        "col2im",
        "masked_select",
        "nonzero",
        "lift_fresh_copy",
        "_local_scalar_dense",
        "fill",
        "zero",
        "masked_scatter",
        "select_scatter",
        "slice_scatter",
        "as_strided_scatter",
        "diagonal_scatter",
        "_pin_memory",
        "to",
        "type_as",
        "detach_copy",
        "_index_put_impl",
        "index_fill",
        "repeat_interleave",
        "_assert_async",
        "_assert_tensor_metadata",
        "_functional_assert_async",
        "resize",
        "set",
        # gradients of views and indexing scatter dy into zeros: data movement too
        "select_backward",
        "slice_backward",
        "index_select_backward",
        "diagonal_backward",
        "unfold_backward",
        "narrow_copy",
        "expand_copy",
        "permute_copy",
        "view_copy",
    ],
    "create": [
        "empty",
        "empty_like",
        "empty_strided",
        "zeros",
        "zeros_like",
        "ones",
        "ones_like",
        "full",
        "full_like",
        "arange",
        "linspace",
        "logspace",
        "rand",
        "rand_like",
        "randn",
        "randn_like",
        "randint",
        "randint_like",
        "randperm",
        "bernoulli",
        "normal",
        "uniform",
        "exponential",
        "scalar_tensor",
        "new_empty",
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty_strided",
        "eye",
        "tensor",
        "_efficientzerotensor",
        "empty_permuted",
    ],
}
for _kind, _ops in _MOVEMENT.items():
    for _name in dict.fromkeys(_ops):
        _register(f"aten.{_name}", _same(_kind))
# torch.autograd.profiler.record_function (nn.DataParallel.forward opens one): a profiler
# range marker, no tensor work.
_register(
    ["profiler._record_function_enter", "profiler._record_function_enter_new", "profiler._record_function_exit"],
    _same("create"),
)

_SAME_SHAPE = {
    "neg": "neg",
    "abs": "abs",
    "exp": "exp",
    "exp2": "exp",
    "expm1": "exp",
    "log": "log",
    "log2": "log",
    "log10": "log",
    "log1p": "log",
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "reciprocal": "reciprocal",
    "sin": "trig",
    "cos": "trig",
    "tan": "trig",
    "asin": "trig",
    "acos": "trig",
    "atan": "trig",
    "sinh": "trig",
    "cosh": "trig",
    "asinh": "trig",
    "acosh": "trig",
    "atanh": "trig",
    "erf": "erf",
    "erfc": "erf",
    "erfinv": "erf",
    "floor": "round",
    "ceil": "round",
    "round": "round",
    "trunc": "round",
    "frac": "round",
    "sign": "sign",
    "sgn": "sign",
    "isnan": "compare",
    "isinf": "compare",
    "isfinite": "compare",
    "isposinf": "compare",
    "isneginf": "compare",
    "nan_to_num": "nan_to_num",
    "square": "square",
    "logical_not": "compare",
    "bitwise_not": "compare",
    "signbit": "compare",
    # binary, priced per output element
    "mul": "mul",
    "div": "div",
    "true_divide": "div",
    "floor_divide": "div",
    "pow": "pow",
    "float_power": "pow",
    "maximum": "maximum",
    "minimum": "minimum",
    "fmax": "maximum",
    "fmin": "minimum",
    "remainder": "remainder",
    "fmod": "fmod",
    "atan2": "atan2",
    "eq": "compare",
    "ne": "compare",
    "lt": "compare",
    "le": "compare",
    "gt": "compare",
    "ge": "compare",
    "logical_and": "compare",
    "logical_or": "compare",
    "logical_xor": "compare",
    "bitwise_and": "compare",
    "bitwise_or": "compare",
    "bitwise_xor": "compare",
    "bitwise_left_shift": "compare",
    "bitwise_right_shift": "compare",
    "__and__": "compare",
    "__or__": "compare",
    "hypot": "hypot",
    "lerp": "lerp",
    "xlogy": "mul",
    "copysign": "sign",
    "rsub": "sub",
    # activations
    "relu": "relu",
    "hardtanh": "hardtanh",
    "threshold": "threshold",
    "leaky_relu": "leaky_relu",
    "_prelu_kernel": "prelu",
    "elu": "elu",
    "sigmoid": "sigmoid",
    "hardsigmoid": "hardsigmoid",
    "tanh": "tanh",
    "silu": "silu",
    "hardswish": "hardswish",
    "softplus": "softplus",
    "mish": "mish",
    "native_dropout": "dropout",
}
for _name, _op in _SAME_SHAPE.items():
    _register(f"aten.{_name}", _same(_op))

_REDUCE = {
    "sum": "sum",
    "mean": "mean",
    "prod": "prod",
    "amax": "max",
    "amin": "min",
    "max": "max",
    "min": "min",
    "argmax": "argmax",
    "argmin": "argmin",
    "var": "var",
    "std": "std",
    "linalg_vector_norm": "norm",
    "norm": "norm",
    "logsumexp": "logsumexp",
    "cumsum": "cumsum",
    "cumprod": "cumprod",
    "any": "compare",
    "all": "compare",
    "count_nonzero": "compare",
    "_log_softmax": "log_softmax",
    "_softmax": "softmax",
    "_safe_softmax": "softmax",
    "_masked_softmax": "softmax",
    "var_mean": "var",
    "std_mean": "std",
    "aminmax": "max",
    "cummax": "max",
    "cummin": "min",
}


def _reduce(op: str) -> Translator:
    def translate(a: Bound, out: Any) -> OpSpec:
        x = next(iter(_tensors(next(iter(a.values())))))
        outputs = _tensors(out)
        out_shape = shape_of(outputs[0]) if outputs else ()
        if op == "compare":  # any/all/count_nonzero: one test per input element
            return OpSpec(op, (shape_of(x),), (shape_of(x),))
        return OpSpec(op, (shape_of(x),), (out_shape,), {"dim": _int_or(a.get("dim"), -1)})

    return translate


def _int_or(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) else default


for _name, _op in _REDUCE.items():
    if _name != "mean":
        _register(f"aten.{_name}", _reduce(_op))


@translates("aten.mean")
def _mean(a: Bound, out: Any) -> OpSpec:
    """A mean over H and W keeping dims is global average pooling: that is what
    ``F.adaptive_avg_pool2d(x, 1)`` decomposes to before dispatch.

    The ``dims`` attribute keeps the dims as written: ``adaptive_avg_pool2d`` calls
    ``mean({-1, -2}, keepdim)``, so ``(-1, -2)`` is the pooling call and anything else
    (``x.mean((2, 3), keepdim=True)`` in timm's SE blocks) a mean the user wrote, which
    tools that price only the pooling op (fvcore, ptflops) count as 0.
    """
    x = shape_of(a["self"])
    dims = a.get("dim")
    spatial = {len(x) - 2, len(x) - 1, -1, -2}
    if len(x) == 4 and a.get("keepdim") and isinstance(dims, (list, tuple)) and len(dims) == 2 and set(dims) <= spatial:
        return OpSpec("adaptive_avg_pool", (x,), (_out(out),), {"dims": tuple(int(d) for d in dims)})
    return _reduce("mean")(a, out)


# -- arithmetic with scalars and flags -----------------------------------------------


@translates("aten.add", "aten.sub")
def _add(a: Bound, out: Any) -> OpSpec:
    alpha = a.get("alpha", 1)
    return OpSpec("add", _inputs(a), (_out(out),), {"alpha": alpha not in (1, None)})


@translates("aten.clamp", "aten.clip")
def _clamp(a: Bound, out: Any) -> OpSpec:
    bounds = int(a.get("min") is not None) + int(a.get("max") is not None)
    return OpSpec("clamp", _inputs(a), (_out(out),), {"bounds": bounds})


@translates("aten.clamp_min", "aten.clamp_max")
def _clamp_one(a: Bound, out: Any) -> OpSpec:
    return OpSpec("clamp", _inputs(a), (_out(out),), {"bounds": 1})


@translates("aten.addcmul", "aten.addcdiv")
def _addcmul(a: Bound, out: Any) -> OpSpec:
    return OpSpec("addcmul", _inputs(a), (_out(out),), {"scaled": a.get("value", 1) != 1})


@translates("aten.gelu")
def _gelu(a: Bound, out: Any) -> OpSpec:
    return OpSpec("gelu_tanh" if a.get("approximate") == "tanh" else "gelu", _inputs(a), (_out(out),))


@translates("aten.scatter_add", "aten.index_add", "aten.scatter_reduce", "aten.index_reduce")
def _scatter_add(a: Bound, out: Any) -> OpSpec:
    source = a.get("src", a.get("source"))
    return OpSpec("add", (), (shape_of(source),), {})


# -- contractions -----------------------------------------------------------------------


def _conv_spec(
    x: torch.Tensor, weight: torch.Tensor, bias: Any, transposed: bool, groups: Any, out: Any, a: Bound
) -> OpSpec:
    spatial = len(shape_of(x)) - 2
    return OpSpec(
        "conv_transpose" if transposed else "conv",
        (shape_of(x), shape_of(weight)),
        (_out(out),),
        {
            "bias": bias is not None,
            "groups": int(groups),
            # geometry, for the receptive field (formulas price from shapes alone)
            "stride": _kernel(a.get("stride") or 1, spatial),
            "dilation": _kernel(a.get("dilation") or 1, spatial),
        },
    )


@translates(
    "aten.convolution",
    "aten._convolution",
    "aten.cudnn_convolution",
    "aten.convolution_overrideable",
    "aten.mkldnn_convolution",
    "aten.cudnn_convolution_transpose",
    "aten.miopen_convolution",
)
def _convolution(a: Bound, out: Any) -> OpSpec:
    return _conv_spec(
        a["input"], a["weight"], a.get("bias"), bool(a.get("transposed", False)), a.get("groups", 1), out, a
    )


@translates(
    "aten._slow_conv2d_forward",
    "aten.thnn_conv2d",
    "aten.slow_conv3d_forward",
    "aten.slow_conv_dilated2d",
    "aten.slow_conv_dilated3d",
)
def _slow_conv(a: Bound, out: Any) -> OpSpec:
    return _conv_spec(a["self"], a["weight"], a.get("bias"), False, 1, out, a)


@translates("aten.slow_conv_transpose2d", "aten.slow_conv_transpose3d")
def _slow_conv_transpose(a: Bound, out: Any) -> OpSpec:
    return _conv_spec(a["self"], a["weight"], a.get("bias"), True, 1, out, a)


def _matmul_spec(left: torch.Tensor, right: torch.Tensor, out: Any, **attrs: AttrValue) -> OpSpec:
    return OpSpec("matmul", (shape_of(left), shape_of(right)), (_out(out),), attrs)


@translates("aten.mm", "aten.bmm", "aten.matmul", "aten.dot", "aten.vdot", "aten.mv", "aten._int_mm")
def _mm(a: Bound, out: Any) -> OpSpec:
    left = a["self"]
    right = next(v for k, v in a.items() if k != "self" and isinstance(v, torch.Tensor))
    return _matmul_spec(left, right, out)


@translates("aten.addmm", "aten.baddbmm", "aten.addmv", "aten.addbmm", "aten._addmm_activation")
def _addmm(a: Bound, out: Any) -> OpSpec:
    left = a.get("mat1", a.get("batch1", a.get("mat")))
    right = a.get("mat2", a.get("batch2", a.get("vec")))
    beta = a.get("beta", 1)
    # addbmm sums its batch of products into one matrix: the same MACs as baddbmm.
    return _matmul_spec(left, right, out, bias=beta != 0, alpha=a.get("alpha", 1) != 1, beta=beta not in (0, 1))


@translates("aten._grouped_mm")
def _grouped_mm(a: Bound, out: Any) -> OpSpec:
    # Mixture-of-experts kernels: groups of rows (offs) each multiply their own matrix.
    # 2D x 3D: a [M_total, K] with b [G, K, N] -> [M_total, N]: every routed row pays
    # K*N MACs once, so M_total*K*N whatever the split (experts actually executed).
    left, right = shape_of(a["self"]), shape_of(a["mat2"])
    if len(left) == 2 and len(right) == 3:
        right = right[1:]
    elif len(left) == 3 and len(right) == 2:
        left = left[1:]
    return OpSpec("matmul", (left, right), (_out(out),), {})


@translates("aten._scaled_mm")
def _scaled_mm(a: Bound, out: Any) -> OpSpec:
    return _matmul_spec(a["self"], a["mat2"], out, bias=a.get("bias") is not None)


# -- attention --------------------------------------------------------------------------


def _attention(
    q: Any, k: Any, v: Any, out: Any, *, causal: Any, mask: Any, dropout: Any, layout: str = "bhle"
) -> OpSpec:
    shapes = [shape_of(t) for t in (q, k, v)]
    if layout == "blhe":  # flash/efficient kernels take [B, L, H, E]
        shapes = [(s[0], s[2], s[1], s[3]) for s in shapes]
    out_shape = _out(out)
    return OpSpec(
        "attention",
        tuple(shapes),
        (out_shape,),
        {"causal": bool(causal), "mask": mask is not None, "dropout": bool(dropout)},
    )


@translates(
    "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_flash_attention",
    "aten._scaled_dot_product_efficient_attention",
    "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_fused_attention_overrideable",
)
def _sdpa(a: Bound, out: Any) -> OpSpec:
    mask = a.get("attn_mask", a.get("attn_bias"))
    return _attention(
        a["query"], a["key"], a["value"], out, causal=a.get("is_causal"), mask=mask, dropout=a.get("dropout_p")
    )


@translates("aten._flash_attention_forward", "aten._efficient_attention_forward")
def _flash_forward(a: Bound, out: Any) -> OpSpec:
    causal = a.get("is_causal", bool(a.get("custom_mask_type", 0)))
    return _attention(
        a["query"],
        a["key"],
        a["value"],
        out,
        causal=causal,
        mask=a.get("bias"),
        dropout=a.get("dropout_p"),
        layout="blhe",
    )


@translates(
    "aten._scaled_dot_product_flash_attention_for_cpu_backward",
    "aten._scaled_dot_product_flash_attention_backward",
    "aten._scaled_dot_product_efficient_attention_backward",
    "aten._scaled_dot_product_cudnn_attention_backward",
    "aten._scaled_dot_product_fused_attention_overrideable_backward",
)
def _sdpa_backward(a: Bound, out: Any) -> OpSpec:
    grad = a.get("grad_out", a.get("grad_out_"))
    shapes = tuple(shape_of(t) for t in (grad, a["query"], a["key"], a["value"]))
    return OpSpec("attention_backward", shapes, (shape_of(a["query"]),), {"causal": bool(a.get("is_causal"))})


@translates("aten._flash_attention_backward", "aten._efficient_attention_backward")
def _flash_backward(a: Bound, out: Any) -> OpSpec:
    grad = a.get("grad_out", a.get("grad_out_"))
    shapes = tuple((s[0], s[2], s[1], s[3]) for s in (shape_of(t) for t in (grad, a["query"], a["key"], a["value"])))
    return OpSpec("attention_backward", shapes, (shapes[1],), {"causal": bool(a.get("is_causal"))})


@translates("aten._native_multi_head_attention")
def _native_mha(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "multi_head_attention",
        tuple(shape_of(a[k]) for k in ("query", "key", "value")),
        (_out(out),),
        {
            "num_heads": int(a["num_head"]),
            "bias": a.get("qkv_bias") is not None,
            "mask": a.get("mask") is not None,
            "need_weights": bool(a.get("need_weights")),
        },
    )


@translates("aten._transformer_encoder_layer_fwd")
def _encoder_layer(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "transformer_encoder_layer",
        (shape_of(a["src"]),),
        (_out(out),),
        {
            "num_heads": int(a["num_heads"]),
            "ffn_dim": int(shape_of(a["ffn_weight_1"])[0]),
            "activation": "gelu" if a.get("use_gelu") else "relu",
            "mask": a.get("mask") is not None,
        },
    )


# -- normalization ------------------------------------------------------------------------


@translates(
    "aten.native_batch_norm",
    "aten._native_batch_norm_legit",
    "aten._native_batch_norm_legit_functional",
    "aten.cudnn_batch_norm",
    "aten.miopen_batch_norm",
    "aten._batch_norm_with_update",
    "aten._batch_norm_with_update_functional",
)
def _batch_norm(a: Bound, out: Any) -> OpSpec:
    training = a.get("training", True)
    return OpSpec(
        "batch_norm",
        (shape_of(a["input"]),),
        (_out(out),),
        {"training": bool(training), "affine": a.get("weight") is not None},
    )


@translates("aten._native_batch_norm_legit_no_training", "aten._batch_norm_no_update")
def _batch_norm_eval(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "batch_norm", (shape_of(a["input"]),), (_out(out),), {"training": False, "affine": a.get("weight") is not None}
    )


@translates("aten.native_layer_norm")
def _layer_norm(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "layer_norm",
        (shape_of(a["input"]),),
        (_out(out),),
        {
            "normalized_ndim": len(a["normalized_shape"]),
            "weight": a.get("weight") is not None,
            "bias": a.get("bias") is not None,
        },
    )


@translates("aten.native_group_norm")
def _group_norm(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "group_norm",
        (shape_of(a["input"]),),
        (_out(out),),
        {"groups": int(a["group"]), "affine": a.get("weight") is not None},
    )


@translates("aten._fused_rms_norm")
def _rms_norm(a: Bound, out: Any) -> OpSpec:
    return OpSpec(
        "rms_norm",
        (shape_of(a["input"]),),
        (_out(out),),
        {"normalized_ndim": len(a["normalized_shape"]), "weight": a.get("weight") is not None},
    )


# -- pooling and resizing ---------------------------------------------------------------------


def _kernel(value: Any, spatial: int) -> tuple[AttrValue, ...]:
    sizes = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
    if len(sizes) == 1:
        sizes = sizes * spatial
    return tuple(sizes)


def _pool(op: str) -> Translator:
    def translate(a: Bound, out: Any) -> OpSpec:
        x = shape_of(a["self"])
        spatial = len(x) - 2
        kernel = _kernel(a["kernel_size"], spatial)
        stride = _kernel(a["stride"], spatial) if a.get("stride") else kernel  # [] means the kernel
        attrs: dict[str, AttrValue] = {"kernel": kernel, "stride": stride}
        if a.get("dilation") is not None:
            attrs["dilation"] = _kernel(a["dilation"], spatial)
        return OpSpec(op, (x,), (_out(out),), attrs)

    return translate


_register(
    [
        "aten.max_pool2d_with_indices",
        "aten.max_pool3d_with_indices",
        "aten.max_pool1d",
        "aten.max_pool2d",
        "aten.max_pool3d",
        "aten.mkldnn_max_pool2d",
        "aten.max_pool1d_with_indices",
    ],
    _pool("max_pool"),
)
_register(["aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d"], _pool("avg_pool"))


def _adaptive(op: str) -> Translator:
    def translate(a: Bound, out: Any) -> OpSpec:
        return OpSpec(op, (shape_of(a["self"]),), (_out(out),))

    return translate


_register(
    [
        "aten._adaptive_avg_pool2d",
        "aten._adaptive_avg_pool3d",
        "aten.adaptive_avg_pool1d",
        "aten.adaptive_avg_pool2d",
        "aten.adaptive_avg_pool3d",
    ],
    _adaptive("adaptive_avg_pool"),
)
_register(
    ["aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d"], _adaptive("adaptive_max_pool")
)

_RESIZE = {
    "upsample_nearest1d": "nearest",
    "upsample_nearest2d": "nearest",
    "upsample_nearest3d": "nearest",
    "_upsample_nearest_exact1d": "nearest-exact",
    "_upsample_nearest_exact2d": "nearest-exact",
    "_upsample_nearest_exact3d": "nearest-exact",
    "upsample_linear1d": "linear",
    "upsample_bilinear2d": "bilinear",
    "_upsample_bilinear2d_aa": "bilinear",
    "upsample_trilinear3d": "trilinear",
    "upsample_bicubic2d": "bicubic",
    "_upsample_bicubic2d_aa": "bicubic",
}


def _resize(mode: str, antialias: bool) -> Translator:
    # ``antialias`` is kept so presets can tell the _aa kernels apart (fvcore has no handle for them).
    attrs: dict[str, Any] = {"mode": mode, "antialias": True} if antialias else {"mode": mode}

    def translate(a: Bound, out: Any) -> OpSpec:
        return OpSpec("resize", (shape_of(a["input"] if "input" in a else a["self"]),), (_out(out),), dict(attrs))

    return translate


for _name, _mode in _RESIZE.items():
    _register(f"aten.{_name}", _resize(_mode, _name.endswith("_aa")))


@translates("aten.grid_sampler_2d", "aten.grid_sampler_3d")
def _grid_sampler(a: Bound, out: Any) -> OpSpec:
    """``F.grid_sample``: interpolation_mode 0 bilinear, 1 nearest, 2 bicubic."""
    mode = GRID_SAMPLE_MODES.get(_int_or(a.get("interpolation_mode"), 0), "bilinear")
    return OpSpec("grid_sample", (shape_of(a["input"]), shape_of(a["grid"])), (_out(out),), {"mode": mode})


# -- embedding and recurrent ----------------------------------------------------------------


@translates("aten.embedding")
def _embedding(a: Bound, out: Any) -> OpSpec:
    return OpSpec("embedding", (shape_of(a["indices"]), shape_of(a["weight"])), (_out(out),))


@translates("aten._embedding_bag", "aten._embedding_bag_forward_only", "aten.embedding_bag")
def _embedding_bag(a: Bound, out: Any) -> OpSpec:
    modes = {0: "sum", 1: "mean", 2: "max"}
    return OpSpec(
        "embedding_bag",
        (shape_of(a["indices"]), shape_of(a["weight"])),
        (_out(out),),
        {"mode": modes.get(int(a.get("mode", 0)), "sum")},
    )


@translates("aten.mkldnn_rnn_layer_backward")
def _mkldnn_rnn_layer_backward(a: Bound, out: Any) -> OpSpec:
    forward = _mkldnn_rnn_layer(a, a["output"])
    return OpSpec("recurrent_backward", forward.inputs, forward.outputs, {**forward.attrs, "cell": forward.op})


@translates("aten.mkldnn_rnn_layer")
def _mkldnn_rnn_layer(a: Bound, out: Any) -> OpSpec:
    # One layer, one direction. mode: 0 RNN_RELU, 1 RNN_TANH, 2 LSTM, 3 GRU (mkldnn's enum).
    mode = int(a["mode"])
    x = shape_of(a["input"])
    if a.get("batch_first"):
        x = (x[1], x[0], x[2])
    op = {0: "rnn", 1: "rnn", 2: "lstm", 3: "gru"}[mode]
    attrs: dict[str, AttrValue] = {
        "hidden_size": int(a["hidden_size"]),
        "num_layers": 1,
        "bidirectional": False,
        "bias_vectors": 2 if a.get("has_biases") else 0,
    }
    if op == "rnn":
        attrs["nonlinearity"] = "relu" if mode == 0 else "tanh"
    return OpSpec(op, (x,), (_out(out),), attrs)


# -- backward kernels -----------------------------------------------------------------------


@translates("aten.convolution_backward", "aten.convolution_backward_overrideable")
def _conv_backward(a: Bound, out: Any) -> OpSpec:
    mask = a.get("output_mask", (True, True, True))
    return OpSpec(
        "conv_backward",
        (shape_of(a["grad_output"]), shape_of(a["input"]), shape_of(a["weight"])),
        (),
        {
            "transposed": bool(a.get("transposed", False)),
            "groups": int(a.get("groups", 1)),
            "grad_input": bool(mask[0]),
            "grad_weight": bool(mask[1]),
            "grad_bias": bool(mask[2]) and a.get("bias_sizes") is not None,
        },
    )


def _grad(op: str, **attrs: AttrValue) -> Translator:
    def translate(a: Bound, out: Any) -> OpSpec:
        grad = next(t for v in a.values() for t in _tensors(v))
        return OpSpec(op, (shape_of(grad),), (shape_of(grad),), dict(attrs))

    return translate


_ACTIVATION_GRADS = {
    "threshold_backward": "relu",
    "hardtanh_backward": "hardtanh",
    "leaky_relu_backward": "leaky_relu",
    "elu_backward": "elu",
    "sigmoid_backward": "sigmoid",
    "tanh_backward": "tanh",
    "silu_backward": "silu",
    "hardswish_backward": "hardswish",
    "hardsigmoid_backward": "hardsigmoid",
    "softplus_backward": "softplus",
    "mish_backward": "mish",
}
for _name, _fn in _ACTIVATION_GRADS.items():
    _register(f"aten.{_name}", _grad("activation_backward", fn=_fn))


@translates("aten.gelu_backward")
def _gelu_backward(a: Bound, out: Any) -> OpSpec:
    grad = shape_of(a["grad_output"])
    return OpSpec(
        "activation_backward", (grad,), (grad,), {"fn": "gelu_tanh" if a.get("approximate") == "tanh" else "gelu"}
    )


_register(["aten._softmax_backward_data", "aten._log_softmax_backward_data"], _grad("softmax_backward"))


@translates("aten.nll_loss_forward", "aten.nll_loss2d_forward")
def _nll_loss(a: Bound, out: Any) -> OpSpec:
    return OpSpec("nll_loss", (shape_of(a["self"]), shape_of(a["target"])), (), {})


@translates("aten.nll_loss_backward", "aten.nll_loss2d_backward")
def _nll_loss_backward(a: Bound, out: Any) -> OpSpec:
    shape = shape_of(a["self"])
    return OpSpec("nll_loss_backward", (shape, shape_of(a["target"])), (shape,), {})


_register(["aten._prelu_kernel_backward"], _grad("activation_backward", fn="prelu"))


def _resize_backward(mode: str) -> Translator:
    # The gradient of an interpolation applies its weights transposed: the forward's work,
    # priced on the (upsampled) shape of dy.
    def translate(a: Bound, out: Any) -> OpSpec:
        grad = shape_of(a["grad_output"])
        return OpSpec("resize", (_out(out),), (grad,), {"mode": mode})

    return translate


for _name, _mode in _RESIZE.items():
    _register(f"aten.{_name}_backward", _resize_backward(_mode))
_register(
    ["aten.native_layer_norm_backward", "aten.native_group_norm_backward", "aten._fused_rms_norm_backward"],
    _grad("norm_backward", training=True, weight=True),
)
_register(
    ["aten.embedding_dense_backward", "aten._embedding_bag_backward", "aten._embedding_bag_dense_backward"],
    _grad("embedding_backward"),
)
_register(["aten.native_dropout_backward"], _same("mul"))


@translates(
    "aten.native_batch_norm_backward",
    "aten.cudnn_batch_norm_backward",
    "aten.miopen_batch_norm_backward",
    "aten.batch_norm_backward",
)
def _batch_norm_backward(a: Bound, out: Any) -> OpSpec:
    grad = shape_of(a["grad_out"])
    training = a.get("train", a.get("update", True))
    return OpSpec(
        "norm_backward", (grad,), (grad,), {"training": bool(training), "weight": a.get("weight") is not None}
    )


@translates(
    "aten.max_pool2d_with_indices_backward",
    "aten.max_pool3d_with_indices_backward",
    "aten.adaptive_max_pool2d_backward",
    "aten.adaptive_max_pool3d_backward",
)
def _max_pool_backward(a: Bound, out: Any) -> OpSpec:
    grad = shape_of(a["grad_output"])
    return OpSpec("pool_backward", (grad,), (_out(out),), {"mode": "max"})


@translates("aten.avg_pool2d_backward", "aten.avg_pool3d_backward")
def _avg_pool_backward(a: Bound, out: Any) -> OpSpec:
    grad = shape_of(a["grad_output"])
    kernel = 1
    for k in _kernel(a["kernel_size"], len(grad) - 2):
        kernel *= int(k) if isinstance(k, int) else 1
    return OpSpec("pool_backward", (grad,), (_out(out),), {"mode": "avg", "kernel": kernel})


@translates("aten._adaptive_avg_pool2d_backward", "aten._adaptive_avg_pool3d_backward")
def _adaptive_avg_backward(a: Bound, out: Any) -> OpSpec:
    # Spreading each output's gradient over its window: one add per input element.
    return OpSpec("pool_backward", (_out(out),), (_out(out),), {"mode": "scatter"})


# -- torch-level functions (meta-device runs only) -------------------------------------------
# On meta tensors PyTorch runs scaled dot-product attention as its math decomposition; on the
# CPU (and GPUs) it runs one fused kernel, recorded above. Meta runs record the function itself,
# so both give the same ops (see recorder._FunctionMode).

FunctionTranslator = Callable[[tuple[Any, ...], Mapping[str, Any], Any], OpSpec]


def _sdpa_function(args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> OpSpec:
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    bound = {**dict(zip(names, args)), **kwargs}
    return _attention(
        bound["query"],
        bound["key"],
        bound["value"],
        out,
        causal=bound.get("is_causal", False),
        mask=bound.get("attn_mask"),
        dropout=bound.get("dropout_p", 0.0),
    )


_MHA_NAMES = (
    "query",
    "key",
    "value",
    "embed_dim_to_check",
    "num_heads",
    "in_proj_weight",
    "in_proj_bias",
    "bias_k",
    "bias_v",
    "add_zero_attn",
    "dropout_p",
    "out_proj_weight",
    "out_proj_bias",
    "training",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
)


def _mha_function(args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> OpSpec:
    """``F.multi_head_attention_forward`` (nn.MultiheadAttention's unfused path) as the one
    op the CPU's fast path runs; its inputs are sequence-first [L, B, E] (or unbatched [L, E])."""
    bound = {**dict(zip(_MHA_NAMES, args)), **kwargs}

    def batch_first(t: Any) -> Shape:
        shape = shape_of(t)
        return (1, *shape) if len(shape) == 2 else (shape[1], shape[0], shape[2])

    output = out[0] if isinstance(out, (tuple, list)) else out
    return OpSpec(
        "multi_head_attention",
        tuple(batch_first(bound[k]) for k in ("query", "key", "value")),
        (batch_first(output),),
        {
            "num_heads": int(bound["num_heads"]),
            "bias": bound.get("in_proj_bias") is not None,
            "mask": bound.get("attn_mask") is not None or bound.get("key_padding_mask") is not None,
            "need_weights": bool(bound.get("need_weights", True)),
        },
    )


FUNCTIONS: dict[Callable[..., Any], tuple[str, FunctionTranslator]] = {
    torch.nn.functional.scaled_dot_product_attention: (
        "aten.scaled_dot_product_attention",
        _sdpa_function,
    ),
    torch.nn.functional.multi_head_attention_forward: (
        "aten._native_multi_head_attention",
        _mha_function,
    ),
}
