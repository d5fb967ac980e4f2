"""The ONNX adapter: hand-built graphs for each supported op, subgraphs, bad input, real exports."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torchvision
from onnx import TensorProto, helper, numpy_helper

import flopmagic
from flopmagic import Cost, ProfilingError
from flopmagic.adapters.onnx import ops as onnx_ops
from flopmagic.cli import main
from flopmagic.formulas import registered_ops

F = TensorProto.FLOAT


def value(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def weight(name, shape, fill=0.5):
    return numpy_helper.from_array(np.full(shape, fill, dtype=np.float32), name)


def build(nodes, inputs, outputs, initializers=(), opset=21, extra_opsets=()):
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra_opsets], ir_version=10)


def run_ort(model, feeds):
    """Run the graph for real: the hand-built models must be valid ONNX."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


CONV = build(
    [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3])],
    [value("x", [1, 3, 8, 8])],
    [value("y", [1, 4, 6, 6])],
    [weight("w", [4, 3, 3, 3]), weight("b", [4])],
)


def test_conv_with_bias():
    run_ort(CONV, {"x": np.zeros((1, 3, 8, 8), np.float32)})
    profile = flopmagic.profile(CONV)
    # 3*3*3 * 4 * 6*6 = 3,888 MACs; 2 * 3,888 + 144 bias adds = 7,920 FLOPs; params 108 + 4
    assert (profile.macs, profile.flops, profile.params) == (3_888, 7_920, 112)
    assert profile.framework == "onnx" and profile.records[0].op == "conv"


