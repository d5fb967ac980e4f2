"""Load an ONNX model without its external weight data, bind symbolic dimensions,
and infer every tensor's shape statically. Nothing in the file is executed."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import onnx

from ...errors import ProfilingError

__all__ = ["bind_inputs", "graph_inputs", "infer_shapes", "load_model"]

Shape = tuple[int | None, ...]


def load_model(model: Any) -> tuple[onnx.ModelProto, str]:
    """A ModelProto from a path, bytes or ModelProto, external data left on disk.

    Raises:
        ProfilingError: missing, truncated or malformed file, with what to check.
    """
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "onnx model"
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_from_string(bytes(model)), "onnx model"
        except Exception as error:
            raise ProfilingError(f"these bytes are not an ONNX model (truncated or corrupt?): {error}") from error
    path = os.fspath(model)
    if not os.path.exists(path):
        raise ProfilingError(f"no such ONNX file: {path!r}")
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as error:
        raise ProfilingError(
            f"{path!r} is not a readable ONNX model (truncated or corrupt file?): {type(error).__name__}: {error}"
        ) from error
    if not proto.graph.node and not proto.graph.input:
        raise ProfilingError(f"{path!r} holds no ONNX graph (empty or not an ONNX file)")
    return proto, os.path.splitext(os.path.basename(path))[0]


def graph_inputs(proto: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph's real inputs (not initializers listed as inputs, as old exporters did)."""
    initializers = {i.name for i in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in initializers]


def bind_inputs(
    proto: onnx.ModelProto,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | Mapping[str, Sequence[int]] | None,
    dims: Mapping[str, int] | None,
) -> onnx.ModelProto:
    """A copy of ``proto`` whose inputs have concrete shapes.

    ``input_shape`` gives whole shapes (one, one per input in order, or by input
    name); ``dims`` gives values for named symbolic dimensions (``batch=1``).

    Raises:
        ProfilingError: a dimension stays unknown; the message names every one.
    """
    bound = onnx.ModelProto()
    bound.CopyFrom(proto)
    inputs = graph_inputs(bound)
    shapes: dict[str, Sequence[int]] = {}
    if input_shape is not None:
        if isinstance(input_shape, Mapping):
            unknown = set(input_shape) - {i.name for i in inputs}
            if unknown:
                raise ProfilingError(
                    f"input_shape names unknown inputs {sorted(unknown)}; the model's inputs are {[i.name for i in inputs]}"
                )
            shapes = {k: tuple(v) for k, v in input_shape.items()}
        elif input_shape and all(isinstance(d, int) for d in input_shape):
            shapes = {inputs[0].name: tuple(input_shape)} if inputs else {}  # type: ignore[arg-type]
        else:
            listed = list(input_shape)
            if len(listed) > len(inputs):
                raise ProfilingError(f"{len(listed)} input shapes given, but the model has {len(inputs)} inputs")
            shapes = {i.name: tuple(s) for i, s in zip(inputs, listed)}  # type: ignore[arg-type]
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
                size = int(dims[dim.dim_param])
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
