"""Seeded mutations of small ONNX models, for the error-contract fuzz tests.

Each case is a pure function of its seed: a base model (convolution + pooling +
Gemm, a Loop, an If, a Scan, a model with symbolic dimensions), then one to three
mutations: byte flips and truncations of the serialized file, and structured
mutations that name what goes wrong in real files (dimensions 0, -1 or huge, a
missing input, an attribute of the wrong type, an unknown op type, a dropped
initializer, a cycle, truncated ``raw_data``, a Loop/If/Scan without its
``body``/``then_branch``/``num_scan_inputs``, element type 99, a name that is not
UTF-8).

The invariant (:func:`check`): profiling the result either returns a valid
profile (every record's MACs, FLOPs and count are non-negative integers, the
totals are the records' sums, the parameter count is a non-negative integer,
the profile survives a JSON round trip and re-pricing) or raises a
``FlopmagicError``. Any other exception is an escape.

Run as a script to count escapes over many seeds (``python tests/onnx_fuzz.py 20000``).
"""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
INT64_MAX = 2**63 - 1


def _value(name: str, shape: list, dtype: int = F) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _weight(name: str, shape: list[int], fill: float = 0.5) -> onnx.TensorProto:
    return numpy_helper.from_array(np.full(shape, fill, dtype=np.float32), name)


def _model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "fuzz", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def conv_net() -> onnx.ModelProto:
    # conv 3->4 3x3 on 1x3x8x8 (3*9*4*36 = 3,888 MACs), relu, global pool, flatten, gemm 4->2 (8 MACs)
    return _model(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], name="conv"),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
            helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
            helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1, name="fc"),
        ],
        [_value("x", [1, 3, 8, 8])],
        [_value("y", [1, 2])],
        [_weight("w", [4, 3, 3, 3]), _weight("b", [4]), _weight("fc_w", [2, 4]), _weight("fc_b", [2])],
    )


def _loop_body() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("MatMul", ["h", "w"], ["h_next"])],
        "body",
        [_value("i", [], TensorProto.INT64), _value("cond", [], TensorProto.BOOL), _value("h", [1, 4])],
        [_value("cond_out", [], TensorProto.BOOL), _value("h_next", [1, 4])],
    )


def loop_net() -> onnx.ModelProto:
    # 3 iterations of a 1x4 @ 4x4 matmul: 3 * 16 = 48 MACs
    return _model(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=_loop_body(), name="loop")],
        [_value("x", [1, 4])],
        [_value("y", [1, 4])],
        [numpy_helper.from_array(np.array(3, np.int64), "trips"), _weight("w", [4, 4])],
    )


def if_net() -> onnx.ModelProto:
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [_value("t", [1, 4])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [_value("e", [1, 4])])
    return _model(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="if")],
        [_value("c", [], TensorProto.BOOL), _value("x", [1, 4])],
        [_value("y", [1, 4])],
        [_weight("w", [4, 4])],
    )


def scan_net() -> onnx.ModelProto:
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h", "w"], ["m"]),
            helper.make_node("Add", ["m", "xt"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["out"]),
        ],
        "body",
        [_value("h", [1, 4]), _value("xt", [1, 4])],
        [_value("h_next", [1, 4]), _value("out", [1, 4])],
    )
    return _model(
        [helper.make_node("Scan", ["h0", "xs"], ["h", "ys"], body=body, num_scan_inputs=1, name="scan")],
        [_value("h0", [1, 4]), _value("xs", [5, 1, 4])],
        [_value("h", [1, 4]), _value("ys", [5, 1, 4])],
        [_weight("w", [4, 4])],
    )


def symbolic_net() -> onnx.ModelProto:
    return _model(
        [
            helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
            helper.make_node("Softmax", ["m"], ["y"], axis=-1, name="softmax"),
        ],
        [_value("x", ["batch", "seq", 8])],
        [_value("y", ["batch", "seq", 8])],
        [_weight("w", [8, 8])],
    )


BASES: tuple[Callable[[], onnx.ModelProto], ...] = (conv_net, loop_net, if_net, scan_net, symbolic_net)


# -- structured mutations --------------------------------------------------------------------


def _graphs(model: onnx.ModelProto) -> list[onnx.GraphProto]:
    found = [model.graph]
    for graph in found:
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    found.append(attribute.g)
    return found


