"""ONNX adapter: walk a graph with static shapes, price every node, load no weights.

Scope (the source module path) comes from the exporter where it kept one: the
PyTorch exporter's ``pkg.torch.onnx.name_scopes`` metadata, the legacy PyTorch
exporter's ``/layer1/layer1.0/conv1/Conv`` node names, tf2onnx's TensorFlow name
scopes; otherwise the node name's ``/`` prefix. Subgraphs are walked: a ``Loop``
with a static trip count multiplies its body, ``Scan`` its sequence length; an
``If`` counts its costlier branch (an upper bound, said in the notes).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx
from onnx import helper, numpy_helper

from ..._collector import collector_paused
from ...engine import assemble
from ...errors import FlopmagicError, ProfilingError
from ...formulas import OpSpec
from ...pricing import Override, make_record
from ...schema import LayerInfo, ModelProfile, OpRecord, TensorInfo
from .._graph import constant_trip_count, keep_costlier_branch, walk_repeated_body
from .._table import translate_or_note
from .loader import bind_inputs, check_model, graph_inputs, infer_shapes, load_model
from .ops import Node, lookup

__all__ = ["profile_onnx"]

_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
}
_FLOAT = onnx.TensorProto.FLOAT
_TORCH_SCOPES = "pkg.torch.onnx.name_scopes"
_REWRITES = "pkg.onnxscript.rewriter.rule_name"  # the exporter's graph rewrites applied to a node
_TORCH_CLASSES = "pkg.torch.onnx.class_hierarchy"


# ops whose output is a (reshaped, cast, broadcast) copy of their first input's values
_SHAPE_ONLY = frozenset({"Expand", "Cast", "CastLike", "Identity", "Reshape", "Unsqueeze"})


def _value_shapes(values: Sequence[onnx.ValueInfoProto]) -> tuple[dict[str, tuple[int | None, ...]], dict[str, int]]:
    shapes: dict[str, tuple[int | None, ...]] = {}
    types: dict[str, int] = {}
    for value in values:
        kind = value.type
        if kind.WhichOneof("value") != "tensor_type":
            continue
        tensor, name = kind.tensor_type, value.name
        types[name] = tensor.elem_type
        if tensor.HasField("shape"):
            # a symbolic dim reads as dim_value 0: unknown, like any non-positive value
            shapes[name] = tuple([v if (v := d.dim_value) > 0 else None for d in tensor.shape.dim])
    return shapes, types


def _legacy_torch_scope(name: str) -> str:
    """``/layer2/layer2.0/downsample/downsample.0/Conv`` -> ``layer2.0.downsample.0``."""
    parts: list[str] = []
    for component in name.strip("/").split("/")[:-1]:
        if parts and component.startswith(parts[-1] + "."):
            parts[-1] = component
        else:
            parts.append(component)
    return ".".join(parts)


@dataclass
class _Walk:
    """State of one graph walk: shapes, constants, records, layers."""

    proto: onnx.ModelProto
    overrides: Mapping[str, Override] | None
    shapes: dict[str, tuple[int | None, ...]] = field(default_factory=dict)
    concrete: dict[str, tuple[int, ...]] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    initializers: dict[str, onnx.TensorProto] = field(default_factory=dict)
    constants: dict[str, onnx.TensorProto] = field(default_factory=dict)
    buffers: set[str] = field(default_factory=set)
    records: list[OpRecord] = field(default_factory=list)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    producers: dict[str, onnx.NodeProto] = field(default_factory=dict)
    translations: dict[tuple[Any, ...], tuple[OpSpec | None, str]] = field(default_factory=dict)
    zeros: dict[str, bool] = field(default_factory=dict)
    # values that can be a constant zero (constants and what shape-only ops make of them):
    # every other value is not, without a lookup chain
    maybe_zero: set[str] = field(default_factory=set)
    priced: dict[tuple[int, bool, bool], Any] = field(default_factory=dict)  # make_record's cost cache
    # tensors whose payload the loader dropped, each with whether it was all zero
    stripped: Mapping[str, bool] = field(default_factory=dict)

    def is_zero(self, name: str) -> bool:
        """Whether a tensor is a constant zero, possibly expanded, cast or passed through."""
        if name not in self.maybe_zero:
            return False
        known = self.zeros.get(name)
        if known is None:
            known = self.zeros[name] = self._is_zero(name)
        return known

    def _is_zero(self, name: str) -> bool:
        for _ in range(8):  # follow a short chain of shape-only ops
            if name in self.stripped:  # a weight's payload, dropped at load: its zero flag was kept
                return self.stripped[name]
            value = self.constant(name)
            if value is not None:
                return bool(value.size) and not value.any()
            producer = self.producers.get(name)
            if producer is None or producer.op_type not in _SHAPE_ONLY:
                return False
            name = producer.input[0]
        return False

    def constant(self, name: str) -> Any:
        tensor = self.constants.get(name) or self.initializers.get(name)
        if tensor is None or tensor.data_location == onnx.TensorProto.EXTERNAL or name in self.stripped:
            return None
        return _array(tensor, name)

    def scope_of(self, node: onnx.NodeProto, node_name: str, prefix: str) -> tuple[str, str]:
        props = node.metadata_props
        meta = {p.key: p.value for p in props} if props else None
        scope, module_type = "", ""
        if meta and _TORCH_SCOPES in meta:
            scopes = ast.literal_eval(meta[_TORCH_SCOPES])
            scope = scopes[-2] if len(scopes) >= 2 else ""
            classes = ast.literal_eval(meta.get(_TORCH_CLASSES, "[]"))
            if len(classes) >= 2:
                module_type = str(classes[-2]).rsplit(".", 1)[-1]
            if "Fuse" in meta.get(_REWRITES, ""):
                scope, module_type = self.fused_owner(node, scope, module_type)
        elif node_name.startswith("/"):
            scope = _legacy_torch_scope(node_name)
        elif "/" in node_name:
            scope = node_name.rsplit("/", 1)[0]
        if prefix:
            scope = f"{prefix}.{scope}" if scope else prefix
        return scope, module_type

    def fused_owner(self, node: onnx.NodeProto, scope: str, module_type: str) -> tuple[str, str]:
        """A node the exporter's rewriter fused (a Conv with the BatchNorm after it folded in)
        keeps the metadata of the node folded into it; its weight initializer still carries
        the real layer's parameter name (``layer1.0.conv1.weight``): the layer it belongs to."""
        for name in node.input:
            owner, dot, leaf = name.rpartition(".")
            if dot and owner and leaf == "weight" and name in self.initializers:
                if owner == scope:
                    return scope, module_type
                return owner, f"{node.op_type} + {module_type}" if module_type else node.op_type
        return scope, module_type

    def walk(self, graph: onnx.GraphProto, prefix: str = "", count: int = 1) -> None:
        shapes, types = _value_shapes([*graph.input, *graph.output, *graph.value_info])
        self.shapes.update(shapes)
        self.types.update(types)
        for tensor in graph.initializer:
            self.maybe_zero.add(tensor.name)
            self.initializers.setdefault(tensor.name, tensor)
            self.shapes.setdefault(tensor.name, tuple(tensor.dims))
            self.types.setdefault(tensor.name, tensor.data_type)
        # shapes as records show them (an unknown dimension as 0), computed once per value
        concrete = self.concrete
        concrete.update([(k, tuple([d or 0 for d in v])) for k, v in self.shapes.items() if k not in concrete])
        producers = self.producers
        for node in graph.node:
            op_type = node.op_type
            for output in node.output:
                producers[output] = node
            if op_type in _SHAPE_ONLY:
                self.maybe_zero.update(node.output)
            if op_type == "Constant" and node.output and node.attribute:
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.constants[node.output[0]] = value.t
                    self.maybe_zero.add(node.output[0])
            if op_type == "BatchNormalization":
                self.buffers.update(n for n in node.input[3:5] if n)  # running mean and variance
        visit = self.visit
        for index, node in enumerate(graph.node):
            visit(node, index, prefix, count)

    def translate(
        self, node: onnx.NodeProto, op_type: str, domain: str, native: str, inputs: list[str], outputs: list[str]
    ) -> tuple[OpSpec | None, str]:
        """The node's canonical spec (cached: repeated layers translate once)."""
        attrs: dict[str, Any] = {}
        if node.attribute:
            for attribute in node.attribute:
                value = helper.get_attribute_value(attribute)
                attrs[attribute.name] = value.decode() if isinstance(value, bytes) else value
        shapes, is_zero = self.shapes, self.is_zero
        key = (
            native,
            tuple([(shapes.get(n), is_zero(n)) for n in inputs]),
            tuple([shapes.get(n) for n in outputs]),
            repr(sorted(attrs.items())) if attrs else "",
        )
        cached = self.translations.get(key)
        if cached is not None:
            return cached
        translator = lookup(domain, op_type)
        spec: OpSpec | None = None
        note = ""
        if translator is not None:
            view = Node(op_type, domain, node.name, attrs, inputs, outputs, shapes, self.constant, self.is_zero)
            spec, note = translate_or_note(
                translator, view, " (bind the model's input dimensions, or the shape depends on data)"
            )
        elif domain not in ("", "ai.onnx"):
            note = f"custom-domain op {native}: no formula (price it with overrides={{{native!r}: ...}})"
        self.translations[key] = (spec, note)
        return spec, note

    def visit(self, node: onnx.NodeProto, index: int, prefix: str, count: int) -> None:
        op_type, domain = node.op_type, node.domain
        native = op_type if domain in ("", "ai.onnx") else f"{domain}:{op_type}"
        if op_type in ("If", "Loop", "Scan") and domain in ("", "ai.onnx"):
            self.subgraphs(node, native, prefix, count)
            return
        node_name = node.name
        scope, module_type = self.scope_of(node, node_name, prefix)
        inputs, outputs = list(node.input), list(node.output)
        spec, note = self.translate(node, op_type, domain, native, inputs, outputs)
        names = [n for n in inputs if n]
        initializers, types = self.initializers, self.types
        weights = [
            n
            for n in (dict.fromkeys(names) if len(names) > 1 else names)
            if n in initializers and n not in self.buffers and types.get(n) in _FLOAT_TYPES
        ]
        params = 0
        for n in weights:
            params += _numel(initializers[n])
        floating = False
        for n in (*outputs, *names):
            if n and types.get(n, _FLOAT) in _FLOAT_TYPES:
                floating = True
                break
        concrete = self.concrete
        record_name = node_name or f"{op_type}_{index}"
        input_shapes = tuple([concrete.get(n, ()) for n in names])
        output_shapes = tuple([concrete.get(n, ()) for n in outputs if n])
        try:
            record = make_record(
                spec=spec,
                note=note,
                cache=self.priced,
                name=record_name,
                native=native,
                scope=scope,
                inputs=input_shapes,
                outputs=output_shapes,
                module_type=module_type,
                params=params,
                floating=floating,
                count=count,
                overrides=self.overrides,
            )
        except (ValueError, IndexError, KeyError, TypeError, ArithmeticError) as error:
            # shapes that contradict each other (a malformed graph): reported unpriced, never guessed
            if spec is None:  # an override that raised: the user's code, reported as it is
                raise
            why = f"not priced: its shapes do not fit the {spec.op} formula ({type(error).__name__}: {_short(error)})"
            record = make_record(
                spec=None,
                note=why,
                name=record_name,
                native=native,
                scope=scope,
                inputs=input_shapes,
                outputs=output_shapes,
                module_type=module_type,
                params=params,
                floating=floating,
                count=count,
                overrides=self.overrides,
            )
        self.records.append(record)
        layer = self.layers.get(scope)
        if layer is None:
            layer = self.layers[scope] = {"type": module_type or op_type, "params": 0, "outputs": ()}
        for weight in weights:
            if weight not in self.claimed:  # a shared initializer belongs to the first layer using it
                self.claimed.add(weight)
                layer["params"] += _numel(initializers[weight])
        layer["outputs"] = record.outputs[:1]

    def subgraphs(self, node: onnx.NodeProto, native: str, prefix: str, count: int) -> None:
        label = node.name or native
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "If":
            for branch in ("then_branch", "else_branch"):
                if branch not in attrs or attrs[branch].type != onnx.AttributeProto.GRAPH:
                    raise ProfilingError(f"If node {label!r} has no {branch!r} graph attribute: the model is malformed")

            def side(branch: str) -> tuple[str, Any]:
                scope = f"{prefix}.{label}.{branch}" if prefix else f"{label}.{branch}"
                return branch, lambda: self.walk(attrs[branch].g, scope, count)

            kept, flops, other = keep_costlier_branch(self.records, [side("then_branch"), side("else_branch")])
            self.notes.append(
                f"If {label!r}: counted its {kept.removesuffix('_branch')} branch, the costlier ({flops:,} vs {other:,} FLOPs): an upper bound"
            )
            return
        if "body" not in attrs or attrs["body"].type != onnx.AttributeProto.GRAPH:
            raise ProfilingError(f"{node.op_type} node {label!r} has no 'body' graph attribute: the model is malformed")
        trips: int | None
        if node.op_type == "Loop":
            trips, how = self.loop_trips(node, attrs["body"].g)
        else:  # Scan: iterations = the first scan input's length along its scan axis
            trips, how = self.scan_trips(node, attrs)
        body, scope = attrs["body"].g, f"{prefix}.{label}" if prefix else label
        walk_repeated_body(
            self.notes, f"{node.op_type} {label!r}", trips, how, lambda times: self.walk(body, scope, times), count
        )

    def loop_trips(self, node: onnx.NodeProto, body: onnx.GraphProto) -> tuple[int | None, str]:
        """A Loop's iterations as the ONNX spec defines them: ``for i in range(M)`` while
        ``cond``. M <= 0 or an initial ``cond`` of false: 0 iterations. A loop whose
        condition its body computes ends when the data says: not static."""
        inputs = list(node.input)
        max_trips = inputs[0] if inputs else ""
        cond = inputs[1] if len(inputs) > 1 else ""
        limit: int | None = None
        if max_trips:
            limit = constant_trip_count(self.constant(max_trips))
            if limit is None:
                return None, f"its trip count {max_trips!r} is not a constant"
        if cond:
            value = self.constant(cond)
            if value is not None and value.size == 1 and not bool(value.reshape(-1)[0]):
                return 0, "its initial condition is false: the body never runs"
            if value is None:
                return None, f"its initial condition {cond!r} is not a constant"
        if limit == 0:
            return 0, "its trip count is 0 or negative: the body never runs"
        if not self.condition_stays_true(body):
            bound = f" (at most {limit:,})" if limit is not None else ""
            return None, f"its body computes the loop condition: the trip count depends on the data{bound}"
        if limit is None:
            return None, "it has no trip count and its condition stays true: it never ends as written"
        return limit, "static trip count"

    def condition_stays_true(self, body: onnx.GraphProto) -> bool:
        """Whether a Loop body's condition output is always true: a constant true, or the
        condition input passed through unchanged (what exporters write for ``for`` loops)."""
        if not body.output:
            return False
        name = body.output[0].name
        cond_in = body.input[1].name if len(body.input) > 1 else None
        producers = {out: n for n in body.node for out in n.output}
        for _ in range(8):
            if name == cond_in:
                return True
            producer = producers.get(name)
            if producer is None:
                value = self.constant(name)
                return value is not None and value.size == 1 and bool(value.reshape(-1)[0])
            if producer.op_type == "Constant":
                tensor = next((a.t for a in producer.attribute if a.name == "value"), None)
                if tensor is None:
                    return False
                value = _array(tensor, name)
                return value.size == 1 and bool(value.reshape(-1)[0])
            if producer.op_type not in ("Identity", "Cast") or not producer.input:
                return False
            name = producer.input[0]
        return False

    def scan_trips(self, node: onnx.NodeProto, attrs: Mapping[str, onnx.AttributeProto]) -> tuple[int | None, str]:
        if "num_scan_inputs" not in attrs:
            raise ProfilingError(f"Scan node {node.name!r} has no 'num_scan_inputs' attribute: the model is malformed")
        scan_inputs = helper.get_attribute_value(attrs["num_scan_inputs"])
        if not isinstance(scan_inputs, int) or not 1 <= scan_inputs <= len(node.input):
            raise ProfilingError(
                f"Scan node {node.name!r}: num_scan_inputs={scan_inputs!r} does not fit its {len(node.input)} inputs"
            )
        axes = helper.get_attribute_value(attrs["scan_input_axes"]) if "scan_input_axes" in attrs else [0]
        first = node.input[len(node.input) - scan_inputs]
        shape = self.shapes.get(first)
        axis = int(axes[0]) if axes else 0
        if shape and -len(shape) <= axis < len(shape) and shape[axis] is not None:
            return shape[axis], "the scanned sequence's length"
        return None, f"the length of its scanned input {first!r} is not known"