CASES = {
    # name: (model, macs, flops)
    "conv_transpose": (
        # x 1x2x3x3, W [2, 4, 2, 2], stride 2 -> 1x4x6x6: 18 inputs * 4 * 4 = 288 MACs
        build(
            [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])],
            [value("x", [1, 2, 3, 3])],
            [value("y", [1, 4, 6, 6])],
            [weight("w", [2, 4, 2, 2])],
        ),
        288,
        576,
    ),
    "gemm": (
        # A 2x3, B 4x3 (transB), C 4: 2*3*4 = 24 MACs; 48 + 8 bias adds = 56
        build(
            [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)],
            [value("a", [2, 3])],
            [value("y", [2, 4])],
            [weight("b", [4, 3]), weight("c", [4])],
        ),
        24,
        56,
    ),
    "matmul": (
        # [2,3,4] @ [2,4,5]: 2*3*4*5 = 120 MACs
        build(
            [helper.make_node("MatMul", ["a", "b"], ["y"])],
            [value("a", [2, 3, 4]), value("b", [2, 4, 5])],
            [value("y", [2, 3, 5])],
        ),
        120,
        240,
    ),
    "einsum_ellipsis": (
        # "...ij,...jk->...ik" over batch 2: 2*3*4*5 = 120 MACs
        build(
            [helper.make_node("Einsum", ["a", "b"], ["y"], equation="...ij,...jk->...ik")],
            [value("a", [2, 3, 4]), value("b", [2, 4, 5])],
            [value("y", [2, 3, 5])],
        ),
        120,
        240,
    ),
    "batch_norm": (
        # 1x3x4x4 = 48 elements * 2 + 3 channels * 5 = 111; no MACs
        build(
            [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
            [value("x", [1, 3, 4, 4])],
            [value("y", [1, 3, 4, 4])],
            [weight("s", [3]), weight("b", [3]), weight("m", [3], 0.0), weight("v", [3], 1.0)],
        ),
        0,
        111,
    ),
    "layer_norm": (
        # 2x4x8 with scale and bias: 64 * 7 + 8 rows * 4 = 480
        build(
            [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)],
            [value("x", [2, 4, 8])],
            [value("y", [2, 4, 8])],
            [weight("s", [8]), weight("b", [8])],
        ),
        0,
        480,
    ),
    "group_norm": (
        # 1x4x3x3, 2 groups, affine: 36 * 7 + 2 * 4 = 260
        build(
            [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)],
            [value("x", [1, 4, 3, 3])],
            [value("y", [1, 4, 3, 3])],
            [weight("s", [4]), weight("b", [4])],
        ),
        0,
        260,
    ),
    "softmax_relu_gelu_sigmoid": (
        # on 2x3: softmax 6*5 = 30, relu 6, gelu 6*5 = 30, sigmoid 6*4 = 24 -> 90
        build(
            [
                helper.make_node("Softmax", ["x"], ["a"], axis=-1),
                helper.make_node("Relu", ["a"], ["b"]),
                helper.make_node("Gelu", ["b"], ["c"]),
                helper.make_node("Sigmoid", ["c"], ["y"]),
            ],
            [value("x", [2, 3])],
            [value("y", [2, 3])],
            opset=20,
        ),
        0,
        90,
    ),
    "add_mul_broadcast": (
        # [2,3] + [3] and * [3]: 6 + 6 = 12
        build(
            [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Mul", ["a", "b"], ["y"])],
            [value("x", [2, 3])],
            [value("y", [2, 3])],
            [weight("b", [3])],
        ),
        0,
        12,
    ),
    "sum_of_three": (
        # three operands: 2 adds per element of 2x3 = 12
        build([helper.make_node("Sum", ["x", "x", "x"], ["y"])], [value("x", [2, 3])], [value("y", [2, 3])]),
        0,
        12,
    ),
    "pooling": (
        # max 2x2/2 on 1x1x4x4: 4 outputs * 3 compares = 12; average: 4 * 4 = 16; global average of 1x1x2x2: 4
        build(
            [
                helper.make_node("MaxPool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
                helper.make_node("AveragePool", ["x"], ["b"], kernel_shape=[2, 2], strides=[2, 2]),
                helper.make_node("GlobalAveragePool", ["b"], ["y"]),
            ],
            [value("x", [1, 1, 4, 4])],
            [value("a", [1, 1, 2, 2]), value("y", [1, 1, 1, 1])],
        ),
        0,
        12 + 16 + 4,
    ),
    "resize_linear": (
        # 1x1x2x2 -> 1x1x4x4 bilinear: 16 outputs * 3 lerps * 3 FLOPs = 144
        build(
            [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
            [value("x", [1, 1, 2, 2])],
            [value("y", [1, 1, 4, 4])],
            [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
        ),
        0,
        144,
    ),
    "lstm": (
        # X 3x1x4, hidden 2, with B: per step 4*2*(4+2) = 48 MACs -> 144; FLOPs 3 * (96 + 16 + 36) = 444
        build(
            [helper.make_node("LSTM", ["x", "w", "r", "b"], ["y"], hidden_size=2)],
            [value("x", [3, 1, 4])],
            [value("y", [3, 1, 1, 2])],
            [weight("w", [1, 8, 4]), weight("r", [1, 8, 2]), weight("b", [1, 16])],
        ),
        144,
        444,
    ),
    "gru_bidirectional": (
        # per step per direction 3*2*(4+2) = 36 MACs; x3 steps x2 directions = 216; FLOPs 2 * 342 = 684
        build(
            [helper.make_node("GRU", ["x", "w", "r", "b"], ["y"], hidden_size=2, direction="bidirectional")],
            [value("x", [3, 1, 4])],
            [value("y", [3, 2, 1, 2])],
            [weight("w", [2, 6, 4]), weight("r", [2, 6, 2]), weight("b", [2, 12])],
        ),
        216,
        684,
    ),
    "reduce_mean": (
        # 4x5 over axis 1: 20 (4 adds + 1 divide per output)
        build(
            [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)],
            [value("x", [4, 5])],
            [value("y", [4])],
            [numpy_helper.from_array(np.array([1], np.int64), "axes")],
        ),
        0,
        20,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_built_graphs(name):
    model, macs, flops = CASES[name]
    onnx.checker.check_model(model)
    profile = flopmagic.profile(model)
    assert (profile.macs, profile.flops) == (macs, flops)
    assert profile.unsupported() == {}


def test_graphs_run_in_onnxruntime():
    # a few of them executed for real, with the shapes the adapter inferred
    for name in ("gemm", "lstm", "pooling", "resize_linear", "layer_norm"):
        model = CASES[name][0]
        feeds = {
            i.name: np.ones([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32) for i in model.graph.input
        }
        outputs = run_ort(model, feeds)
        assert outputs and all(np.isfinite(o).all() for o in outputs)


def test_attention_ops():
    # opset 23 Attention, q/k/v [1, 2, 4, 8]: scores 2*4*4 = 32, MACs 32 * (8 + 8) = 512
    model = build(
        [helper.make_node("Attention", ["q", "k", "v"], ["y"])],
        [value(n, [1, 2, 4, 8]) for n in "qkv"],
        [value("y", [1, 2, 4, 8])],
        opset=23,
    )
    assert flopmagic.profile(model).macs == 512
    # com.microsoft MultiHeadAttention on [1, 4, 16] with 2 heads: the same 512 MACs
    ms = build(
        [helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["y"], domain="com.microsoft", num_heads=2)],
        [value(n, [1, 4, 16]) for n in "qkv"],
        [value("y", [1, 4, 16])],
        extra_opsets=[helper.make_opsetid("com.microsoft", 1)],
    )
    assert flopmagic.profile(ms).macs == 512


def _matmul_body(inputs, outputs, nodes):
    return helper.make_graph(nodes, "body", inputs, outputs)


def test_loop_with_static_trip_count_multiplies():
    body = _matmul_body(
        [value("i", [], TensorProto.INT64), value("cond", [], TensorProto.BOOL), value("h", [1, 4])],
        [value("cond_out", [], TensorProto.BOOL), value("h_next", [1, 4])],
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("MatMul", ["h", "w"], ["h_next"])],
    )
    model = build(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body)],
        [value("x", [1, 4])],
        [value("y", [1, 4])],
        [numpy_helper.from_array(np.array(3, np.int64), "trips"), weight("w", [4, 4])],
    )
    run_ort(model, {"x": np.ones((1, 4), np.float32)})
    profile = flopmagic.profile(model)
    # 1*4*4 = 16 MACs per iteration, 3 iterations
    assert profile.macs == 48
    assert any("counted 3 times" in n for n in profile.notes)


def test_loop_with_dynamic_trip_count_is_marked():
    body = _matmul_body(
        [value("i", [], TensorProto.INT64), value("cond", [], TensorProto.BOOL), value("h", [1, 4])],
        [value("cond_out", [], TensorProto.BOOL), value("h_next", [1, 4])],
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("MatMul", ["h", "w"], ["h_next"])],
    )
    model = build(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)],
        [value("x", [1, 4]), value("n", [], TensorProto.INT64)],
        [value("y", [1, 4])],
        [weight("w", [4, 4])],
    )
    profile = flopmagic.profile(model)
    assert profile.macs == 16  # counted once
    assert any("not static" in n for n in profile.notes)


