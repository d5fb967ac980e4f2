"""Load an ONNX model without its external weight data, bind symbolic dimensions,
and infer every tensor's shape statically. Nothing in the file is executed."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import onnx

from ...errors import ProfilingError
from . import wire
from .wire import _INTEGER_TYPES, KEEP_INTEGER_ELEMENTS, ZERO_TEST_ELEMENTS

__all__ = [
    "KEEP_INTEGER_ELEMENTS",
    "ZERO_TEST_ELEMENTS",
    "bind_inputs",
    "check_dim",
    "check_model",
    "graph_inputs",
    "infer_shapes",
    "load_model",
    "strip_weights",
    "symbolic_dims",
]

Shape = tuple[int | None, ...]

INT64_MAX = 2**63 - 1  # ONNX stores dimensions as int64

_PAYLOADS = (
    "raw_data",
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)


def _numel(tensor: onnx.TensorProto) -> int:
    total = 1
    for dim in tensor.dims:
        total *= dim
    return total


def _payload_is_zero(tensor: onnx.TensorProto) -> bool:
    """Whether a small tensor's inline payload is all zero bytes/values (no numpy array);
    a tensor above ``ZERO_TEST_ELEMENTS`` is not read and counts as not zero."""
    if _numel(tensor) > ZERO_TEST_ELEMENTS:
        return False
    if tensor.raw_data:
        raw = tensor.raw_data
        return not any(raw[:64]) and raw.count(0) == len(raw)
    for name in _PAYLOADS[1:]:
        values = getattr(tensor, name)
        if len(values):
            return not any(values)
    return False


def _strip_tensor(tensor: onnx.TensorProto, zeros: dict[str, bool]) -> None:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return
    if tensor.data_type in _INTEGER_TYPES and _numel(tensor) <= KEEP_INTEGER_ELEMENTS:
        return
    zeros[tensor.name] = bool(_numel(tensor)) and _payload_is_zero(tensor)
    for name in _PAYLOADS:
        tensor.ClearField(name)  # type: ignore[arg-type]


def strip_weights(proto: onnx.ModelProto) -> dict[str, bool]:
    """Drop, in place, the payload of every initializer and ``Constant`` value (in every
    subgraph) except small integer tensors; names, dims and dtypes stay. Returns the
    stripped tensors' names, each with whether its payload was all zero (what a zero
    bias test needs), so no weight is ever turned into an array."""
    zeros: dict[str, bool] = {}
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for tensor in graph.initializer:
            _strip_tensor(tensor, zeros)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR and node.op_type == "Constant" and node.output:
                    name = attribute.t.name or node.output[0]
                    if not isinstance(name, str):  # protobuf gives a name that is not UTF-8 as bytes
                        raise ProfilingError(
                            f"the model holds a name that is not UTF-8 text ({name!r:.60}): the file is corrupt"
                        )
                    attribute.t.name = name
                    _strip_tensor(attribute.t, zeros)
                    if attribute.t.name in zeros and attribute.t.name != node.output[0]:
                        zeros[node.output[0]] = zeros[attribute.t.name]
                elif attribute.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attribute.g)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    graphs.extend(attribute.graphs)
    return zeros


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if hasattr(value, "extend"):  # a repeated field
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a caller's ModelProto without the main graph's initializer payloads (never
    copied: only names, dims and dtypes, and small integer tensors whole)."""
    skeleton = onnx.ModelProto()
    _copy_fields(model, skeleton, skip="graph")
    _copy_fields(model.graph, skeleton.graph, skip="initializer")
    initializers = model.graph.initializer
    for tensor in initializers:
        header = skeleton.graph.initializer.add()
        if tensor.data_type in _INTEGER_TYPES and _numel(tensor) <= KEEP_INTEGER_ELEMENTS:
            header.CopyFrom(tensor)
            continue
        header.name = tensor.name
        header.data_type = tensor.data_type
        header.dims.extend(tensor.dims)
        header.data_location = tensor.data_location
        header.external_data.extend(tensor.external_data)
        if tensor.data_location != onnx.TensorProto.EXTERNAL:  # keep its zero flag readable
            header.raw_data = b"\0" if _numel(tensor) and _payload_is_zero(tensor) else b"\1"
    return skeleton


def check_dim(value: Any, what: str) -> int:
    """A dimension's value: a positive integer that fits ONNX's int64 (never a bool, a
    float, 0 or a negative number, which would count nothing or be silently floored).

    Raises:
        ProfilingError: one line naming ``what`` and the accepted values.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ProfilingError(f"{what} = {value!r}: a dimension must be a positive integer, not {type(value).__name__}")
    size = int(value)
    if not 1 <= size <= INT64_MAX:
        shown = f"{size}" if len(str(size)) <= 30 else f"{str(size)[:27]}..."
        raise ProfilingError(f"{what} = {shown}: a dimension must be a positive integer from 1 to 2**63-1")
    return size


def symbolic_dims(proto: onnx.ModelProto) -> list[str]:
    """The named symbolic dimensions of the graph's inputs, in order, each once."""
    names: dict[str, None] = {}
    for value in graph_inputs(proto):
        if value.type.WhichOneof("value") == "tensor_type" and value.type.tensor_type.HasField("shape"):
            for dim in value.type.tensor_type.shape.dim:
                if dim.dim_param:
                    names[dim.dim_param] = None
    return list(names)


