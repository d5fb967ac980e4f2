"""The hand-kept table from ONNX ops to canonical op specs.

ONNX already uses the canonical layout (NCHW tensors, [M, C/group, kH, kW]
weights), so translation is mostly naming and attributes. ``tests/test_onnx.py``
checks every entry names a registered formula and an op the installed onnx
knows. Ops absent from the table are recorded as unsupported, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...formulas import AttrValue, OpSpec, Shape
from .._table import MissingShape, TranslationTable

__all__ = ["TABLE", "MissingShape", "Node", "Translator", "lookup"]


@dataclass(slots=True)
class Node:
    """A node as translators see it: attributes, input/output names and shapes, constants."""

    op: str
    domain: str
    name: str
    attrs: Mapping[str, Any]
    inputs: list[str]
    outputs: list[str]
    shapes: Mapping[str, tuple[int | None, ...]]
    constants: Callable[[str], Any] = field(default=lambda name: None)
    zero: Callable[[str], bool] = field(default=lambda name: False)

    def has(self, index: int) -> bool:
        return index < len(self.inputs) and self.inputs[index] != ""

    def has_bias(self, index: int) -> bool:
        """An optional bias input that is present and not a constant zero (some exporters
        give every Conv a zero bias, expanded from a 0 constant at run time)."""
        return self.has(index) and not self.zero(self.inputs[index])

    def _concrete(self, name: str) -> Shape:
        shape = self.shapes.get(name)
        if shape is None or any(d is None for d in shape):
            raise MissingShape(f"the shape of {name!r} is unknown after shape inference")
        return tuple(int(d) for d in shape if d is not None)

    def ins(self, index: int) -> Shape:
        return self._concrete(self.inputs[index])

    def out(self, index: int = 0) -> Shape:
        return self._concrete(self.outputs[index])

    def all_ins(self) -> tuple[Shape, ...]:
        return tuple(self._concrete(n) for n in self.inputs if n)


Translator = Callable[[Node], OpSpec]
TABLE: TranslationTable[Translator] = TranslationTable("ONNX")
_register = TABLE.register
translates = TABLE.translates


def lookup(domain: str, op_type: str) -> Translator | None:
    """Standard ops by name; other domains as ``domain:op`` (``com.microsoft:Attention``)."""
    if domain in ("", "ai.onnx"):
        return TABLE.get(op_type)
    return TABLE.get(f"{domain}:{op_type}")


def _same(op: str, **attrs: AttrValue) -> Translator:
    def translate(node: Node) -> OpSpec:
        return OpSpec(op, node.all_ins(), (node.out(),), dict(attrs))

    return translate


_MOVEMENT = {
    "view": [
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Identity",
        "Expand",
        "Split",
        "Slice",
        "DepthToSpace",
        "SpaceToDepth",
    ],
    "copy": [
        "Concat",
        "Gather",
        "GatherElements",
        "GatherND",
        "ScatterElements",
        "ScatterND",
        "Scatter",
        "Tile",
        "Pad",
        "Cast",
        "CastLike",
        "Where",
        "Trilu",
        "NonZero",
        "Compress",
        "Dropout",
        "OneHot",
        "ReverseSequence",
        "Col2Im",
    ],
    "create": [
        "Shape",
        "Size",
        "Constant",
        "ConstantOfShape",
        "Range",
        "EyeLike",
        "RandomNormal",
        "RandomUniform",
        "RandomNormalLike",
        "RandomUniformLike",
        "Bernoulli",
    ],
}


def _moves(kind: str) -> Translator:
    """Data movement costs nothing whatever the shapes, so unknown shapes are fine here."""

    def translate(node: Node) -> OpSpec:
        out = []
        for name in node.outputs:
            shape = node.shapes.get(name) if name else None
            if shape is not None and all(d is not None for d in shape):
                out.append(tuple(d or 0 for d in shape))
        return OpSpec(kind, (), tuple(out))

    return translate


for _kind, _names in _MOVEMENT.items():
    for _name in _names:
        _register(_name, _moves(_kind))

_UNIFORM = {
    "Mul": "mul",
    "Div": "div",
    "Pow": "pow",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Exp": "exp",
    "Log": "log",
    "Neg": "neg",
    "Abs": "abs",
    "Erf": "erf",
    "Sin": "trig",
    "Cos": "trig",
    "Tan": "trig",
    "Asin": "trig",
    "Acos": "trig",
    "Atan": "trig",
    "Sinh": "trig",
    "Cosh": "trig",
    "Asinh": "trig",
    "Acosh": "trig",
    "Atanh": "trig",
    "Floor": "round",
    "Ceil": "round",
    "Round": "round",
    "Sign": "sign",
    "Equal": "compare",
    "Greater": "compare",
    "Less": "compare",
    "GreaterOrEqual": "compare",
    "LessOrEqual": "compare",
    "Not": "compare",
    "And": "compare",
    "Or": "compare",
    "Xor": "compare",
    "IsNaN": "compare",
    "IsInf": "compare",
    "Mod": "remainder",
    "BitShift": "compare",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "LeakyRelu": "leaky_relu",
    "PRelu": "prelu",
    "Elu": "elu",
    "Selu": "selu",
    "Celu": "celu",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "Mish": "mish",
    "ThresholdedRelu": "threshold",
}
for _name, _op in _UNIFORM.items():
    _register(_name, _same(_op))


@translates("Add", "Sub")
def _add(node: Node) -> OpSpec:
    return OpSpec("add", node.all_ins(), (node.out(),))


@translates("Sum", "Max", "Min", "Mean")
def _variadic(node: Node) -> OpSpec:
    # n operands combined elementwise = a reduction over them stacked: n - 1 adds (or
    # compares) per output element, + 1 divide for Mean. Broadcasting prices on the output.
    op = {"Sum": "sum", "Max": "max", "Min": "min", "Mean": "mean"}[node.op]
    out = node.out()
    operands = len([i for i in node.inputs if i])
    return OpSpec(op, ((operands, *out),), (out,))


@translates("Gelu")
def _gelu(node: Node) -> OpSpec:
    return OpSpec("gelu_tanh" if node.attrs.get("approximate") == "tanh" else "gelu", node.all_ins(), (node.out(),))


@translates("Clip")
def _clip(node: Node) -> OpSpec:
    bounds = int(node.has(1)) + int(node.has(2))
    return OpSpec("clamp", (node.ins(0),), (node.out(),), {"bounds": bounds})


@translates("Softmax", "LogSoftmax")
def _softmax(node: Node) -> OpSpec:
    op = "softmax" if node.op == "Softmax" else "log_softmax"
    return OpSpec(op, (node.ins(0),), (node.out(),), {"dim": int(node.attrs.get("axis", -1))})


# -- contractions --------------------------------------------------------------------------


def _geometry(node: Node, rank: int, *names: str) -> dict[str, AttrValue]:
    """``strides`` (and ``dilations``) per spatial dimension, default 1, for the receptive
    field (formulas price from shapes alone)."""
    attrs: dict[str, AttrValue] = {}
    for source, target in (("strides", "stride"), *((n, n.rstrip("s")) for n in names)):
        values = tuple(int(v) for v in node.attrs.get(source) or ())
        attrs[target] = values if len(values) == rank else (1,) * rank
    return attrs


def _conv(canonical: str) -> Translator:
    """Conv and ConvTranspose share their inputs (X, W, optional B) and attributes."""

    def translate(node: Node) -> OpSpec:
        x = node.ins(0)
        return OpSpec(
            canonical,
            (x, node.ins(1)),
            (node.out(),),
            {
                "bias": node.has_bias(2),
                "groups": int(node.attrs.get("group", 1)),
                **_geometry(node, len(x) - 2, "dilations"),
            },
        )

    return translate


_register("Conv", _conv("conv"))
_register("ConvTranspose", _conv("conv_transpose"))


@translates("Gemm")
def _gemm(node: Node) -> OpSpec:
    a, b = node.ins(0), node.ins(1)
    if node.attrs.get("transA"):
        a = (a[1], a[0])
    if node.attrs.get("transB"):
        b = (b[1], b[0])
    beta = float(node.attrs.get("beta", 1.0))
    return OpSpec(
        "matmul",
        (a, b),
        (node.out(),),
        {
            "bias": node.has_bias(2) and beta != 0,
            "alpha": float(node.attrs.get("alpha", 1.0)) != 1.0,
            "beta": beta not in (0.0, 1.0),
        },
    )


@translates("MatMul", "MatMulInteger", "QLinearMatMul")
def _matmul(node: Node) -> OpSpec:
    second = 3 if node.op == "QLinearMatMul" else 1
    return OpSpec("matmul", (node.ins(0), node.ins(second)), (node.out(),))


@translates("com.microsoft:FusedMatMul")
def _fused_matmul(node: Node) -> OpSpec:
    a, b = node.ins(0), node.ins(1)
    if node.attrs.get("transA"):
        a = (*a[:-2], a[-1], a[-2])
    if node.attrs.get("transB"):
        b = (*b[:-2], b[-1], b[-2])
    return OpSpec("matmul", (a, b), (node.out(),), {"alpha": float(node.attrs.get("alpha", 1.0)) != 1.0})


@translates("Einsum")
def _einsum(node: Node) -> OpSpec:
    equation = str(node.attrs["equation"]).replace(" ", "")
    shapes = node.all_ins()
    if "..." in equation:  # expand the ellipsis with letters the equation does not use
        free = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in equation]
        lhs, _, rhs = equation.partition("->")
        terms = lhs.split(",")
        width = max(len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t)
        letters = "".join(free[:width])
        terms = [t.replace("...", letters[width - (len(s) - (len(t) - 3)) :]) for t, s in zip(terms, shapes)]
        rhs = rhs.replace("...", letters) if "->" in equation else letters + rhs
        equation = ",".join(terms) + "->" + rhs
    return OpSpec("einsum", shapes, (node.out(),), {"equation": equation})


# -- attention -----------------------------------------------------------------------------


def _heads(shape: Shape, heads: int) -> Shape:
    if len(shape) == 4:
        return shape
    batch, length, width = shape
    return (batch, heads, length, width // heads)


@translates("Attention")
def _attention(node: Node) -> OpSpec:
    # ONNX opset 23: Q, K, V as [B, H, S, E] or [B, S, H*E] with q_num_heads/kv_num_heads.
    q_heads = int(node.attrs.get("q_num_heads", 1))
    kv_heads = int(node.attrs.get("kv_num_heads", q_heads))
    q, k, v = node.ins(0), node.ins(1), node.ins(2)
    shapes = (_heads(q, q_heads), _heads(k, kv_heads), _heads(v, kv_heads))
    return OpSpec(
        "attention", shapes, (node.out(),), {"causal": bool(node.attrs.get("is_causal")), "mask": node.has(3)}
    )


@translates("com.microsoft:MultiHeadAttention")
def _ms_mha(node: Node) -> OpSpec:
    heads = int(node.attrs["num_heads"])
    q, k, v = node.ins(0), node.ins(1), node.ins(2)
    return OpSpec(
        "attention",
        (_heads(q, heads), _heads(k, heads), _heads(v, heads)),
        (node.out(),),
        {"mask": node.has(4) or node.has(5)},
    )


@translates("com.microsoft:Attention")
def _ms_attention(node: Node) -> OpSpec:
    # input [B, S, hidden] with the packed QKV weight [hidden, 3*hidden]: projections + attention.
    x, weight = node.ins(0), node.ins(1)
    heads = int(node.attrs["num_heads"])
    hidden = weight[1] // 3
    qkv = (x[0], x[1], hidden)
    return OpSpec(
        "multi_head_attention",
        (qkv, qkv, qkv),
        (node.out(),),
        {
            "num_heads": heads,
            "bias": node.has(2),
            "mask": node.has(3),
            "causal": bool(node.attrs.get("unidirectional")),
        },
    )


# -- normalization -------------------------------------------------------------------------


@translates("BatchNormalization")
def _batch_norm(node: Node) -> OpSpec:
    return OpSpec(
        "batch_norm",
        (node.ins(0),),
        (node.out(),),
        {"training": bool(node.attrs.get("training_mode", 0)), "affine": True},
    )


@translates("LayerNormalization", "com.microsoft:LayerNormalization", "com.microsoft:SimplifiedLayerNormalization")
def _layer_norm(node: Node) -> OpSpec:
    x = node.ins(0)
    axis = int(node.attrs.get("axis", -1))
    ndim = len(x) - (axis % len(x))
    if node.op == "SimplifiedLayerNormalization":
        return OpSpec("rms_norm", (x,), (node.out(),), {"normalized_ndim": ndim, "weight": node.has(1)})
    return OpSpec(
        "layer_norm", (x,), (node.out(),), {"normalized_ndim": ndim, "weight": node.has(1), "bias": node.has(2)}
    )


@translates("RMSNormalization")
def _rms_norm(node: Node) -> OpSpec:
    x = node.ins(0)
    axis = int(node.attrs.get("axis", -1))
    return OpSpec("rms_norm", (x,), (node.out(),), {"normalized_ndim": len(x) - (axis % len(x)), "weight": node.has(1)})


@translates("GroupNormalization")
def _group_norm(node: Node) -> OpSpec:
    return OpSpec(
        "group_norm", (node.ins(0),), (node.out(),), {"groups": int(node.attrs["num_groups"]), "affine": True}
    )


@translates("InstanceNormalization")
def _instance_norm(node: Node) -> OpSpec:
    x = node.ins(0)
    return OpSpec("instance_norm", (x,), (node.out(),), {"groups": x[1], "affine": True})


@translates("com.microsoft:SkipLayerNormalization")
def _skip_layer_norm(node: Node) -> OpSpec:
    # the residual add is folded in: priced as a layer norm of the sum (the add is 1 FLOP per element more)
    x = node.ins(0)
    return OpSpec("layer_norm", (x,), (node.out(),), {"normalized_ndim": 1, "weight": True, "bias": node.has(3)})


# -- pooling, reductions, resizing -----------------------------------------------------------


def _pool(op: str) -> Translator:
    def translate(node: Node) -> OpSpec:
        kernel = tuple(int(k) for k in node.attrs["kernel_shape"])
        attrs: dict[str, AttrValue] = {"kernel": kernel, **_geometry(node, len(kernel), "dilations")}
        return OpSpec(op, (node.ins(0),), (node.out(),), attrs)

    return translate


_register("MaxPool", _pool("max_pool"))
_register("AveragePool", _pool("avg_pool"))


@translates("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: Node) -> OpSpec:
    op = "adaptive_avg_pool" if node.op == "GlobalAveragePool" else "adaptive_max_pool"
    return OpSpec(op, (node.ins(0),), (node.out(),))


_REDUCE = {
    "ReduceMean": "mean",
    "ReduceSum": "sum",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceL2": "norm",
    "ReduceLogSumExp": "logsumexp",
    "ArgMax": "argmax",
    "ArgMin": "argmin",
    "ReduceSumSquare": "norm",
    "ReduceL1": "sum",
    "CumSum": "cumsum",
}


def _reduce(op: str) -> Translator:
    def translate(node: Node) -> OpSpec:
        x, y = node.ins(0), node.out()
        if op == "mean" and len(x) == 4 and len(y) == 4 and y[2:] == (1, 1) and x[2:] != (1, 1):
            return OpSpec("adaptive_avg_pool", (x,), (y,))  # global average pooling, as PyTorch's
        return OpSpec(op, (x,), (y,))

    return translate


for _name, _op in _REDUCE.items():
    _register(_name, _reduce(_op))


@translates("Resize", "Upsample")
def _resize(node: Node) -> OpSpec:
    x, y = node.ins(0), node.out()
    mode = str(node.attrs.get("mode", "nearest"))
    spatial = len(y) - 2
    canonical = {"nearest": "nearest", "cubic": "bicubic"}.get(mode)
    if canonical is None:
        canonical = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(spatial, "trilinear")
    return OpSpec("resize", (x,), (y,), {"mode": canonical})


# -- recurrent --------------------------------------------------------------------------------


def _recurrent(op: str) -> Translator:
    def translate(node: Node) -> OpSpec:
        x = node.ins(0)
        if node.attrs.get("layout", 0) == 1:  # [batch, seq, input] -> [seq, batch, input]
            x = (x[1], x[0], x[2])
        attrs: dict[str, AttrValue] = {
            "hidden_size": int(node.attrs["hidden_size"]),
            "num_layers": 1,
            "bidirectional": node.attrs.get("direction", b"forward") in ("bidirectional", b"bidirectional"),
            "bias_vectors": 2 if node.has(3) else 0,  # B holds the input and recurrent biases
        }
        if op == "rnn":
            activations = node.attrs.get("activations") or ["Tanh"]
            attrs["nonlinearity"] = "relu" if str(activations[0]).lower().strip("b'") == "relu" else "tanh"
        return OpSpec(op, (x,), (node.out(),) if node.outputs and node.outputs[0] else (), attrs)

    return translate


_register("LSTM", _recurrent("lstm"))
_register("GRU", _recurrent("gru"))
_register("RNN", _recurrent("rnn"))