def test_scan_counts_each_step():
    body = _matmul_body(
        [value("h", [1, 4]), value("xt", [1, 4])],
        [value("h_next", [1, 4]), value("out", [1, 4])],
        [
            helper.make_node("MatMul", ["h", "w"], ["m"]),
            helper.make_node("Add", ["m", "xt"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["out"]),
        ],
    )
    model = build(
        [helper.make_node("Scan", ["h0", "xs"], ["h", "ys"], body=body, num_scan_inputs=1)],
        [value("h0", [1, 4]), value("xs", [5, 1, 4])],
        [value("h", [1, 4]), value("ys", [5, 1, 4])],
        [weight("w", [4, 4])],
    )
    run_ort(model, {"h0": np.ones((1, 4), np.float32), "xs": np.ones((5, 1, 4), np.float32)})
    profile = flopmagic.profile(model)
    # 5 steps * (16 MACs; 2*16 + 4 adds FLOPs)
    assert (profile.macs, profile.flops) == (80, 5 * (32 + 4))


def test_if_counts_the_costlier_branch():
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [value("t", [1, 4])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [value("e", [1, 4])])
    model = build(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        [value("c", [], TensorProto.BOOL), value("x", [1, 4])],
        [value("y", [1, 4])],
        [weight("w", [4, 4])],
    )
    profile = flopmagic.profile(model)
    assert profile.macs == 16
    assert any("upper bound" in n for n in profile.notes)


def test_custom_domain_ops_are_listed_and_can_be_priced():
    model = build(
        [
            helper.make_node("Frobnicate", ["x"], ["a"], domain="com.acme"),
            helper.make_node("Frobnicate", ["a"], ["y"], domain="com.acme"),
        ],
        [value("x", [2, 3])],
        [value("y", [2, 3])],
        extra_opsets=[helper.make_opsetid("com.acme", 1)],
    )
    profile = flopmagic.profile(model, input_shape=None)
    assert profile.unsupported() == {"com.acme:Frobnicate": 2}
    priced = flopmagic.profile(model, overrides={"com.acme:Frobnicate": lambda spec: Cost(flops=10)})
    assert priced.flops == 20 and priced.unsupported() == {}


SYMBOLIC = build(
    [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])],
    [value("x", ["batch", 3, "height", "width"])],
    [value("y", ["batch", 4, None, None])],
    [weight("w", [4, 3, 3, 3])],
)


