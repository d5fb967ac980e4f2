"""TensorFlow/Keras adapter: trace to a concrete function, walk its graph with static shapes.

Only ops that feed the function's outputs are counted: TensorFlow prunes the rest
when it runs (Keras computes one RNN step outside the loop just to learn output
shapes). ``BiasAdd`` after a convolution or matmul is folded into it, as
PyTorch's ``convolution``/``addmm`` carry their bias. A ``While`` loop with a
static trip count multiplies its body; otherwise the body is counted once and
marked. Scopes are Keras layer names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...engine import assemble
from ...errors import ProfilingError
from ...formulas import OpSpec
from ...pricing import Override, make_record
from ...schema import LayerInfo, ModelProfile, OpRecord, TensorInfo
from .._graph import constant_trip_count, keep_costlier_branch, walk_repeated_body
from .._table import translate_or_note
from ..base import input_shapes
from .contractions import CONTRACTIONS
from .ops import TABLE as TF_TABLE
from .ops import TfOp

__all__ = ["profile_keras"]

_CALLS = {"StatefulPartitionedCall", "PartitionedCall"}
_LOOPS = {"While", "StatelessWhile"}
_BRANCHES = {"If", "StatelessIf"}
_SUFFIX = re.compile(r"_\d+$")
_PASS_THROUGH = {"Identity", "Reshape", "Transpose", "Cast", "ExpandDims", "Squeeze", "StopGradient"}


def _tf() -> Any:
    from .. import import_tensorflow

    return import_tensorflow()


def _shape(tensor: Any) -> tuple[int | None, ...] | None:
    try:
        dims = tensor.shape.as_list()
    except ValueError:  # unknown rank
        return None
    return tuple(dims)


def _static(tensor: Any) -> Any:
    """A tensor's value when it is known while tracing (constants, shape arithmetic, small reductions)."""
    tf = _tf()
    import numpy as np

    value = tf.get_static_value(tensor)
    if value is not None:
        return np.asarray(value)
    op = tensor.op
    if op.type in ("Identity", "StopGradient"):
        return _static(op.inputs[0])
    if op.type in ("Max", "Min", "Sum", "Prod"):
        data, axes = _static(op.inputs[0]), _static(op.inputs[1])
        if data is not None and axes is not None:
            reduce: Any = {"Max": np.max, "Min": np.min, "Sum": np.sum, "Prod": np.prod}[op.type]
            return np.asarray(
                reduce(
                    data, axis=tuple(int(a) for a in np.asarray(axes).reshape(-1)), keepdims=op.get_attr("keep_dims")
                )
            )
    return None