def _array(tensor: onnx.TensorProto, name: str) -> Any:
    """A constant's values; a corrupt one (data that does not fit its dims, an unknown type) is an error."""
    try:
        return numpy_helper.to_array(tensor)
    except Exception as error:
        raise ProfilingError(
            f"constant {name!r} cannot be read ({type(error).__name__}: {error}): the model is corrupt"
        ) from error


def _numel(tensor: onnx.TensorProto) -> int:
    total = 1
    for dim in tensor.dims:
        total *= dim
    return total


def profile_onnx(
    model: Any,
    *,
    input_shape: Any = None,
    dims: Mapping[str, int] | None = None,
    overrides: Mapping[str, Override] | None = None,
    name: str | None = None,
) -> ModelProfile:
    """Profile an ONNX model (path, bytes or ``ModelProto``) from its graph alone.

    Args:
        input_shape: one shape, one per input, or ``{input name: shape}``.
        dims: values for symbolic dimensions (``{"batch": 1, "sequence": 128}``).
        overrides: prices for ops without a formula, by op type (``"com.acme:MyOp"``).

    Raises:
        ProfilingError: an unreadable or malformed file, symbolic dimensions left
            unbound (the message names every one), ``dims`` naming no dimension of
            the graph or not a positive integer. Nothing else escapes: a model this
            walk cannot read is reported as a ProfilingError, never another exception.
    """
    # The walk allocates a few objects per node and frees none of them until it ends, so the
    # cyclic collector would only rescan a growing heap (about 7% of a 100,000-node walk):
    # it is paused for the call (shared with other profiles) and restored as the user had it.
    with collector_paused():
        try:
            return _profile_onnx(model, input_shape, dims, overrides, name)
        except FlopmagicError:
            raise
        except RecursionError as error:
            raise ProfilingError("the ONNX graph nests subgraphs too deeply to walk") from error
        except Exception as error:  # a malformed model the checks above did not foresee
            raise ProfilingError(
                f"profiling the ONNX model failed (is it malformed?): {type(error).__name__}: {_short(error)}"
            ) from error