def test_symbolic_dims_name_every_unresolved_one():
    with pytest.raises(ProfilingError) as error:
        flopmagic.profile(SYMBOLIC)
    message = str(error.value)
    assert "'x': dim 0 'batch', dim 2 'height', dim 3 'width'" in message
    assert "dims={'batch': ..., 'height': ..., 'width': ...}" in message and "--input-shape" in message
    with pytest.raises(ProfilingError, match="dim 2 'height', dim 3 'width'"):
        flopmagic.profile(SYMBOLIC, dims={"batch": 1})
    # bound by name, or by whole shape: 3*9 * 4 * 6*6 = 3,888 MACs
    assert flopmagic.profile(SYMBOLIC, dims={"batch": 1, "height": 8, "width": 8}).macs == 3_888
    assert flopmagic.profile(SYMBOLIC, input_shape={"x": (1, 3, 8, 8)}).macs == 3_888
    assert flopmagic.profile(SYMBOLIC, input_shape=(2, 3, 8, 8)).macs == 2 * 3_888
    with pytest.raises(ProfilingError, match="rank 4, but the shape given is"):
        flopmagic.profile(SYMBOLIC, input_shape=(1, 3, 8))


def test_cli_binds_dims(tmp_path, capsys):
    path = tmp_path / "symbolic.onnx"
    onnx.save(SYMBOLIC, str(path))
    assert main(["profile", str(path), "--dim", "batch=1,height=8,width=8", "--format", "json"]) == 0
    assert '"macs": 3888' in capsys.readouterr().out
    assert main(["profile", str(path)]) == 2
    assert "symbolic or unknown dimensions" in capsys.readouterr().err
    assert main(["profile", str(path), "--dim", "batch"]) == 2
    assert "write name=value pairs" in capsys.readouterr().err


def test_malformed_files_give_clear_errors(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(CONV, str(good))
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ProfilingError, match="truncated or corrupt"):
        flopmagic.profile(str(truncated))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01not an onnx model at all\xff" * 10)
    with pytest.raises(ProfilingError, match=r"truncated or corrupt|holds no ONNX graph"):
        flopmagic.profile(str(garbage))
    with pytest.raises(ProfilingError, match="not an ONNX model"):
        flopmagic.profile(b"\xff\xfe garbage bytes")
    with pytest.raises(flopmagic.SpecError, match="no such ONNX file"):
        flopmagic.profile(str(tmp_path / "missing.onnx"))