def _check_dims(proto: onnx.ModelProto, dims: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(dims, Mapping):
        raise ProfilingError(
            f"dims must be a mapping of dimension name to size, e.g. {{'batch': 1}}; got {type(dims).__name__}"
        )
    known = symbolic_dims(proto)
    unknown = [name for name in dims if name not in known]
    if unknown:
        listed = ", ".join(repr(n) for n in known) if known else "none"
        raise ProfilingError(
            f"dims name {', '.join(repr(str(n)) for n in unknown)}, not a dimension of this model; "
            f"its symbolic dimensions are: {listed}"
        )
    return {name: check_dim(value, f"dims[{name!r}]") for name, value in dims.items()}


def _check_shape(shape: Any, what: str) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)):
        raise ProfilingError(f"{what} = {shape!r} is not a shape: pass e.g. (1, 3, 224, 224)")
    return tuple(check_dim(d, f"{what}[{i}]") for i, d in enumerate(shape))


def _parse(path: str | None, data: bytes | bytearray | None) -> onnx.ModelProto:
    """The model at ``path`` (or in ``data``) parsed around its weight payloads (see
    ``wire.read_model``: what ``strip_weights`` drops is never read), or, for an
    encoding that reader does not model, parsed whole as ``onnx.load`` would."""
    try:
        return wire.read_model(path, data)  # wire.Corrupt: the caller's ProfilingError says so
    except wire.Unusual:
        pass
    if data is None:
        assert path is not None
        with open(path, "rb") as file:
            data = file.read()
    proto: onnx.ModelProto = onnx.ModelProto.FromString(bytes(data))
    return proto


def load_model(model: Any) -> tuple[onnx.ModelProto, str, dict[str, bool]]:
    """A weightless ModelProto from a path, bytes or ModelProto (external data left on
    disk; from a path or bytes, the inline weight payloads are skipped while parsing,
    never read: see ``wire.read_model``; what is left is stripped by ``strip_weights``),
    its label, and the stripped tensors' zero flags. A caller's ModelProto is never changed.

    Raises:
        ProfilingError: missing, truncated or malformed file, with what to check.
    """
    if isinstance(model, onnx.ModelProto):
        skeleton = _skeleton(model)
        return skeleton, model.graph.name or "onnx model", strip_weights(skeleton)
    if isinstance(model, (bytes, bytearray)):
        try:
            proto = _parse(None, model)
        except Exception as error:
            raise ProfilingError(f"these bytes are not an ONNX model (truncated or corrupt?): {error}") from error
        if not proto.graph.node and not proto.graph.input:
            raise ProfilingError("these bytes hold no ONNX graph (empty, or not an ONNX model)")
        return proto, "onnx model", strip_weights(proto)
    path = os.fspath(model)
    if not os.path.exists(path):
        raise ProfilingError(f"no such ONNX file: {path!r}")
    try:
        proto = _parse(path, None)
    except Exception as error:
        raise ProfilingError(
            f"{path!r} is not a readable ONNX model (truncated or corrupt file?): {type(error).__name__}: {error}"
        ) from error
    if not proto.graph.node and not proto.graph.input:
        raise ProfilingError(f"{path!r} holds no ONNX graph (empty or not an ONNX file)")
    zeros = strip_weights(proto)
    return proto, os.path.splitext(os.path.basename(path))[0], zeros


def check_model(proto: onnx.ModelProto) -> None:
    """Refuse what would otherwise give a wrong number or an unreadable record: names that
    are not UTF-8 text (a corrupt file) and initializers with negative dimensions.

    Raises:
        ProfilingError: naming the first such name or initializer.
    """
    graphs = [proto.graph]
    texts: list[object] = [proto.producer_name, proto.producer_version, proto.domain]
    add, extend = texts.append, texts.extend
    extend([o.domain for o in proto.opset_import])
    extend([t for p in proto.metadata_props for t in (p.key, p.value)])
    graph_attributes = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    for graph in graphs:
        add(graph.name)
        for value in (*graph.input, *graph.output, *graph.value_info):
            add(value.name)
            if value.type.WhichOneof("value") == "tensor_type":
                extend([d.dim_param for d in value.type.tensor_type.shape.dim])
        for tensor in graph.initializer:
            add(tensor.name)
            if any(d < 0 for d in tensor.dims):
                raise ProfilingError(
                    f"initializer {tensor.name!r} has a negative dimension {list(tensor.dims)}: the model is corrupt"
                )
        for node in graph.node:
            # the repeated fields extend the list from C; the per-node cost is a few attribute reads
            add(node.name)
            add(node.op_type)
            add(node.domain)
            extend(node.input)
            extend(node.output)
            if node.metadata_props:
                extend([t for p in node.metadata_props for t in (p.key, p.value)])
            if node.attribute:
                for attribute in node.attribute:
                    add(attribute.name)
                    if attribute.type in graph_attributes:
                        if attribute.type == onnx.AttributeProto.GRAPH:
                            graphs.append(attribute.g)
                        else:
                            graphs.extend(attribute.graphs)
    # every text's type, collected in C: only a name that failed to decode is not a str
    if set(map(type, texts)) - {str}:
        for text in texts:
            if not isinstance(text, str):
                raise ProfilingError(
                    f"the model holds a name that is not UTF-8 text ({text!r:.60}): the file is corrupt"
                )


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph's real inputs (not initializers listed as inputs, as old exporters did)."""
    initializers = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in initializers]


