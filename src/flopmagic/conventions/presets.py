"""The built-in conventions: flopmagic's own and presets that reproduce other tools.

Each preset cites the source it was read from. Presets for module-hook tools
(thop, ptflops) key on the PyTorch module type that issued the op, because that
is how those tools count: an op they have no hook for is not counted (they look up
``type(m)`` exactly: a subclass of a hooked type has no hook; records carry the
module's fully qualified class to tell). Presets of tools that trace the Python call
(fvcore, torchprofile) or patch Python functions (calflops) read which records came
from inside ``F.scaled_dot_product_attention`` (``OpRecord.within``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..formulas import Cost, get_formula, numel, price
from ..formulas.pooling import kernel_area
from ._base import Convention, canonical, register_convention

if TYPE_CHECKING:  # conventions price records; they never import the container at run time
    from ..schema import OpRecord

__all__ = ["FLOP_COUNTER_MODE_OPS"]


def _mac_units(count: int) -> Cost:
    """A MAC-reporting tool's number for a non-contraction op, kept in its units."""
    return Cost(macs=count, flops=2 * count)


def _x(record: OpRecord) -> int:
    return numel(record.inputs[0]) if record.inputs else 0


def _y(record: OpRecord) -> int:
    return numel(record.outputs[0]) if record.outputs else 0


# -- flopmagic ------------------------------------------------------------------------

register_convention(
    Convention(
        name="flopmagic",
        title="flopmagic (everything the model computes)",
        reports="flops",
        label="FLOPs",
        description=(
            "Every op the model runs is priced by the formula library: MACs are dot-product "
            "multiply-accumulates (convolution, matmul, attention, recurrent gates); FLOPs are "
            "2 per MAC plus bias adds, normalisation, activations, softmax, pooling and "
            "elementwise arithmetic. Attention is dense (the full L x S score matrix)."
        ),
        source="docs/conventions.md",
        rule=canonical,
    )
)

_CAUSAL_OPS = frozenset({"attention", "attention_backward", "multi_head_attention"})


def _causal(record: OpRecord) -> Cost:
    if record.op in _CAUSAL_OPS:
        return price(record.spec.with_attrs(skip_masked=True))
    return canonical(record)


register_convention(
    Convention(
        name="flopmagic-causal",
        title="flopmagic, causal-aware attention",
        reports="flops",
        label="FLOPs",
        description=(
            "As flopmagic, but causal attention counts only the unmasked query-key pairs "
            "(about half the scores), as kernels that skip masked blocks compute."
        ),
        source="docs/conventions.md",
        rule=_causal,
    )
)


def _strict(record: OpRecord) -> Cost:
    cost = canonical(record)
    return Cost(cost.macs, cost.flops - cost.chains, cost.bias_flops, cost.chains)


register_convention(
    Convention(
        name="strict",
        title="strict FLOPs (2K - 1 per dot product)",
        reports="flops",
        label="FLOPs",
        description=(
            "As flopmagic, but a dot product of length K is K multiplies and K - 1 adds, "
            "so every output of a contraction saves one add (a bias add takes its place)."
        ),
        source="docs/conventions.md",
        rule=_strict,
    )
)


def _paper(record: OpRecord) -> Cost:
    return _mac_units(canonical(record).macs)


register_convention(
    Convention(
        name="paper",
        title="papers and torchvision (conv + linear + attention matmul MACs)",
        reports="macs",
        label="GFLOPS",
        description=(
            "Only multiply-accumulates of convolutions, linear layers, attention matmuls "
            "and recurrent gates; no bias, normalisation, activation or pooling. This is "
            "torchvision's '_ops' / 'GFLOPS' column and what most vision papers call FLOPs."
        ),
        source="pytorch/vision#6936 (weights meta '_ops'); He et al. 2015 Table 1",
        rule=_paper,
    )
)