def test_external_weights_are_never_loaded(tmp_path):
    path = tmp_path / "external.onnx"
    model = onnx.ModelProto()
    model.CopyFrom(CONV)  # saving with external data rewrites the model in place: keep the shared CONV whole
    onnx.save(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    (tmp_path / "weights.bin").unlink()  # the weights are gone: counting needs only shapes
    profile = flopmagic.profile(str(path))
    assert (profile.macs, profile.params) == (3_888, 112)
    assert CONV.graph.initializer[0].HasField("raw_data") or len(CONV.graph.initializer[0].float_data)


def test_newer_opset_is_noted():
    model = build([helper.make_node("Relu", ["x"], ["y"])], [value("x", [2, 3])], [value("y", [2, 3])], opset=99)
    profile = flopmagic.profile(model)
    assert any("opset 99 is newer" in n for n in profile.notes)
    assert profile.flops == 6


def test_legacy_torch_names_become_module_paths():
    nodes = [
        helper.make_node(
            "Conv", ["x", "w"], ["a"], name="/layer2/layer2.0/downsample/downsample.0/Conv", kernel_shape=[1, 1]
        ),
        helper.make_node("Relu", ["a"], ["y"], name="/layer2/layer2.0/relu/Relu"),
    ]
    model = build(nodes, [value("x", [1, 3, 4, 4])], [value("y", [1, 3, 4, 4])], [weight("w", [3, 3, 1, 1])])
    scopes = [r.scope for r in flopmagic.profile(model).records]
    assert scopes == ["layer2.0.downsample.0", "layer2.0.relu"]


def test_onnx_table_names_registered_formulas_and_known_ops():
    schemas = {s.name for s in onnx.defs.get_all_schemas_with_history()}
    for key in onnx_ops.TABLE:
        if ":" not in key:
            assert key in schemas, key
    assert set(onnx_ops._UNIFORM.values()) <= set(registered_ops())
    assert set(onnx_ops._REDUCE.values()) <= set(registered_ops())


def _export(model, path):
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=True, optimize=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "vit_b_16"])
def test_torch_exports_match_the_pytorch_adapter(name, tmp_path):
    model = getattr(torchvision.models, name)().eval()
    path = tmp_path / f"{name}.onnx"
    _export(model, path)
    exported = flopmagic.profile(str(path))
    source = flopmagic.profile(model, input_shape=(1, 3, 224, 224))
    assert exported.macs == source.macs
    assert exported.params == source.params  # BatchNorm running statistics are buffers, not parameters
    assert exported.unsupported() == {}
    if name == "vit_b_16":
        # the export spells attention out in primitive ops: the same MACs, elementwise work within 0.01%
        assert exported.flops == pytest.approx(source.flops, rel=1e-4)
    else:
        assert exported.flops == source.flops
    # the exporter's module paths line up with the source model's layers
    assert {r.key for r in exported.by_scope(1)} >= {r.key for r in source.by_scope(1) if r.macs}