@dataclass
class _Walk:
    """Records, layers and notes gathered over the graph and its function bodies."""

    overrides: Mapping[str, Override] | None
    layer_names: set[str]
    records: list[OpRecord] = field(default_factory=list)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pruned: int = 0

    def scope(self, op_name: str) -> str:
        parts = []
        for component in op_name.split("/")[:-1]:
            if component in self.layer_names:
                parts.append(component)
            elif (stripped := _SUFFIX.sub("", component)) in self.layer_names:
                parts.append(stripped)
        return ".".join(parts)

    @staticmethod
    def live(graph: Any) -> set[Any]:
        """Ops that feed the graph's outputs or control outputs: what TensorFlow runs."""
        pending = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", []))
        seen: set[Any] = set()
        while pending:
            op = pending.pop()
            if op in seen:
                continue
            seen.add(op)
            pending.extend(t.op for t in op.inputs)
            pending.extend(op.control_inputs)
        return seen

    def walk(self, graph: Any, count: int = 1) -> None:
        ops = graph.get_operations()
        live = self.live(graph)
        variables: dict[str, int] = {}  # tensor name -> elements of the variable it reads
        folded: dict[str, Any] = {}  # contraction op name -> its BiasAdd op
        consumers: dict[str, int] = {}
        for op in ops:
            for tensor in op.inputs:
                consumers[tensor.name] = consumers.get(tensor.name, 0) + 1
        for op in ops:
            if op.type in ("ReadVariableOp", "ResourceGather") and op.outputs:
                shape = _shape(op.outputs[0]) if op.type == "ReadVariableOp" else None
                if shape is not None and None not in shape:
                    size = 1
                    for d in shape:
                        size *= int(d or 0)
                    variables[op.outputs[0].name] = size
            elif op.type in _PASS_THROUGH and op.inputs and op.inputs[0].name in variables:
                # a weight reshaped or transposed before use (Keras' EinsumDense) is still that weight
                variables[op.outputs[0].name] = variables[op.inputs[0].name]
            if op.type == "BiasAdd" and op.inputs[0].op.type in CONTRACTIONS and consumers.get(op.inputs[0].name) == 1:
                folded[op.inputs[0].op.name] = op
        folded_bias = {bias.name for bias in folded.values()}
        for op in ops:
            if op not in live:
                self.pruned += 1
                continue
            if op.name in folded_bias:
                continue  # priced with the convolution or matmul it follows
            if op.type in _CALLS:
                self.walk(graph._get_function(op.get_attr("f").name).graph, count)
            elif op.type in _LOOPS:
                self.loop(graph, op, count)
            elif op.type in _BRANCHES:
                self.branches(graph, op, count)
            else:
                self.visit(op, count, variables, folded.get(op.name))

    def loop(self, graph: Any, op: Any, count: int) -> None:
        body = graph._get_function(op.get_attr("body").name).graph
        # while_v2's inputs: (loop counter, maximum_iterations, *loop variables)
        trips = constant_trip_count(_static(op.inputs[1]) if len(op.inputs) > 1 else None)
        how = "static trip count" if trips is not None else "its maximum_iterations is not a constant"
        label = f"loop {op.name!r} ({self.scope(op.name) or op.name})"
        walk_repeated_body(self.notes, label, trips, how, lambda times: self.walk(body, times), count)

    def branches(self, graph: Any, op: Any, count: int) -> None:
        def side(branch: str) -> tuple[str, Any]:
            return branch, lambda: self.walk(graph._get_function(op.get_attr(branch).name).graph, count)

        _, flops, _ = keep_costlier_branch(self.records, [side("then_branch"), side("else_branch")])
        self.notes.append(f"branch {op.name!r}: counted its costlier side ({flops:,} FLOPs): an upper bound")

    def visit(self, op: Any, count: int, variables: Mapping[str, int], bias: Any) -> None:
        view = TfOp(
            op.type,
            op.name,
            [_shape(t) for t in op.inputs],
            [_shape(t) for t in op.outputs],
            op.get_attr,
            lambda index: _static(op.inputs[index]) if index < len(op.inputs) else None,
        )
        translator = TF_TABLE.get(op.type)
        spec: OpSpec | None = None
        note = ""
        if translator is not None:
            spec, note = translate_or_note(translator, view)
        params = sum(variables.get(t.name, 0) for t in op.inputs)
        if bias is not None:
            params += sum(variables.get(t.name, 0) for t in bias.inputs)
            note = note or f"bias added by {bias.name}"
            if spec is not None:
                spec = spec.with_attrs(bias=True)
        floating = any(t.dtype.is_floating for t in [*op.inputs, *op.outputs])
        scope = self.scope(op.name)
        output = bias.outputs[0] if bias is not None else (op.outputs[0] if op.outputs else None)
        record = make_record(
            name=op.name,
            native=op.type,
            spec=spec,
            scope=scope,
            inputs=tuple(tuple(d or 0 for d in s) for s in view.input_shapes if s is not None),
            outputs=tuple(tuple(d or 0 for d in s) for s in view.output_shapes if s is not None),
            module_type="",
            params=params,
            floating=floating,
            count=count,
            note=note,
            overrides=self.overrides,
        )
        self.records.append(record)
        if scope:
            layer = self.layers.setdefault(scope, {"outputs": ()})
            shape = _shape(output) if output is not None else None
            # a layer's output is its last computed tensor, never a weight it reads (a
            # bias read after the convolution is (16,), not the layer's (1, 30, 30, 16))
            if shape is not None and None not in shape and op.type not in _READS:
                layer["outputs"] = (tuple(int(d or 0) for d in shape),)


def _batch(specs: Sequence[Any]) -> int | None:
    """The batch size the model was traced with (the first input's first dimension)."""
    first = specs[0] if specs else None
    if isinstance(first, Mapping):
        first = next(iter(first.values()), None)
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) and shape[0] is not None else None