# -- torch.utils.flop_counter.FlopCounterMode ----------------------------------------
# The aten op packets FlopCounterMode has formulas for (torch/utils/flop_counter.py,
# ``flop_registry``). Hand-kept; tests/test_drift.py compares it with the installed torch.
FLOP_COUNTER_MODE_OPS = frozenset(
    {
        "aten.mm",
        "aten.addmm",
        "aten.bmm",
        "aten.baddbmm",
        "aten._scaled_mm",
        "aten.convolution",
        "aten._convolution",
        "aten.cudnn_convolution",
        "aten.convolution_overrideable",
        "aten._slow_conv2d_forward",
        "aten.convolution_backward",
        "aten._scaled_dot_product_efficient_attention",
        "aten._scaled_dot_product_flash_attention",
        "aten._scaled_dot_product_cudnn_attention",
        "aten._scaled_dot_product_efficient_attention_backward",
        "aten._scaled_dot_product_flash_attention_backward",
        "aten._scaled_dot_product_cudnn_attention_backward",
        "aten._flash_attention_forward",
        "aten._efficient_attention_forward",
        "aten._flash_attention_backward",
        "aten._efficient_attention_backward",
    }
)
# Ops counted when the record comes from another framework (TensorFlow, ONNX).
_FLOP_COUNTER_MODE_CANONICAL = frozenset(
    {"conv", "conv_transpose", "matmul", "linear", "einsum", "attention", "attention_backward", "conv_backward"}
)


def _packet(native: str) -> str:
    """'aten.convolution.default' -> 'aten.convolution'."""
    parts = native.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else native


def _flop_counter_mode(record: OpRecord) -> Cost:
    if _packet(record.native) == "aten.scaled_dot_product_attention" and record.op == "attention":
        # The one record the meta-device recorder makes for F.scaled_dot_product_attention.
        # On meta, PyTorch runs the math decomposition, so FlopCounterMode sees its two
        # bmm's: Q K^T and P V over (B * Hq) x Sq x Sk, at any mask, causality or dropout.
        q, k, v = record.inputs[0], record.inputs[1], record.inputs[2]
        return _mac_units(numel(q[:-1]) * k[-2] * (q[-1] + v[-1]))
    if record.native.startswith("aten."):
        counted = _packet(record.native) in FLOP_COUNTER_MODE_OPS
    else:
        counted = record.op in _FLOP_COUNTER_MODE_CANONICAL
    if not counted:
        return Cost()
    macs = canonical(record).macs
    groups = record.spec.int_attr("groups", 1)
    if record.op == "conv_backward" and record.spec.flag("grad_weight") and groups > 1:
        # FlopCounterMode prices grad_weight as Cin * Cout (groups ignored): groups x the forward.
        forward = price(record.spec.with_attrs(grad_input=False, grad_bias=False)).macs
        macs += forward * (groups - 1)
    if record.op == "attention_backward":
        # sdpa_backward_flop_count recomputes the scores QK^T: a fifth matmul,
        # (B * Hq) x Sq x Dq x Sk MACs, over the full score matrix (no causal saving).
        q, k = record.inputs[1], record.inputs[2]
        macs += numel(q[:-1]) * q[-1] * k[-2]
    return _mac_units(macs)


register_convention(
    Convention(
        name="torch",
        title="torch.utils.flop_counter.FlopCounterMode",
        reports="flops",
        label="FLOP",
        description=(
            "2 FLOPs per MAC of matmul, convolution and the SDPA kernels it knows; nothing "
            "else (no bias, norms, activations, pooling). Ops without a formula count 0, "
            "including the CPU flash-attention kernel and nn.MultiheadAttention's fast path. "
            "The fused SDPA backward is 5 matmuls (it recomputes Q K^T); on the meta device "
            "SDPA is the math path's two bmm's."
        ),
        source="torch/utils/flop_counter.py (flop_registry, mm_flop = m*n*2*k)",
        rule=_flop_counter_mode,
    )
)


# -- fvcore FlopCountAnalysis -----------------------------------------------------------