def bind_inputs(
    proto: onnx.ModelProto,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | Mapping[str, Sequence[int]] | None,
    dims: Mapping[str, int] | None,
) -> onnx.ModelProto:
    """``proto`` (changed in place: it is the loader's own weightless copy) with inputs
    of concrete shapes.

    ``input_shape`` gives whole shapes (one, one per input in order, or by input
    name); ``dims`` gives values for named symbolic dimensions (``batch=1``).

    Raises:
        ProfilingError: a dimension stays unknown (the message names every one); a
            ``dims`` name the graph's inputs do not have (the message lists those
            they have); a size that is not a positive integer within int64.
    """
    checked = _check_dims(proto, dims) if dims is not None else None
    dims = checked
    bound = proto
    inputs = graph_inputs(bound)
    shapes: dict[str, Sequence[int]] = {}
    if input_shape is not None:
        if isinstance(input_shape, Mapping):
            unknown = set(input_shape) - {i.name for i in inputs}
            if unknown:
                raise ProfilingError(
                    f"input_shape names unknown inputs {sorted(unknown)}; the model's inputs are {[i.name for i in inputs]}"
                )
            shapes = {k: _check_shape(v, f"input_shape[{k!r}]") for k, v in input_shape.items()}
        elif not isinstance(input_shape, (list, tuple)):
            raise ProfilingError(f"input_shape {input_shape!r} is not a shape: pass e.g. (1, 3, 224, 224)")
        elif input_shape and not any(isinstance(d, (list, tuple, Mapping)) for d in input_shape):  # one shape
            shapes = {inputs[0].name: _check_shape(input_shape, "input_shape")} if inputs else {}
        else:
            listed = list(input_shape)
            if len(listed) > len(inputs):
                raise ProfilingError(f"{len(listed)} input shapes given, but the model has {len(inputs)} inputs")
            shapes = {i.name: _check_shape(s, f"input_shape[{n}]") for n, (i, s) in enumerate(zip(inputs, listed))}
    unresolved = []
    for value in inputs:
        tensor = value.type.tensor_type
        given = shapes.get(value.name)
        if given is not None:
            if tensor.HasField("shape") and len(tensor.shape.dim) not in (0, len(given)):
                raise ProfilingError(
                    f"input {value.name!r} has rank {len(tensor.shape.dim)}, but the shape given is {tuple(given)}"
                )
            tensor.shape.ClearField("dim")
            for size in given:
                tensor.shape.dim.add().dim_value = int(size)
            continue
        missing = []
        for index, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            if dim.dim_param and dims and dim.dim_param in dims:
                size = dims[dim.dim_param]
                dim.Clear()
                dim.dim_value = size
            else:
                missing.append(f"dim {index} {dim.dim_param!r}" if dim.dim_param else f"dim {index} (unnamed)")
        if not tensor.HasField("shape"):
            missing.append("its whole shape")
        if missing:
            unresolved.append(f"{value.name!r}: {', '.join(missing)}")
    if unresolved:
        names = sorted({m.split("'")[1] for u in unresolved for m in u.split(": ", 1)[1].split(", ") if "'" in m})
        hint = f"dims={{{', '.join(f'{n!r}: ...' for n in names)}}}" if names else "input_shape=..."
        raise ProfilingError(
            "the model's inputs have symbolic or unknown dimensions: "
            + "; ".join(unresolved)
            + f". Bind them with {hint} (CLI: --dim name=value,...) or give input_shape=... (--input-shape)"
        )
    return bound


def infer_shapes(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """Static shape inference (with constant propagation); notes on what could not be checked."""
    notes = []
    known = onnx.defs.onnx_opset_version()
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > known:
            notes.append(
                f"opset {opset.version} is newer than this onnx package knows ({known}): upgrade onnx for its ops' shapes"
            )
    if proto.functions:
        from onnx import inliner

        proto = inliner.inline_local_functions(proto)
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, check_type=False, strict_mode=False, data_prop=True)
    except Exception as error:  # keep the declared shapes; nodes with unknown shapes get listed
        notes.append(f"ONNX shape inference failed ({type(error).__name__}: {error}); only declared shapes are used")
        inferred = proto
    return inferred, notes