def _nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [node for graph in _graphs(model) for node in graph.node]


def _values(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    return [v for g in _graphs(model) for v in (*g.input, *g.output, *g.value_info)]


def set_dim(rng: random.Random, model: onnx.ModelProto) -> None:
    values = [v for v in _values(model) if v.type.tensor_type.shape.dim]
    if values:
        dim = rng.choice(rng.choice(values).type.tensor_type.shape.dim)
        dim.Clear()
        dim.dim_value = rng.choice([0, -1, -(2**40), 2**31, 2**40, INT64_MAX, rng.randint(-3, 10**6)])


def initializer_dims(rng: random.Random, model: onnx.ModelProto) -> None:
    tensors = [t for g in _graphs(model) for t in g.initializer]
    if tensors:
        tensor = rng.choice(tensors)
        if tensor.dims:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice([0, -1, -7, 2**40, INT64_MAX])
        else:
            tensor.dims.append(rng.choice([0, -1, 2]))


def drop_input(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = [n for n in _nodes(model) if n.input]
    if nodes:
        node = rng.choice(nodes)
        index = rng.randrange(len(node.input))
        if rng.random() < 0.5:
            node.input[index] = ""
        else:
            del node.input[index]


def wrong_attribute(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = _nodes(model)
    node = rng.choice(nodes)
    name = rng.choice([a.name for a in node.attribute] or ["kernel_shape", "group", "axis", "transB"])
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
    replacement = rng.choice(
        [
            lambda: helper.make_attribute(name, "text"),
            lambda: helper.make_attribute(name, 2.5),
            lambda: helper.make_attribute(name, -3),
            lambda: helper.make_attribute(name, [0, -1]),
            lambda: helper.make_attribute(name, [], attr_type=onnx.AttributeProto.INTS),
            lambda: helper.make_attribute(name, [1.5, 2.5]),
            lambda: helper.make_attribute(name, numpy_helper.from_array(np.zeros((2,), np.float32))),
        ]
    )()
    node.attribute.append(replacement)


def unknown_op(rng: random.Random, model: onnx.ModelProto) -> None:
    node = rng.choice(_nodes(model))
    node.op_type = rng.choice(["Frobnicate", "", "conv", "Loop", "If", "Scan", "Conv", "Gemm"])
    if rng.random() < 0.3:
        node.domain = rng.choice(["com.acme", "ai.onnx.ml", "com.microsoft"])


def drop_initializer(rng: random.Random, model: onnx.ModelProto) -> None:
    graphs = [g for g in _graphs(model) if g.initializer]
    if graphs:
        graph = rng.choice(graphs)
        del graph.initializer[rng.randrange(len(graph.initializer))]


def cycle(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = [n for n in _nodes(model) if n.input and n.output]
    if nodes:
        node = rng.choice(nodes)
        later = rng.choice(nodes)
        node.input[0] = later.output[0]  # its own output, or one produced after it


def truncate_raw_data(rng: random.Random, model: onnx.ModelProto) -> None:
    tensors = [t for g in _graphs(model) for t in g.initializer]
    for node in _nodes(model):
        tensors.extend(a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR)
    if tensors:
        tensor = rng.choice(tensors)
        array = numpy_helper.to_array(tensor)
        raw = array.tobytes()
        tensor.ClearField("float_data")
        tensor.ClearField("int64_data")
        tensor.ClearField("int32_data")
        tensor.raw_data = raw[: rng.randrange(len(raw))] if raw else b"\x01"


def drop_subgraph_attribute(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = [n for n in _nodes(model) if n.op_type in ("Loop", "If", "Scan")]
    if nodes:
        node = rng.choice(nodes)
        names = [a.name for a in node.attribute]
        if names:
            drop = rng.choice(names)
            kept = [a for a in node.attribute if a.name != drop]
            del node.attribute[:]
            node.attribute.extend(kept)


def dtype_99(rng: random.Random, model: onnx.ModelProto) -> None:
    if rng.random() < 0.5:
        tensors = [t for g in _graphs(model) for t in g.initializer]
        if tensors:
            rng.choice(tensors).data_type = 99
            return
    values = _values(model)
    if values:
        rng.choice(values).type.tensor_type.elem_type = 99


def rename(rng: random.Random, model: onnx.ModelProto) -> None:
    node = rng.choice(_nodes(model))
    node.name = rng.choice(["", "/a/b/c/Conv", "x" * 300, "é/ü", "a.b.c", "..", "/"])


STRUCTURED: tuple[Callable[[random.Random, onnx.ModelProto], None], ...] = (
    set_dim,
    initializer_dims,
    drop_input,
    wrong_attribute,
    unknown_op,
    drop_initializer,
    cycle,
    truncate_raw_data,
    drop_subgraph_attribute,
    dtype_99,
    rename,
)


# -- byte-level mutations ----------------------------------------------------------------------


def _flip(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _invalid_utf8_name(rng: random.Random, data: bytes) -> bytes:
    # node and value names are length-prefixed strings: overwrite one name's first byte
    for name in (b"conv", b"loop", b"scan", b"relu", b"proj", b"softmax", b"if"):
        at = data.find(name)
        if at >= 0:
            return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed"]) + data[at + 1 :]
    return _flip(rng, data)


BYTES: tuple[Callable[[random.Random, bytes], bytes], ...] = (_flip, _truncate, _invalid_utf8_name)


@dataclass(frozen=True)
class Case:
    seed: int
    data: bytes
    dims: dict[str, int] | None
    mutations: tuple[str, ...]


def make_case(seed: int) -> Case:
    """The mutated model (serialized) and the dims binding for ``seed``."""
    rng = random.Random(seed)
    base = rng.choice(BASES)
    model = base()
    applied = [base.__name__]
    for _ in range(rng.randint(1, 3)):
        mutation = rng.choice(STRUCTURED)
        try:
            mutation(rng, model)
        except Exception as error:  # a mutation that cannot apply to this model: note it, keep going
            applied.append(f"{mutation.__name__}(skipped: {type(error).__name__})")
            continue
        applied.append(mutation.__name__)
    data = model.SerializeToString()
    if rng.random() < 0.35:
        mutation_bytes = rng.choice(BYTES)
        data = mutation_bytes(rng, data)
        applied.append(mutation_bytes.__name__)
    dims = None
    if base is symbolic_net:
        dims = {"batch": rng.choice([1, 2, 7]), "seq": rng.choice([1, 16, 128])}
    return Case(seed, data, dims, tuple(applied))


def check_profile(profile: object) -> None:
    """The invariants of a returned profile (AssertionError names the broken one)."""
    from flopmagic.schema import ModelProfile

    assert isinstance(profile, ModelProfile)
    for record in profile.records:
        assert isinstance(record.macs, int) and record.macs >= 0, record
        assert isinstance(record.flops, int) and record.flops >= 0, record
        assert isinstance(record.count, int) and record.count >= 0, record
    totals = profile.totals
    assert totals.macs == sum(r.macs for r in profile.records)
    assert totals.flops == sum(r.flops for r in profile.records)
    assert isinstance(profile.params, int) and profile.params >= 0
    assert all(isinstance(v, int) and v >= 0 for v in profile.param_counts.values()), profile.param_counts
    again = ModelProfile.from_json(profile.to_json())
    assert again.totals == totals
    repriced = profile.under("fvcore")
    assert repriced.macs >= 0 and repriced.flops >= 0


def run_case(case: Case) -> str:
    """``"profile"`` or ``"error"`` (a FlopmagicError); anything else propagates."""
    import flopmagic
    from flopmagic.errors import FlopmagicError

    try:
        profile = flopmagic.profile(case.data, dims=case.dims)
    except FlopmagicError:
        return "error"
    check_profile(profile)
    return "profile"


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 2000
    start = int(argv[2]) if len(argv) > 2 else 0
    outcomes: dict[str, int] = {}
    escapes: dict[str, list[int]] = {}
    for seed in range(start, start + count):
        case = make_case(seed)
        try:
            outcome = run_case(case)
        except Exception as error:
            key = f"{type(error).__name__}"
            escapes.setdefault(key, []).append(seed)
            outcome = "escaped"
            if len(escapes[key]) == 1:
                print(f"seed {seed} {case.mutations}: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
                if "-v" in argv:
                    traceback.print_exc()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"{count} cases: {outcomes}; escapes by type: { {k: len(v) for k, v in escapes.items()} }")
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
