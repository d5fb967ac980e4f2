"""The hand-kept table from TensorFlow ops to canonical op specs.

TensorFlow computes in NHWC with HWIO filters; formulas take the canonical
NCHW / OIHW layout, so translators convert shapes. ``tests/test_tensorflow.py``
checks every entry names a registered op of the installed TensorFlow and a
registered formula.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...formulas import AttrValue, OpSpec, Shape
from .._table import MissingShape, TranslationTable

__all__ = ["TABLE", "MissingShape", "TfOp", "Translator", "channels_first"]


@dataclass(slots=True)
class TfOp:
    """An op as translators see it: type, attributes, shapes, static input values."""

    type: str
    name: str
    input_shapes: Sequence[tuple[int | None, ...] | None]
    output_shapes: Sequence[tuple[int | None, ...] | None]
    get_attr: Callable[[str], Any]
    static: Callable[[int], Any]

    def attr(self, name: str, default: Any = None) -> Any:
        try:
            value = self.get_attr(name)
        except (ValueError, KeyError):
            return default
        return value.decode() if isinstance(value, bytes) else value

    def _concrete(self, shape: tuple[int | None, ...] | None, what: str) -> Shape:
        if shape is None or any(d is None for d in shape):
            raise MissingShape(f"{what} of {self.name} has no static shape ({shape})")
        return tuple(int(d) for d in shape if d is not None)

    def ins(self, index: int) -> Shape:
        return self._concrete(self.input_shapes[index], f"input {index}")

    def out(self, index: int = 0) -> Shape:
        return self._concrete(self.output_shapes[index], f"output {index}")

    @property
    def nchw(self) -> bool:
        return str(self.attr("data_format", "NHWC")).startswith("NC")


def channels_first(shape: Shape, nchw: bool = False) -> Shape:
    """NHWC (or NDHWC) -> NCHW (NCDHW); already channels-first shapes pass through."""
    if nchw or len(shape) < 3:
        return shape
    return (shape[0], shape[-1], *shape[1:-1])


Translator = Callable[[TfOp], OpSpec]
TABLE: TranslationTable[Translator] = TranslationTable("TensorFlow")
_register = TABLE.register
translates = TABLE.translates


def _moves(kind: str) -> Translator:
    def translate(op: TfOp) -> OpSpec:
        return OpSpec(
            kind, (), tuple(tuple(d or 0 for d in s) for s in op.output_shapes if s is not None and None not in s)
        )

    return translate


_MOVEMENT = {
    "view": [
        "Reshape",
        "Transpose",
        "Squeeze",
        "ExpandDims",
        "StridedSlice",
        "Slice",
        "Identity",
        "IdentityN",
        "Snapshot",
        "StopGradient",
        "Split",
        "SplitV",
        "Unpack",
        "BroadcastTo",
        "PreventGradient",
        "EnsureShape",
        "CheckNumerics",
    ],
    "copy": [
        "ConcatV2",
        "Concat",
        "Pack",
        "GatherV2",
        "Gather",
        "GatherNd",
        "ScatterNd",
        "Tile",
        "Pad",
        "PadV2",
        "MirrorPad",
        "Cast",
        "Select",
        "SelectV2",
        "Where",
        "OneHot",
        "ReverseV2",
        "DepthToSpace",
        "SpaceToDepth",
        "TensorListReserve",
        "TensorListFromTensor",
        "TensorListGetItem",
        "TensorListSetItem",
        "TensorListStack",
        "TensorListLength",
        "TensorListElementShape",
        "ReadVariableOp",
        "Bitcast",
    ],
    "create": [
        "Const",
        "Placeholder",
        "NoOp",
        "VarHandleOp",
        "Shape",
        "ShapeN",
        "Size",
        "Rank",
        "Fill",
        "ZerosLike",
        "OnesLike",
        "Range",
        "RandomUniform",
        "RandomStandardNormal",
        "StatelessRandomUniformV2",
        "StatelessRandomNormalV2",
        "StatelessRandomGetKeyCounter",
        "AssignVariableOp",
        "VariableShape",
    ],
}
for _kind, _names in _MOVEMENT.items():
    for _name in _names:
        _register(_name, _moves(_kind))

_UNIFORM = {
    "AddV2": "add",
    "Add": "add",
    "Sub": "add",
    "Mul": "mul",
    "RealDiv": "div",
    "Div": "div",
    "DivNoNan": "div",
    "FloorDiv": "div",
    "Maximum": "maximum",
    "Minimum": "minimum",
    "Pow": "pow",
    "SquaredDifference": "squared_difference",
    "Rsqrt": "rsqrt",
    "Sqrt": "sqrt",
    "Exp": "exp",
    "Log": "log",
    "Log1p": "log",
    "Neg": "neg",
    "Abs": "abs",
    "Square": "square",
    "Reciprocal": "reciprocal",
    "Inv": "reciprocal",
    "Erf": "erf",
    "Erfc": "erf",
    "Floor": "round",
    "Ceil": "round",
    "Round": "round",
    "Rint": "round",
    "Sign": "sign",
    "FloorMod": "remainder",
    "Sin": "trig",
    "Cos": "trig",
    "Tan": "trig",
    "Atan2": "atan2",
    "Equal": "compare",
    "NotEqual": "compare",
    "Greater": "compare",
    "GreaterEqual": "compare",
    "Less": "compare",
    "LessEqual": "compare",
    "LogicalAnd": "compare",
    "LogicalOr": "compare",
    "LogicalNot": "compare",
    "IsNan": "compare",
    "IsFinite": "compare",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Relu": "relu",
    "Relu6": "relu6",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "LeakyRelu": "leaky_relu",
}


def _uniform(canonical: str) -> Translator:
    def translate(op: TfOp) -> OpSpec:
        return OpSpec(canonical, tuple(op.ins(i) for i in range(len(op.input_shapes))), (op.out(),))

    return translate


for _name, _op in _UNIFORM.items():
    _register(_name, _uniform(_op))


@translates("ClipByValue")
def _clip(op: TfOp) -> OpSpec:
    return OpSpec("clamp", (op.ins(0),), (op.out(),), {"bounds": 2})


@translates("AddN")
def _add_n(op: TfOp) -> OpSpec:
    out = op.out()
    return OpSpec("sum", ((len(op.input_shapes), *out),), (out,))  # n - 1 adds per element


@translates("Softmax", "LogSoftmax")
def _softmax(op: TfOp) -> OpSpec:
    return OpSpec("softmax" if op.type == "Softmax" else "log_softmax", (op.ins(0),), (op.out(),), {"dim": -1})


@translates("BiasAdd")
def _bias_add(op: TfOp) -> OpSpec:
    # A BiasAdd after a convolution or matmul is folded into it by the walker; alone it is an add.
    return OpSpec("add", (op.ins(0), op.ins(1)), (op.out(),))


# -- contractions -------------------------------------------------------------------------


def _filter_oihw(filter_shape: Shape) -> Shape:
    """HWIO (or DHWIO) -> OIHW."""
    *kernel, c_in, c_out = filter_shape
    return (c_out, c_in, *kernel)


def _spatial(op: TfOp, name: str, rank: int) -> tuple[AttrValue, ...]:
    """A per-dimension attribute (``strides``, ``dilations``, ``ksize``) without its
    batch and channel entries; 1 per spatial dimension when absent."""
    values = [int(v) for v in op.attr(name) or ()]
    if len(values) != rank + 2:
        return (1,) * rank
    return tuple(values[2:] if op.nchw else values[1:-1])


def _geometry(op: TfOp, rank: int) -> dict[str, AttrValue]:
    """Stride and dilation, for the receptive field (formulas price from shapes alone)."""
    return {"stride": _spatial(op, "strides", rank), "dilation": _spatial(op, "dilations", rank)}


@translates("Conv2D", "Conv3D", "Conv")
def _conv(op: TfOp) -> OpSpec:
    x = channels_first(op.ins(0), op.nchw)
    weight = _filter_oihw(op.ins(1))
    groups = max(x[1] // weight[1], 1)
    return OpSpec(
        "conv",
        (x, weight),
        (channels_first(op.out(), op.nchw),),
        {"bias": False, "groups": groups, **_geometry(op, len(x) - 2)},
    )


@translates("DepthwiseConv2dNative")
def _depthwise(op: TfOp) -> OpSpec:
    x = channels_first(op.ins(0), op.nchw)
    kh, kw, c_in, multiplier = op.ins(1)
    return OpSpec(
        "conv",
        (x, (c_in * multiplier, 1, kh, kw)),
        (channels_first(op.out(), op.nchw),),
        {"bias": False, "groups": c_in, **_geometry(op, 2)},
    )


@translates("Conv2DBackpropInput", "Conv3DBackpropInputV2")
def _conv_transpose(op: TfOp) -> OpSpec:
    # Keras' Conv2DTranspose: filter [kh, kw, out_channels, in_channels], out_backprop is the input.
    *kernel, c_out, c_in = op.ins(1)
    x = channels_first(op.ins(2), op.nchw)
    return OpSpec(
        "conv_transpose",
        (x, (c_in, c_out, *kernel)),
        (channels_first(op.out(), op.nchw),),
        {"bias": False, "groups": 1, **_geometry(op, len(x) - 2)},
    )


@translates("MatMul")
def _matmul(op: TfOp) -> OpSpec:
    a, b = op.ins(0), op.ins(1)
    if op.attr("transpose_a"):
        a = (a[1], a[0])
    if op.attr("transpose_b"):
        b = (b[1], b[0])
    return OpSpec("matmul", (a, b), (op.out(),), {"bias": False})


@translates("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(op: TfOp) -> OpSpec:
    a, b = op.ins(0), op.ins(1)
    if op.attr("adj_x"):
        a = (*a[:-2], a[-1], a[-2])
    if op.attr("adj_y"):
        b = (*b[:-2], b[-1], b[-2])
    return OpSpec("matmul", (a, b), (op.out(),))


@translates("Einsum")
def _einsum(op: TfOp) -> OpSpec:
    equation = str(op.attr("equation")).replace(" ", "")
    shapes = tuple(op.ins(i) for i in range(len(op.input_shapes)))
    if "..." in equation:
        from ..onnx.ops import Node  # the same ellipsis expansion as for ONNX
        from ..onnx.ops import _einsum as expand

        names = [f"i{i}" for i in range(len(shapes))]
        view = Node(
            "Einsum", "", op.name, {"equation": equation}, names, ["o"], {**dict(zip(names, shapes)), "o": op.out()}
        )
        return expand(view)
    return OpSpec("einsum", shapes, (op.out(),), {"equation": equation})


# -- normalization, pooling, reductions, resizing ----------------------------------------------


@translates("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_batch_norm(op: TfOp) -> OpSpec:
    x = channels_first(op.ins(0), op.nchw)
    return OpSpec("batch_norm", (x,), (x,), {"training": bool(op.attr("is_training", False)), "affine": True})


def _pool(canonical: str) -> Translator:
    def translate(op: TfOp) -> OpSpec:
        window = [int(k) for k in op.attr("ksize")]
        kernel: tuple[AttrValue, ...] = tuple(window[2:] if op.nchw else window[1:-1])
        return OpSpec(
            canonical,
            (channels_first(op.ins(0), op.nchw),),
            (channels_first(op.out(), op.nchw),),
            {"kernel": kernel, "stride": _spatial(op, "strides", len(kernel))},
        )

    return translate


_register(["MaxPool", "MaxPool3D"], _pool("max_pool"))
_register(["AvgPool", "AvgPool3D"], _pool("avg_pool"))

_REDUCE = {
    "Mean": "mean",
    "Sum": "sum",
    "Max": "max",
    "Min": "min",
    "Prod": "prod",
    "ArgMax": "argmax",
    "ArgMin": "argmin",
    "Cumsum": "cumsum",
    "Cumprod": "cumprod",
}


def _reduce(canonical: str) -> Translator:
    def translate(op: TfOp) -> OpSpec:
        x, y = op.ins(0), op.out()
        axes = op.static(1)
        if canonical == "mean" and len(x) == 4 and axes is not None:
            spatial = {int(a) % 4 for a in list(axes.reshape(-1))}
            if spatial == {1, 2}:  # global average pooling over H and W (NHWC)
                pooled = (x[0], x[3], 1, 1)
                return OpSpec("adaptive_avg_pool", (channels_first(x),), (pooled,))
        return OpSpec(canonical, (x,), (y,))

    return translate


for _name, _op in _REDUCE.items():
    _register(_name, _reduce(_op))


@translates("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")
def _resize(op: TfOp) -> OpSpec:
    mode = {
        "ResizeBilinear": "bilinear",
        "ResizeNearestNeighbor": "nearest",
        "ResizeBicubic": "bicubic",
        "ResizeArea": "area",
    }[op.type]
    return OpSpec("resize", (channels_first(op.ins(0)),), (channels_first(op.out()),), {"mode": mode})


@translates("ResourceGather")
def _resource_gather(op: TfOp) -> OpSpec:
    # Keras Embedding: a lookup into the table (the variable is input 0)
    return OpSpec("embedding", (op.ins(1),), (op.out(),))