def _declared_outputs(layer: Any, batch: int | None) -> tuple[tuple[int, ...], ...]:
    """The layer's full output shapes as Keras declares them (``(1, 30, 30, 16)`` for a
    Conv2D), the batch filled in; () when Keras cannot say (a subclassed model)."""
    if layer is None or batch is None:
        return ()
    try:
        outputs = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return ()
    shapes = []
    for tensor in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        shape = getattr(tensor, "shape", None)
        if shape is None:
            return ()
        dims = [batch if i == 0 and d is None else d for i, d in enumerate(tuple(shape))]
        if any(d is None for d in dims):
            return ()
        shapes.append(tuple(int(d) for d in dims))
    return tuple(shapes)


_READS = frozenset({"ReadVariableOp", "VarHandleOp", "Const", "ResourceGather"})


def _specs(model: Any, inputs: Any, input_shape: Any) -> tuple[list[Any], bool]:
    """TensorSpecs for tracing, and whether the model takes a dict."""
    tf = _tf()
    import numpy as np

    def spec_of(value: Any) -> Any:
        array = value if hasattr(value, "dtype") else np.asarray(value)
        dtype = tf.as_dtype(array.dtype)
        return tf.TensorSpec(tuple(int(d) for d in array.shape), dtype)

    if inputs is not None:
        if isinstance(inputs, Mapping):
            return [{k: spec_of(v) for k, v in inputs.items()}], True
        if isinstance(inputs, (list, tuple)):
            return [spec_of(v) for v in inputs], False
        return [spec_of(inputs)], False
    if input_shape is not None:
        shapes = input_shapes(input_shape)
        dtypes = [getattr(t, "dtype", "float32") for t in (getattr(model, "inputs", None) or [])] or ["float32"] * len(
            shapes
        )
        return [
            tf.TensorSpec(tuple(int(d) for d in s), tf.as_dtype(dt if dt is not None else "float32"))
            for s, dt in zip(shapes, dtypes + ["float32"] * len(shapes))
        ], False
    declared = getattr(model, "inputs", None)
    if not declared:
        raise ProfilingError(
            f"{getattr(model, 'name', type(model).__name__)} declares no input shape: pass input_shape=... (e.g. (1, 224, 224, 3))"
        )
    specs = []
    for tensor in declared:
        dims = list(tensor.shape)
        if any(d is None for d in dims[1:]):
            raise ProfilingError(
                f"input {tensor.name!r} has unknown dimensions {tuple(dims)}: pass input_shape=... with every size"
            )
        specs.append(tf.TensorSpec((1, *[int(d) for d in dims[1:]]), tf.as_dtype(tensor.dtype)))
    return specs, False


def _trace(model: Any, specs: list[Any]) -> Any:
    tf = _tf()
    if hasattr(model, "get_concrete_function") and not hasattr(model, "layers"):
        return model.get_concrete_function(*specs)
    single = len(specs) == 1

    def forward(*args: Any) -> Any:
        return model(args[0] if single else list(args), training=False)

    return tf.function(forward, autograph=False).get_concrete_function(*specs)


def _is_buffer(variable: Any) -> bool:
    """BatchNorm moving statistics: Keras counts them as weights, PyTorch keeps them as buffers."""
    path = str(getattr(variable, "path", getattr(variable, "name", "")))
    return path.endswith(("moving_mean", "moving_variance")) or "moving_mean:" in path or "moving_variance:" in path


def _numel(variable: Any) -> int:
    size = 1
    for d in variable.shape:
        size *= int(d)
    return size


def _layers(model: Any) -> list[Any]:
    flatten = getattr(model, "_flatten_layers", None)
    return list(flatten(include_self=False, recursive=True)) if flatten is not None else []


