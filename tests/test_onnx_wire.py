"""The ONNX reader that parses around weight payloads (``adapters/onnx/wire.py``).

The key property: for any bytes, loading them from a file (or as bytes) either raises a
``ProfilingError`` or returns exactly what the whole parse gives,
``onnx.ModelProto.FromString(data)`` followed by ``strip_weights`` (the loader before
this reader): the same stripped ``ModelProto`` (equal, and serialising to the same
bytes) and the same zero flags. It is checked on real exports (torchvision resnet18
and mobilenet_v2 with ``weights=None``, both exporters), on hand-built models that hold
every kind of tensor the reader treats differently (large and small, zero and not,
``raw_data``/``float_data``/``double_data``, integer constants, ``Constant`` values,
``If``/``Loop`` subgraphs, external data), and on seeded mutations of their bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import warnings
from collections import Counter

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import flopmagic
import onnx_fuzz
from flopmagic import ProfilingError
from flopmagic.adapters.onnx import loader, wire

SCALE = int(os.environ.get("FLOPMAGIC_FUZZ_SCALE", "1"))
MUTATION_CASES = 300 * SCALE
F = TensorProto.FLOAT
BIG = (300, 300)  # 90,000 elements: above ZERO_TEST_ELEMENTS (65,536), so the payload is never read
assert BIG[0] * BIG[1] > loader.ZERO_TEST_ELEMENTS


def _stripped(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, bool]] | str:
    """What the loader makes of a parsed model: refused when empty, else its weights stripped."""
    if not proto.graph.node and not proto.graph.input:
        return "error"
    try:
        return proto, loader.strip_weights(proto)
    except ProfilingError:  # a Constant's name that is not UTF-8
        return "error"


def _reference(data: bytes) -> tuple[onnx.ModelProto, dict[str, bool]] | str:
    """What the loader returned before this reader: the whole parse, then strip_weights."""
    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception:
        return "error"
    return _stripped(proto)


def _loaded(model: object) -> tuple[onnx.ModelProto, dict[str, bool]] | str:
    try:
        proto, _, zeros = loader.load_model(model)
    except ProfilingError as error:
        assert "\n" not in str(error)
        return "error"
    return proto, zeros


def _scanned(data: bytes, descend_bytes: int) -> tuple[onnx.ModelProto, dict[str, bool]] | str:
    """The reader alone (no fallback), scanning every message above ``descend_bytes``."""
    try:
        proto = wire.read_model(data=data, descend_bytes=descend_bytes)
    except wire.Unusual:
        return "unusual"
    except Exception:
        return "error"
    return _stripped(proto)


def _same(expected: object, got: object) -> bool:
    if isinstance(expected, str) or isinstance(got, str):
        return expected == got
    assert isinstance(expected, tuple) and isinstance(got, tuple)
    return (
        expected[0] == got[0]
        and expected[0].SerializeToString() == got[0].SerializeToString()
        and expected[1] == got[1]
    )


def check_equivalent(data: bytes, path=None) -> str:
    """Assert the key property for ``data`` (also written to ``path`` and loaded from
    there); returns the reference outcome ("error" or "model")."""
    expected = _reference(data)
    assert _same(expected, _loaded(data)), "bytes"
    if path is not None:
        path.write_bytes(data)
        assert _same(expected, _loaded(str(path))), "file"
    for descend in (0, wire.DESCEND_BYTES):
        got = _scanned(data, descend)
        assert got == "unusual" or _same(expected, got), f"descend_bytes={descend}"
    return expected if isinstance(expected, str) else "model"


# -- hand-built models holding every kind of tensor ---------------------------------------------


def _random(shape, seed: int, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _value(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def tensors_net() -> onnx.ModelProto:
    """A model whose initializers and Constants cover each branch of the reader."""
    small_int = numpy_helper.from_array(np.array([1, 300], np.int64), "shape")  # kept whole (shape constant)
    large_int = numpy_helper.from_array(np.arange(5000, dtype=np.int64), "ids")  # > 4,096: stripped
    float_data = helper.make_tensor("fd", F, [8, 8], _random((8, 8), 3).ravel().tolist())  # float_data, small
    float_data_big = helper.make_tensor("fdb", F, list(BIG), _random(BIG, 4).ravel().tolist())
    float_data_zero = helper.make_tensor("fdz", F, [16], [0.0] * 8 + [-0.0] * 8)  # zero, -0.0 included
    double_big = helper.make_tensor("dd", TensorProto.DOUBLE, list(BIG), _random(BIG, 5, np.float64).ravel().tolist())
    constant_big = helper.make_node(
        "Constant", [], ["cb"], value=numpy_helper.from_array(_random(BIG, 6), ""), name="const_big"
    )
    constant_zero = helper.make_node(
        "Constant", [], ["cz"], value=numpy_helper.from_array(np.zeros(300, np.float32), "cz_value")
    )
    not_constant = helper.make_node(  # a TENSOR attribute of another op: never stripped
        "ConstantOfShape", ["shape"], ["filled"], value=numpy_helper.from_array(np.zeros(1, np.float32))
    )
    then_branch = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "then_w"], ["t"]),
            helper.make_node("Constant", [], ["then_c"], value=numpy_helper.from_array(_random(BIG, 7), "")),
        ],
        "then",
        [],
        [_value("t", [1, 300])],
        initializer=[numpy_helper.from_array(_random(BIG, 8), "then_w")],
    )
    else_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [_value("e", [1, 300])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("MatMul", ["h", "body_w"], ["h2"])],
        "body",
        [_value("i", [], TensorProto.INT64), _value("cond", [], TensorProto.BOOL), _value("h", [1, 300])],
        [_value("cond_out", [], TensorProto.BOOL), _value("h2", [1, 300])],
        initializer=[numpy_helper.from_array(_random(BIG, 9), "body_w")],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="proj"),
        helper.make_node("Add", ["m", "b"], ["a"], name="bias"),
        helper.make_node("Add", ["a", "zero_big"], ["a2"], name="zero_add"),
        helper.make_node("Add", ["a2", "cz"], ["a3"], name="const_add"),
        helper.make_node("MatMul", ["a3", "cb"], ["m2"], name="const_mm"),
        helper.make_node("If", ["c"], ["if_out"], then_branch=then_branch, else_branch=else_branch, name="if"),
        helper.make_node("Loop", ["trips", "", "if_out"], ["loop_out"], body=body, name="loop"),
        helper.make_node("Add", ["m2", "loop_out"], ["y"], name="out"),
        constant_big,
        constant_zero,
        not_constant,
    ]
    initializers = [
        numpy_helper.from_array(_random(BIG, 1), "w"),
        numpy_helper.from_array(np.zeros(300, np.float32), "b"),  # small and zero: flag True
        numpy_helper.from_array(np.zeros(BIG, np.float32), "zero_big"),  # zero but never read: flag False
        numpy_helper.from_array(_random((64, 32, 3, 3), 2), "conv_w"),  # 18,432 elements: read, not zero
        numpy_helper.from_array(np.array(3, np.int64), "trips"),
        small_int,
        large_int,
        float_data,
        float_data_big,
        float_data_zero,
        double_big,
        numpy_helper.from_array(np.zeros((0, 4), np.float32), "empty"),
    ]
    graph = helper.make_graph(
        nodes,
        "tensors",
        [_value("x", [1, 300]), _value("c", [], TensorProto.BOOL)],
        [_value("y", [1, 300])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


TENSORS = tensors_net()
TENSORS_BYTES = TENSORS.SerializeToString()


def test_the_hand_built_model_loads_exactly_as_the_whole_parse(tmp_path):
    assert check_equivalent(TENSORS_BYTES, tmp_path / "tensors.onnx") == "model"
    proto, zeros = _loaded(TENSORS_BYTES)
    # what strip_weights keeps: small integer constants whole, every other payload gone
    kept = {t.name: t for t in proto.graph.initializer}
    assert numpy_helper.to_array(kept["shape"]).tolist() == [1, 300]
    assert all(not kept[n].raw_data and not kept[n].float_data for n in ("w", "b", "fdb", "zero_big"))
    assert list(kept["w"].dims) == list(BIG) and kept["w"].data_type == F
    # zero flags: tested only up to 65,536 elements (a larger zero tensor is never read)
    assert zeros["b"] is True and zeros["fdz"] is True and zeros["cz"] is True
    assert zeros["zero_big"] is False and zeros["conv_w"] is False and zeros["empty"] is False
    assert zeros["then_w"] is False and zeros["body_w"] is False and zeros["cb"] is False


def test_payloads_above_the_zero_test_are_never_read(tmp_path):
    path = tmp_path / "tensors.onnx"
    path.write_bytes(TENSORS_BYTES)
    read = Counter()

    class Counting(io.FileIO):
        def read(self, size=-1):
            data = super().read(size)
            read["bytes"] += len(data or b"")
            return data

    with Counting(str(path), "rb") as file:
        source = wire._Source(None, file, len(TENSORS_BYTES))
        proto = wire._assemble(source, wire.DESCEND_BYTES)
    assert _same(_reference(TENSORS_BYTES), (proto, loader.strip_weights(proto)))
    # 7 float tensors of 90,000 elements (360,000 bytes each) and one of doubles (720,000)
    # are 3,240,000 of the file's 3,357,587 bytes; the rest (117,587, conv_w's payload
    # included: it is read for the zero test) is read, plus at most a first read of 256
    # bytes after each skip; reading any one large payload would add 360,000
    big_payloads = 7 * 90_000 * 4 + 90_000 * 8
    assert len(TENSORS_BYTES) > big_payloads
    assert read["bytes"] < len(TENSORS_BYTES) - big_payloads + 64 * wire.FIRST_READ_BYTES, read


def test_external_data_is_never_read(tmp_path):
    model = tensors_net()
    path = tmp_path / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=1024)
    data = path.read_bytes()
    # most raw_data weights of 360,000 bytes went to weights.bin (onnx moves raw_data only)
    assert len(data) < len(TENSORS_BYTES) - 4 * 360_000
    assert check_equivalent(data, tmp_path / "copy.onnx") == "model"
    os.remove(tmp_path / "weights.bin")  # still loads, identically: it was never opened
    assert _same(_reference(data), _loaded(str(path)))
    proto, _ = _loaded(str(path))
    assert any(t.data_location == TensorProto.EXTERNAL for t in proto.graph.initializer)


def test_encodings_the_reader_does_not_model_fall_back_to_the_whole_parse(tmp_path):
    group = bytes([0xA3, 0x06, 0xA4, 0x06])  # an unknown field 100 as a group (start, end)
    overlong_tag = bytes([0x92, 0x80, 0x00, 0x01, 0x41])  # producer_name "A" (field 2), its tag in 3 bytes
    for extra in (group, overlong_tag):
        data = TENSORS_BYTES + extra
        with pytest.raises(wire.Unusual):
            wire.read_model(data=data)
        assert check_equivalent(data, tmp_path / "unusual.onnx") == "model"


def test_truncated_big_files_are_one_profiling_error(tmp_path):
    path = tmp_path / "cut.onnx"
    for cut in (3, len(TENSORS_BYTES) // 2, len(TENSORS_BYTES) - 1):
        path.write_bytes(TENSORS_BYTES[:cut])
        with pytest.raises(ProfilingError, match="not a readable ONNX model") as raised:
            flopmagic.profile(str(path))
        assert "\n" not in str(raised.value)


# -- real exports ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import torch
    import torchvision

    folder = tmp_path_factory.mktemp("exports")
    paths = []
    for name, dynamo in (("resnet18", False), ("mobilenet_v2", True)):
        model = getattr(torchvision.models, name)(weights=None).eval()
        path = folder / f"{name}.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            kwargs = {"dynamo": True, "optimize": False} if dynamo else {"dynamo": False, "opset_version": 17}
            torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), **kwargs)
        paths.append(path)
    return paths


def test_real_exports_load_exactly_as_the_whole_parse(exports, tmp_path):
    for path in exports:
        # the file as written (the dynamo exporter puts the weights in external data), and
        # the same model with every weight inline
        inline = onnx.load(str(path)).SerializeToString()
        assert len(inline) > 10_000_000  # resnet18 ~47 MB, mobilenet_v2 ~14 MB of weights
        for data, where in ((path.read_bytes(), tmp_path / "as_written.onnx"), (inline, tmp_path / "inline.onnx")):
            assert check_equivalent(data, where) == "model", path.name
        # and the profile of the inline file is the one of the ModelProto (the in-memory path)
        from_file = flopmagic.profile(str(tmp_path / "inline.onnx"), name="m")
        from_proto = flopmagic.profile(onnx.ModelProto.FromString(inline), name="m")
        assert from_file.to_json() == from_proto.to_json(), path.name
        assert from_file.macs > 0 and from_file.params > 1_000_000


# -- mutated bytes ----------------------------------------------------------------------------------


def _structure(data: bytes, model: onnx.ModelProto) -> list[int]:
    """Offsets outside the large payloads (where a mutation changes structure, not values)."""
    spans = []
    for tensor in loader_tensors(model):
        raw = tensor.raw_data
        if len(raw) > 1000:
            at = data.find(raw)
            if at >= 0:
                spans.append((at, at + len(raw)))
    spans.sort()
    offsets, pos = [], 0
    for start, end in spans:
        offsets.extend(range(pos, start))
        pos = end
    offsets.extend(range(pos, len(data)))
    return offsets


def loader_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    found = []
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        found.extend(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.TENSOR:
                    found.append(attribute.t)
                graphs.extend([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs)
    return found


def _small_big_net() -> onnx.ModelProto:
    """A smaller model for mutation: two large raw weights, a large Constant, an If."""
    then_branch = helper.make_graph(
        [helper.make_node("Add", ["x", "tb"], ["t"])],
        "then",
        [],
        [_value("t", [1, 70_000])],
        initializer=[numpy_helper.from_array(_random((1, 70_000), 12, np.float16), "tb")],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"])], "else", [], [_value("e", [1, 70_000])]
    )
    return onnx_fuzz._model(
        [
            helper.make_node("Add", ["x", "w"], ["a"], name="add"),
            helper.make_node(
                "Constant", [], ["c"], value=numpy_helper.from_array(_random((1, 70_000), 13, np.float16), "")
            ),
            helper.make_node("Mul", ["a", "c"], ["m"], name="mul"),
            helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch, name="if"),
        ],
        [_value("x", [1, 70_000], TensorProto.FLOAT16), _value("cond", [], TensorProto.BOOL)],
        [_value("y", [1, 70_000], TensorProto.FLOAT16)],
        [
            numpy_helper.from_array(_random((1, 70_000), 11, np.float16), "w"),
            numpy_helper.from_array(np.zeros(4, np.float32), "z"),
            numpy_helper.from_array(np.array([2, 3], np.int64), "s"),
        ],
    )


BASES = (_small_big_net, onnx_fuzz.conv_net, onnx_fuzz.loop_net, onnx_fuzz.if_net)


def _mutate(rng: random.Random, data: bytes, structure: list[int]) -> bytes:
    buffer = bytearray(data)
    if not buffer:
        return data
    kind = rng.choice(("flip", "flip", "set", "truncate", "insert", "delete", "splice"))
    at = rng.choice(structure) if structure and rng.random() < 0.9 else rng.randrange(len(buffer))
    if kind == "flip":
        for _ in range(rng.randint(1, 3)):
            spot = rng.choice(structure) if structure else at
            buffer[spot] ^= 1 << rng.randrange(8)
    elif kind == "set":  # a tag or length byte set to an edge value
        buffer[at] = rng.choice((0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x2A, 0x4A, 0x3A, 0x22, 0x0B, 0x0C))
    elif kind == "truncate":
        del buffer[at:]
    elif kind == "insert":
        buffer[at:at] = bytes([rng.randrange(256)])
    elif kind == "delete":
        del buffer[at]
    else:  # a span of the file copied elsewhere (duplicated fields, merged messages)
        start = rng.choice(structure) if structure else 0
        piece = bytes(buffer[start : start + rng.randint(1, 64)])
        buffer[at:at] = piece
    return bytes(buffer)


def test_fuzz_mutated_bytes_either_fail_in_both_or_load_identically(tmp_path, monkeypatch):
    # tiny windows: every fifth case is also read from a file, refilling the window often
    monkeypatch.setattr(wire, "FIRST_READ_BYTES", 16)
    monkeypatch.setattr(wire, "WINDOW_BYTES", 64)
    outcomes: Counter[str] = Counter()
    prepared = []
    for base in BASES:
        model = base()
        data = model.SerializeToString()
        prepared.append((model, data, _structure(data, model)))
    for seed in range(MUTATION_CASES):
        rng = random.Random(seed)
        model, data, structure = prepared[seed % len(prepared)]
        if rng.random() < 0.3:  # a structured mutation first (dims, dtype 99, truncated raw_data, ...)
            model = onnx.ModelProto.FromString(data)
            with contextlib.suppress(Exception):
                rng.choice(onnx_fuzz.STRUCTURED)(rng, model)
            data = model.SerializeToString()
            structure = _structure(data, model)
        for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
            data = _mutate(rng, data, [s for s in structure if s < len(data)])
        try:
            outcomes[check_equivalent(data, tmp_path / "mutated.onnx" if seed % 5 == 0 else None)] += 1
        except AssertionError as error:
            raise AssertionError(f"seed {seed}: {error}") from None
    # both outcomes were exercised, many times
    assert outcomes["model"] > MUTATION_CASES // 10 and outcomes["error"] > MUTATION_CASES // 10, outcomes


VALID = _small_big_net().SerializeToString()


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=len(VALID)), noise=st.binary(max_size=24), keep=st.booleans())
def test_fuzz_spliced_bytes_either_fail_in_both_or_load_identically(cut, noise, keep):
    # noise spliced into a valid file (its tail kept or not): random tags, lengths, wire types
    data = VALID[:cut] + noise + (VALID[cut:] if keep else b"")
    check_equivalent(data)


@settings(max_examples=100 * SCALE, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes_either_fail_in_both_or_load_identically(data):
    check_equivalent(data)


def test_a_constant_named_in_invalid_utf8_is_a_profiling_error():
    # strip_weights names a Constant's tensor after the node's output; an output name that
    # is not UTF-8 (protobuf hands it over as bytes) escaped as UnicodeDecodeError before
    model = onnx_fuzz._model(
        [
            helper.make_node("Constant", [], ["cq"], value=numpy_helper.from_array(np.ones(4, np.float32))),
            helper.make_node("Add", ["x", "cq"], ["y"]),
        ],
        [_value("x", [4])],
        [_value("y", [4])],
    )
    data = model.SerializeToString().replace(b"cq", b"\xffq")
    assert _reference(data) == "error"
    with pytest.raises(ProfilingError, match="not UTF-8"):
        flopmagic.profile(data)


def test_a_pipe_is_read_whole_as_before(tmp_path):
    import threading

    fifo = tmp_path / "model.pipe"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(TENSORS_BYTES)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        loaded = _loaded(str(fifo))  # no size, no seeking: the reader hands it to the whole parse
    finally:
        writer.join(timeout=30)
    assert _same(_reference(TENSORS_BYTES), loaded)