def _written_mean(record: OpRecord) -> bool:
    """A global average pool that the user wrote as ``x.mean((2, 3), keepdim=True)``.

    ``adaptive_avg_pool2d(x, 1)`` reaches dispatch as ``aten.mean`` over dims ``(-1, -2)``
    (its C++ body); any other spelling of the dims is a ``Tensor.mean`` call. fvcore prices
    ``aten::mean`` as 0 (not in its handles) and ptflops does not patch ``Tensor.mean``.
    """
    dims = record.attrs.get("dims")
    return record.op == "adaptive_avg_pool" and isinstance(dims, tuple) and dims != (-1, -2)


def _affine(record: OpRecord) -> bool:
    return record.spec.flag("affine") or record.spec.flag("weight")


# Matmul-family aten ops fvcore has no handle for (aten::baddbmm, aten::addbmm, aten::mv,
# aten::dot, ...): 0 there. ``torch.matmul`` reaches dispatch as ``mv``/``dot`` only for a
# 1-D right operand, where fvcore's matmul handle fails (it reads the operand's [-2]).
_FVCORE_UNHANDLED_MATMULS = frozenset({"aten.baddbmm", "aten.addbmm", "aten.mv", "aten.addmv", "aten.dot", "aten.vdot"})
# Whole-sequence recurrent modules are one aten::rnn_tanh / gru / lstm node in fvcore's trace,
# which it has no handle for; the recorder sees the linears of the CPU decomposition.
_FVCORE_RECURRENT_MODULES = frozenset({"RNN", "GRU", "LSTM"})
_FVCORE_INSTANCE_NORMS = frozenset({"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"})
_ADAPTIVE_AVG_POOL_2D = frozenset({"aten._adaptive_avg_pool2d", "aten.adaptive_avg_pool2d"})


def _fvcore_adaptive_pool(record: OpRecord) -> bool:
    """An ``aten::adaptive_avg_pool2d`` node in fvcore's trace (priced numel(input)).

    ``adaptive_avg_pool1d`` calls the 2-D kernel on an unsqueezed input below the trace
    (fvcore: an unsupported ``aten::adaptive_avg_pool1d``, 0); ``nn.AdaptiveAvgPool1d`` is
    told apart by its module, a bare ``F.adaptive_avg_pool1d`` call is not."""
    if record.module_type in ("AdaptiveAvgPool1d", "AdaptiveAvgPool3d"):
        return False
    if record.op == "adaptive_avg_pool":
        if not record.native.startswith("aten."):  # another framework's pooling op
            return len(record.inputs[0]) == 4
        dims = record.attrs.get("dims")
        return _packet(record.native) in _ADAPTIVE_AVG_POOL_2D or dims == (-1, -2)
    # output size 1 on an unbatched (C, H, W) input: a mean over (-1, -2) the recorder
    # cannot call pooling without its module
    return record.op == "mean" and record.module_type == "AdaptiveAvgPool2d"


def _fvcore_encoder_layer(record: OpRecord) -> int:
    """fvcore's count for nn.TransformerEncoderLayer's fused inference kernel.

    fvcore's JIT trace, under ``torch.no_grad()`` in eval mode as flopmagic runs the model,
    does not take the layer's fused path: it sees the feed-forward as two ``aten::linear``
    (input numel x out_features, no bias) and the two ``aten::layer_norm`` (numel x 5), while
    the self-attention inside does take ``aten::_native_multi_head_attention``, which it has
    no handle for (0), like the preset's fused ``multi_head_attention``."""
    x = record.inputs[0]
    tokens, width, ffn = numel(x[:-1]), x[-1], record.spec.int_attr("ffn_dim", 0)
    return 2 * tokens * width * ffn + 2 * 5 * tokens * width


_SDPA = "scaled_dot_product_attention"