def _short(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dtype_name(code: int) -> str:
    try:
        return str(helper.tensor_dtype_to_np_dtype(code))
    except (KeyError, ValueError, TypeError):
        return f"onnx type {code}"


def _profile_onnx(
    model: Any,
    input_shape: Any,
    dims: Mapping[str, int] | None,
    overrides: Mapping[str, Override] | None,
    name: str | None,
) -> ModelProfile:
    proto, label, stripped = load_model(model)
    check_model(proto)
    bound = bind_inputs(proto, input_shape, dims)
    inferred, notes = infer_shapes(bound)
    walk = _Walk(inferred, overrides, stripped=stripped)
    walk.walk(inferred.graph)
    records = walk.records
    initializers = walk.initializers
    params = [t for n, t in initializers.items() if n not in walk.buffers and t.data_type in _FLOAT_TYPES]
    param_bytes: dict[str, int] = {}
    for tensor in params:
        dtype = _dtype_name(tensor.data_type)
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        param_bytes[dtype] = param_bytes.get(dtype, 0) + _numel(tensor) * itemsize
    buffers = sum(_numel(t) for n, t in initializers.items() if n in walk.buffers or t.data_type not in _FLOAT_TYPES)
    inputs = tuple(
        TensorInfo(
            value.name,
            tuple(d.dim_value for d in value.type.tensor_type.shape.dim),
            _dtype_name(value.type.tensor_type.elem_type),
        )
        for value in graph_inputs(inferred)
    )
    layers = tuple(
        LayerInfo(scope=scope, type=info["type"], calls=1, output_shapes=info["outputs"], params=info["params"])
        for scope, info in walk.layers.items()
    )
    from ..._version import __version__

    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in inferred.opset_import)
    return assemble(
        model=name or label,
        framework="onnx",
        records=records,
        params=sum(_numel(t) for t in params),
        layers=layers,
        inputs=inputs,
        param_bytes=param_bytes,
        param_counts={"initializers": sum(_numel(t) for t in initializers.values()), "buffers": buffers},
        versions={
            "flopmagic": __version__,
            "onnx": onnx.__version__,
            "producer": f"{inferred.producer_name} {inferred.producer_version}".strip(),
            "opsets": opsets,
        },
        notes=notes,
        notes_after=walk.notes,
    )