def profile_keras(
    model: Any,
    inputs: Any = None,
    *,
    input_shape: Any = None,
    backend: str = "flopmagic",
    overrides: Mapping[str, Override] | None = None,
    name: str | None = None,
) -> ModelProfile:
    """Profile a Keras model (functional, sequential or subclassed) or a ``tf.function``.

    Inputs: ``inputs`` (arrays), ``input_shape`` (NHWC for images), or the model's
    declared inputs with batch size 1. The model's weights and trainable flags are
    not changed (the trace runs with ``training=False``).
    """
    _tf()
    display = name or getattr(model, "name", None) or type(model).__name__
    specs, _ = _specs(model, inputs, input_shape)
    before = [(v, v.trainable) for v in getattr(model, "weights", [])]
    try:
        concrete = _trace(model, specs)
    except ProfilingError:
        raise
    except Exception as error:
        hint = ""
        if "incompatible with the layer" in str(error):
            hint = " (the model was built for one input shape: build it with None spatial sizes, e.g. input_shape=(None, None, 3), to profile others)"
        raise ProfilingError(f"tracing {display} failed{hint}: {type(error).__name__}: {error}") from error
    finally:
        for variable, trainable in before:
            if getattr(variable, "trainable", trainable) != trainable:  # pragma: no cover - Keras keeps them
                variable.trainable = trainable
    if backend == "tf-profiler":
        from ...peers.tf_profiler import profile_with_tf_profiler

        base = _profile_graph(model, concrete, specs, overrides, display)
        return profile_with_tf_profiler(concrete, base)
    return _profile_graph(model, concrete, specs, overrides, display)


def _profile_graph(
    model: Any, concrete: Any, specs: Sequence[Any], overrides: Mapping[str, Override] | None, display: str
) -> ModelProfile:
    tf = _tf()

    layers = _layers(model)
    walk = _Walk(overrides, {layer.name for layer in layers})
    walk.walk(concrete.graph)
    if walk.pruned:
        walk.notes.append(
            f"{walk.pruned} traced op(s) feed no output and do not run (TensorFlow prunes them): not counted"
        )
    weights = list({id(v): v for v in getattr(model, "weights", None) or concrete.graph.variables}.values())
    buffers = [v for v in weights if _is_buffer(v)]
    params = [v for v in weights if not _is_buffer(v)]
    trainable = sum(_numel(v) for v in weights if getattr(v, "trainable", True))
    param_bytes: dict[str, int] = {}
    for variable in params:
        dtype = tf.as_dtype(variable.dtype)
        param_bytes[dtype.name] = param_bytes.get(dtype.name, 0) + _numel(variable) * dtype.size
    infos = []
    by_name = {layer.name: layer for layer in layers}
    for scope, gathered in walk.layers.items():
        layer = by_name.get(scope.rsplit(".", 1)[-1])
        own = 0
        if layer is not None:
            children = {
                id(w) for sub in layer._flatten_layers(include_self=False, recursive=False) for w in sub.weights
            }
            own = sum(_numel(w) for w in layer.weights if id(w) not in children and not _is_buffer(w))
        infos.append(
            LayerInfo(
                scope=scope,
                type=type(layer).__name__ if layer is not None else "",
                output_shapes=_declared_outputs(layer, _batch(specs)) or gathered["outputs"],
                params=own,
            )
        )
    buffer_notes = []
    if buffers:
        buffer_notes.append(
            f"Keras counts {sum(_numel(v) for v in weights):,} weights; {sum(_numel(v) for v in buffers):,} of them are batch-norm "
            "moving statistics, which PyTorch keeps as buffers: params here leave them out"
        )
    from ..._version import __version__

    flat_specs = [s for spec in specs for s in (spec.values() if isinstance(spec, dict) else [spec])]
    input_names = [t.name for t in getattr(model, "inputs", None) or []] or [
        f"args[{i}]" for i in range(len(flat_specs))
    ]
    return assemble(
        model=display,
        framework="tensorflow",
        records=walk.records,
        params=sum(_numel(v) for v in params),
        layers=tuple(infos),
        inputs=tuple(
            TensorInfo(n, tuple(int(d) for d in s.shape), s.dtype.name) for n, s in zip(input_names, flat_specs)
        ),
        param_bytes=param_bytes,
        param_counts={
            "trainable": trainable,
            "non_trainable": sum(_numel(v) for v in weights) - trainable,
            "framework_weights": sum(_numel(v) for v in weights),
            "buffers": sum(_numel(v) for v in buffers),
        },
        versions={"flopmagic": __version__, "tensorflow": tf.__version__, "keras": _keras_version()},
        notes=walk.notes,
        notes_after=buffer_notes,
    )


def _keras_version() -> str:
    try:
        import keras

        return str(keras.__version__)
    except ImportError:  # pragma: no cover - tf.keras only
        return ""