def _heavy_model() -> onnx.ModelProto:
    """A Gemm with a 1024x4096 float weight (16 MiB of payload) and a random bias."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4096, 1024), dtype=np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(4096, dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
        "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4096])],
        initializer=[weight, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_weight_payloads_are_never_copied_or_converted(tmp_path, monkeypatch):
    """Profiling a model with 16 MiB of inline weights allocates far less than the payload:
    no copy of the ModelProto, no serialisation for shape inference, no numpy array of a
    weight (numpy_helper.to_array is made to fail for any float tensor)."""
    import tracemalloc

    from onnx import numpy_helper as helper_module

    heavy = _heavy_model()
    payload_bytes = 4096 * 1024 * 4
    original = helper_module.to_array

    def no_weights(tensor, *args, **kwargs):
        assert tensor.data_type not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE), tensor.name
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(helper_module, "to_array", no_weights)
    # Gemm 2x1024 @ 1024x4096: 2*1024*4096 = 8,388,608 MACs; params 4096*1024 + 4096
    expected = (8_388_608, 4_198_400)
    path = tmp_path / "heavy.onnx"
    onnx.save(heavy, str(path))
    data = path.read_bytes()
    for source in (heavy, data, str(path)):
        flopmagic.profile(source)  # warm imports and caches outside the measurement
        tracemalloc.start()
        profile = flopmagic.profile(source)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (profile.macs, profile.params) == expected
        # a path is read once (the file's bytes, then the parse): at most ~2x the payload;
        # a ModelProto or bytes the caller holds: no copy of the payload at all
        limit = 2.3 * payload_bytes if isinstance(source, str) else 0.1 * payload_bytes
        assert peak < limit, (type(source).__name__, peak)
    assert len(heavy.graph.initializer[0].raw_data) == payload_bytes  # the caller's model is untouched


def test_zero_bias_initializer_is_still_seen_as_zero():
    """A stripped all-zero bias keeps its zero flag: a Conv with a zero bias costs what one
    without a bias costs; a nonzero bias adds its adds."""

    def conv(bias_value: float) -> onnx.ModelProto:
        weight = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w")
        bias = numpy_helper.from_array(np.full(8, bias_value, np.float32), "b")
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "w", "b"], ["y"])],
            "c",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
            initializer=[weight, bias],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    zero, nonzero = flopmagic.profile(conv(0.0)), flopmagic.profile(conv(0.5))
    # 8*8*8 outputs * 27 MACs = 13,824 MACs either way
    assert zero.macs == nonzero.macs == 13_824
    assert nonzero.flops - zero.flops == 8 * 8 * 8  # one bias add per output


class _Folded(torch.nn.Module):
    """Module names whose alphabetical order is not the graph's (stem, act, block)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.norm = torch.nn.BatchNorm2d(8)
        self.act = torch.nn.ReLU()
        self.block = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 1, bias=False), torch.nn.BatchNorm2d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.act(self.norm(self.stem(x))))


def test_exported_rows_follow_the_graph_and_a_folded_conv_keeps_its_layer(tmp_path):
    """The exporter's optimiser folds each BatchNorm into the Conv before it and gives the
    fused Conv the BatchNorm's metadata; the row is still the conv's layer, in graph order."""
    path = tmp_path / "folded.onnx"
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(_Folded().eval(), (torch.randn(1, 3, 16, 16),), str(path), dynamo=True)
    proto = onnx.load(str(path), load_external_data=False)
    assert [n.op_type for n in proto.graph.node] == ["Conv", "Relu", "Conv"]  # both BatchNorms folded
    exported = flopmagic.profile(str(path))
    assert [(layer.scope, layer.type) for layer in exported.layers] == [
        ("stem", "Conv + BatchNorm2d"),
        ("act", "ReLU"),
        ("block.0", "Conv + BatchNorm2d"),
    ]
    macs = {r.scope: r.macs for r in exported.records}
    # stem: 16 x 16 outputs x 8 channels x (3 x 3 x 3) = 55,296; block.0: 16 x 16 x 4 x 8 = 8,192
    assert macs == {"stem": 55_296, "act": 0, "block.0": 8_192}
    assert exported.macs == flopmagic.profile(_Folded().eval(), input_shape=(1, 3, 16, 16)).macs


def test_profile_restores_the_garbage_collector_as_found():
    """The walk pauses the cyclic collector for the call; afterwards (also after an
    error) it is enabled or disabled exactly as it was before."""
    import gc

    model = build([helper.make_node("Relu", ["x"], ["y"])], [value("x", [1, 4])], [value("y", [1, 4])])
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            assert flopmagic.profile(model).flops == 4  # Relu: one comparison per element, 1*4
            assert gc.isenabled() is enabled
            with pytest.raises(ProfilingError):
                flopmagic.profile(b"not an onnx model")
            assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