def _fvcore(record: OpRecord) -> Cost:
    op = record.op
    if record.phase != "forward":
        return Cost()  # fvcore traces the forward pass only
    if _written_mean(record) or record.module_type in _FVCORE_RECURRENT_MODULES or record.within == _SDPA:
        # F.scaled_dot_product_attention is one aten::scaled_dot_product_attention node in
        # fvcore's JIT trace, unsupported (0), whichever CPU path (fused or math) ran it.
        return Cost()
    if op == "matmul" and _packet(record.native) in _FVCORE_UNHANDLED_MATMULS:
        return Cost()
    if op in ("conv", "conv_transpose", "matmul", "linear", "einsum"):
        return _mac_units(canonical(record).macs)
    if op == "transformer_encoder_layer" and record.native.startswith("aten."):
        return _mac_units(_fvcore_encoder_layer(record))
    if op == "batch_norm" and record.module_type in _FVCORE_INSTANCE_NORMS:
        # aten::instance_norm (norm_flop_counter(1)), also with running statistics in eval,
        # where the recorder sees the eval batch norm it calls
        return _mac_units(_x(record) * (5 if _affine(record) else 4))
    if op == "batch_norm":
        # fvcore/nn/jit_handles.py batchnorm_flop_jit: eval numel * (2 if affine else 1);
        # training uses norm_flop_counter: numel * (5 if affine else 4).
        if record.spec.flag("training"):
            return _mac_units(_x(record) * (5 if _affine(record) else 4))
        return _mac_units(_x(record) * (2 if _affine(record) else 1))
    if op in ("layer_norm", "group_norm", "instance_norm"):
        return _mac_units(_x(record) * (5 if _affine(record) else 4))
    if op == "resize" and len(record.outputs[0]) == 4:
        # fvcore's handles are aten::upsample_nearest2d and aten::upsample_bilinear2d only:
        # nearest-exact and the antialiased kernels are unsupported ops (0).
        mode = str(record.spec.attr("mode"))
        if mode == "nearest":
            return _mac_units(_y(record))
        if mode == "bilinear" and not record.spec.flag("antialias"):
            return _mac_units(4 * _y(record))
    if op == "grid_sample":
        return _mac_units(4 * _y(record))  # aten::grid_sampler: elementwise_flop_counter(0, 4)
    if op in ("adaptive_avg_pool", "mean") and _fvcore_adaptive_pool(record):
        return _mac_units(_x(record))  # elementwise_flop_counter(1, 0): numel(input)
    return Cost()


register_convention(
    Convention(
        name="fvcore",
        title="fvcore FlopCountAnalysis",
        reports="macs",
        label="flops",
        description=(
            "MACs under the name 'flops' ('one fused multiply-add as one flop') of the forward "
            "pass: convolution, matmul, linear and einsum without bias (baddbmm, addbmm, mv, dot: "
            "0); batch norm numel x 2 (eval, affine), layer/group/instance norm numel x 5, "
            "adaptive_avg_pool2d numel(input) (a written x.mean((2, 3), keepdim=True) is "
            "aten::mean: 0; 1-D and 3-D pooling 0), upsample_nearest2d 1 and upsample_bilinear2d "
            "4 per output (nearest-exact and antialiased: 0), grid_sampler 4 per output; "
            "nn.RNN/GRU/LSTM, activations, elementwise, max pooling and scaled dot-product attention "
            "(fused or its math path's bmm's: one unsupported aten::scaled_dot_product_attention) count 0."
        ),
        source="fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS, fvcore/nn/jit_handles.py",
        rule=_fvcore,
    )
)


# -- thop -------------------------------------------------------------------------------
_CONV_MODULES = frozenset({"Conv1d", "Conv2d", "Conv3d"})
_CONV_T_MODULES = frozenset({"ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"})
_NORM_MODULES = frozenset(
    {
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "LayerNorm",
        "GroupNorm",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
    }
)
_ACTIVATION_MODULES = frozenset(
    {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh"}
)
_POOL_MODULES = frozenset(
    {"MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"}
    | {"AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"}
    | {"AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"}
)
_THOP_UPSAMPLE = {"nearest": 0, "linear": 5, "bilinear": 11, "bicubic": 224 + 35, "trilinear": 13 * 2 + 5}


def _hooked_type(record: OpRecord) -> str:
    """The module type a tool that hooks ``type(m)`` exactly sees: the record's module type
    when its class is torch.nn's own (or unknown: an older profile, another framework);
    "" for a subclass (timm's ``timm.layers.Linear`` is no ``nn.Linear`` to thop and ptflops)."""
    qualified = record.module_class
    return record.module_type if not qualified or qualified.startswith("torch.nn.modules.") else ""


def _thop(record: OpRecord) -> Cost:
    if record.phase != "forward":
        return Cost()  # thop hooks the forward pass only
    module = _hooked_type(record)
    op = record.op
    if module in _CONV_MODULES and op == "conv":
        return _mac_units(canonical(record).macs)
    if module in _CONV_T_MODULES and op == "conv_transpose":
        # thop prices transposed convolutions like convolutions, on the output positions.
        weight = record.inputs[1]
        return _mac_units(
            _y(record) * record.inputs[0][1] // max(record.spec.int_attr("groups", 1), 1) * numel(weight[2:])
        )
    if module == "Linear" and op in ("linear", "matmul"):
        return _mac_units(canonical(record).macs)
    if module in _NORM_MODULES and op in ("batch_norm", "layer_norm", "group_norm", "instance_norm"):
        # thop/vision/calc_func.py calculate_norm: 2 * numel, doubled when affine.
        return _mac_units(2 * _x(record) * (2 if _affine(record) else 1))
    if module in ("AvgPool1d", "AvgPool2d", "AvgPool3d") and op == "avg_pool":
        return _mac_units(_y(record))
    if module in ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d") and op in (
        "adaptive_avg_pool",
        "mean",
    ):
        # count_adap_avgpool: (prod(input // output) adds + 1 divide) per output element.
        x, y = record.inputs[0], record.outputs[0]
        spatial = len(x) - 2
        out = y[-spatial:] if len(y) == len(x) else (1,) * spatial
        kernel = numel(tuple(i // o for i, o in zip(x[-spatial:], out)))
        return _mac_units((kernel + 1) * _y(record))
    if module == "Upsample" and op == "resize":
        return _mac_units(_THOP_UPSAMPLE.get(str(record.spec.attr("mode")), 0) * _y(record))
    return Cost()


register_convention(
    Convention(
        name="thop",
        title="thop (pytorch-OpCounter)",
        reports="macs",
        label="MACs",
        description=(
            "MACs of the forward pass: nn.Conv*/nn.Linear modules without bias; norm modules 2 x numel (x 2 if "
            "affine); average pooling per output; activations, max pooling and dropout 0. "
            "Only modules of a hooked type count (the exact torch.nn class: a subclass such as "
            "timm.layers.Linear has no hook): functional ops, attention matmuls and "
            "nn.MultiheadAttention count 0."
        ),
        source="thop/profile.py register_hooks, thop/vision/calc_func.py",
        rule=_thop,
    )
)


# -- ptflops (pytorch backend) ------------------------------------------------------------
# ptflops counts module hooks (MODULES_MAPPING) and, by default (count_functional=True),
# also monkeypatched torch.nn.functional calls -- including the ones those very modules
# make: nn.ReLU calls F.relu, nn.MaxPool2d calls F.max_pool2d, ... so these count twice.
_PTFLOPS_ACTIVATIONS = frozenset({"ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU"})
_PTFLOPS_PATCHED_BY_MODULE = frozenset({"ReLU", "PReLU", "ELU", "GELU"} | _POOL_MODULES | {"Upsample"})
# canonical ops a patched functional produces (F.relu, F.gelu, F.silu, F.softmax, pools, interpolate)
_PTFLOPS_FUNCTIONAL = frozenset(
    {
        "relu",
        "prelu",
        "elu",
        "gelu",
        "gelu_tanh",
        "silu",
        "softmax",
        "max_pool",
        "avg_pool",
        "adaptive_avg_pool",
        "adaptive_max_pool",
        "resize",
    }
)


def _ptflops_mha(record: OpRecord) -> int:
    """ptflops/pytorch_ops.py multihead_attention_counter_hook, on the fused op's [B, L, E] inputs."""
    q, k, v = record.inputs[0], record.inputs[1], record.inputs[2]
    batch, qlen, qdim = q
    klen, kdim, vlen, vdim = k[1], k[2], v[1], v[2]
    heads = record.spec.int_attr("num_heads", 1)
    flops = qlen * qdim + qlen * qdim * qdim + klen * kdim * kdim + vlen * vdim * vdim
    if record.spec.flag("bias"):
        flops += (qlen + klen + vlen) * qdim
    flops += heads * (qlen * klen * (qdim // heads) + qlen * klen + qlen * klen * (vdim // heads))
    flops += qlen * vdim * (vdim + 1)
    return flops * batch


def _ptflops(record: OpRecord) -> Cost:
    if record.phase != "forward":
        return Cost()  # ptflops counts the forward pass only
    module = _hooked_type(record)  # a subclass has no module hook; its patched functionals still count
    op = record.op
    if _written_mean(record):
        return Cost()
    cost = canonical(record)
    if (module in _CONV_MODULES and op == "conv") or (module in _CONV_T_MODULES and op == "conv_transpose"):
        return _mac_units(cost.macs + cost.bias_flops)  # bias: one per output element
    if module == "Linear" and op in ("linear", "matmul"):
        return _mac_units(cost.macs + cost.bias_flops)  # (in * out + bias) per row
    if module in _NORM_MODULES and op in ("batch_norm", "layer_norm", "group_norm", "instance_norm"):
        # bn_flops_counter_hook doubles when ``module.affine``; LayerNorm has no such
        # attribute (it has ``elementwise_affine``), so it is never doubled.
        doubled = _affine(record) and module != "LayerNorm"
        return _mac_units(_x(record) * (2 if doubled else 1))
    if module == "MultiheadAttention" and op == "multi_head_attention":
        return _mac_units(_ptflops_mha(record))
    hooked = 0
    if module in _PTFLOPS_ACTIVATIONS and get_formula(op).category == "activation":
        hooked = _y(record)
    elif module in _POOL_MODULES and get_formula(op).category == "pooling":
        hooked = _x(record)
    elif module == "Upsample" and op == "resize":
        hooked = _y(record)
    if op in _PTFLOPS_FUNCTIONAL and (module in _PTFLOPS_PATCHED_BY_MODULE or not hooked):
        # the patched functional's own count: numel(input); interpolate: numel(output)
        hooked += _y(record) if op == "resize" else _x(record)
    return _mac_units(hooked)


register_convention(
    Convention(
        name="ptflops",
        title="ptflops (pytorch backend)",
        reports="macs",
        label="GMac",
        description=(
            "MACs of the forward pass: nn.Conv*/nn.Linear modules (exact types: a subclass has no hook) with the bias "
            "counted as MACs; norm modules "
            "numel(input) (x 2 if affine); activation modules numel(output) and pooling modules "
            "numel(input), each counted again by the patched functional they call (F.relu, "
            "F.max_pool2d, ...); functional relu/gelu/silu/softmax/pooling/interpolate numel; "
            "nn.MultiheadAttention by its own hook; Tensor.mean is not patched (0). "
            "torch.add/torch.mul/torch.matmul calls, which "
            "ptflops also counts, cannot be told apart from operators here and count 0."
        ),
        source="ptflops/pytorch_ops.py MODULES_MAPPING, FUNCTIONAL_MAPPING; ptflops/pytorch_engine.py patch_functional",
        rule=_ptflops,
    )
)


# -- TensorFlow tf.compat.v1.profiler float_operation() --------------------------------
_TF_PER_OUTPUT = {"add": 1, "sub": 1, "mul": 1, "div": 1, "maximum": 1, "minimum": 1, "pow": 1, "compare": 1}
_TF_PER_INPUT = {"square": 1, "neg": 1, "log": 1, "reciprocal": 1, "rsqrt": 2, "softmax": 5}


def _tf_profiler(record: OpRecord) -> Cost:
    op = record.op
    cost = canonical(record)
    if op in ("conv", "matmul", "linear"):
        return Cost(macs=cost.macs, flops=2 * cost.macs + cost.bias_flops)  # BiasAdd: numel(out)
    if op in _TF_PER_OUTPUT:
        return Cost.elementwise(_y(record) * _TF_PER_OUTPUT[op])
    if op in _TF_PER_INPUT:
        return Cost.elementwise(_x(record) * _TF_PER_INPUT[op])
    if op in ("max_pool", "avg_pool"):
        return Cost.elementwise(kernel_area(record.spec) * _y(record))
    if op == "mean" or op == "adaptive_avg_pool":  # TensorFlow's Mean: numel(input)
        return Cost.elementwise(_x(record))
    if op in ("sum", "argmax", "argmin"):
        return Cost.elementwise(_x(record) - _y(record))
    if op == "squared_difference":
        return Cost.elementwise(2 * _y(record))
    return Cost()


register_convention(
    Convention(
        name="tf-profiler",
        title="TensorFlow profiler (tf.compat.v1.profiler, float_operation)",
        reports="flops",
        label="flops",
        description=(
            "2 FLOPs per MAC of Conv2D, DepthwiseConv2dNative, Conv3D, MatMul and BatchMatMul; "
            "BiasAdd and binary elementwise ops 1 per output; Softmax 5 and Rsqrt 2 per element; "
            "pooling kernel area x outputs; Mean numel(input). Ops with no registered "
            "statistics count 0: Relu, Sigmoid, Tanh, FusedBatchNorm, Einsum, resizing."
        ),
        source="tensorflow/python/profiler/internal/flops_registry.py; tensorflow/python/ops/nn_ops.py",
        rule=_tf_profiler,
    )
)


# -- torchprofile (profile_macs) --------------------------------------------------------
# torchprofile traces the model with torch.jit and prices the traced aten ops
# (torchprofile/handlers.py HANDLER_MAP); everything else is 0.
_TORCHPROFILE_NORMS = frozenset({"batch_norm", "layer_norm", "group_norm", "instance_norm"})
_TORCHPROFILE_PER_OUTPUT = frozenset({"avg_pool", "adaptive_avg_pool", "mean", "mul", "leaky_relu"})


def _torchprofile(record: OpRecord) -> Cost:
    if record.phase != "forward":
        return Cost()  # torchprofile traces the forward pass only
    op = record.op
    if record.within == _SDPA:
        # one aten::scaled_dot_product_attention node, B * H * Lq * Lk * (D + Dv): on CPU's math
        # path that is the decomposition's two bmm's; its scaling, softmax and dropout count 0
        return _mac_units(canonical(record).macs) if op in ("matmul", "attention") else Cost()
    if op in ("conv", "conv_transpose", "matmul", "linear", "einsum", "attention"):
        return _mac_units(canonical(record).macs)  # _convolution, addmm, linear, matmul, einsum, sdpa
    if op in _TORCHPROFILE_NORMS:
        return _mac_units(_y(record) if _affine(record) else 0)  # _norm: numel(output) when affine
    if op in _TORCHPROFILE_PER_OUTPUT:
        return _mac_units(_y(record))  # _avg_pool_or_mean, _mul, _leaky_relu: numel(output)
    bilinear = str(record.spec.attr("mode")) == "bilinear" and not record.spec.flag("antialias")
    if op == "resize" and len(record.outputs[0]) == 4 and bilinear:
        # aten::upsample_bilinear2d only; the antialiased kernel is another op (0)
        return _mac_units(4 * _y(record))
    if op == "grid_sample":
        mode = str(record.spec.attr("mode"))
        return _mac_units({"nearest": 0, "bicubic": 16}.get(mode, 4) * _y(record))
    return Cost()


register_convention(
    Convention(
        name="torchprofile",
        title="torchprofile profile_macs",
        reports="macs",
        label="MACs",
        description=(
            "MACs of the ops in a torch.jit trace of the forward pass: convolution, addmm/linear/matmul/bmm, einsum "
            "and scaled_dot_product_attention (B*H*Lq*Lk*(D+Dv), whichever CPU path ran it) without "
            "bias; batch/layer/group/instance norm "
            "numel(output) when affine; average pooling, adaptive pooling and mean numel(output); "
            "mul and leaky_relu numel(output); upsample_bilinear2d 4 and grid_sampler 4 "
            "(bicubic 16) per output; everything else (add, activations, softmax, max pooling) 0."
        ),
        source="torchprofile/handlers.py HANDLER_MAP",
        rule=_torchprofile,
    )
)


# -- calflops (calculate_flops, pytorch backend) ------------------------------------------
# calflops patches torch.nn.functional and a few torch/Tensor functions
# (calflops/pytorch_ops.py _patch_functionals, _patch_tensor_methods) and sums what the
# patched calls report. MACs come only from F.linear, F.conv*, torch.matmul, addmm and
# baddbmm; FLOPs are 2 per MAC plus the conv bias, plus the functionals' element counts.
_CALFLOPS_PER_INPUT = frozenset(
    {"relu", "prelu", "elu", "leaky_relu", "silu", "gelu", "gelu_tanh", "softmax"}
    | {"max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"}
)


def _calflops(record: OpRecord) -> Cost:
    if record.phase != "forward":
        # calflops counts the forward pass; include_backPropagation=True (default False) would
        # scale its totals by 1 + compute_bp_factor (an estimate, not a count)
        return Cost()
    op = record.op
    if _written_mean(record) or record.within == _SDPA:
        # Tensor.mean is not patched; F.scaled_dot_product_attention is not patched, and its
        # CPU math path (bmm, softmax, dropout in C++) calls no patched function
        return Cost()
    cost = canonical(record)
    if op in ("conv", "conv_transpose"):
        return Cost(macs=cost.macs, flops=2 * cost.macs + cost.bias_flops)  # bias: one per output
    if op in ("linear", "matmul"):
        return Cost(macs=cost.macs, flops=2 * cost.macs)  # F.linear, torch.matmul: bias not counted
    if op == "batch_norm":
        per = (5 if _affine(record) else 4) if record.spec.flag("training") else (2 if _affine(record) else 1)
        return Cost.elementwise(_x(record) * per)
    if op in ("layer_norm", "group_norm", "instance_norm"):
        return Cost.elementwise(_x(record) * (5 if _affine(record) else 4))
    if op in _CALFLOPS_PER_INPUT:
        return Cost.elementwise(_x(record))  # F.relu, pools, softmax: numel(input)
    if op == "resize":
        return Cost.elementwise(_y(record))  # F.interpolate: numel(output)
    return Cost()


register_convention(
    Convention(
        name="calflops",
        title="calflops calculate_flops",
        reports="flops",
        label="FLOPS",
        description=(
            "FLOPs and MACs of patched torch.nn.functional calls in the forward pass (calflops' default, "
            "include_backPropagation=False): F.conv* 2 per MAC plus the "
            "bias; F.linear 2 per MAC (bias not counted); relu/prelu/elu/leaky_relu/silu/gelu, "
            "softmax and every pooling numel(input); batch norm numel x 2 (eval, affine), "
            "layer/group/instance norm numel x 5; interpolate numel(output). nn.ReLU6 and "
            "nn.Hardtanh call F.hardtanh, which is not patched (0); Tensor.mean, operators "
            "(x + y, x * y, x @ y), bmm and F.scaled_dot_product_attention count 0. MACs: "
            "convolution and linear only."
        ),
        source="calflops/pytorch_ops.py _patch_functionals, _patch_tensor_methods",
        rule=_calflops,
    )
)
