"""The TensorFlow/Keras adapter: the same architecture gives the same numbers as in PyTorch."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf

import flopmagic
import keras_models
import torch_models
from flopmagic import ProfilingError
from flopmagic.adapters.tensorflow import ops as tf_ops
from flopmagic.formulas import registered_ops
from flopmagic.peers.tf_profiler import profiler_counts

# (torch builder, keras builder, torch input shape, MACs, PyTorch-comparable params)
TWINS = {
    "lenet": (
        torch_models.lenet,
        keras_models.lenet,
        (1, 1, 28, 28),
        torch_models.LENET_MACS,
        torch_models.LENET_PARAMS,
    ),
    "vgg_blocks": (
        torch_models.vgg_blocks,
        keras_models.vgg_blocks,
        (1, 3, 32, 32),
        torch_models.VGG_MACS,
        torch_models.VGG_PARAMS,
    ),
    "separable": (
        torch_models.separable_block,
        keras_models.separable_block,
        (1, 32, 16, 16),
        torch_models.SEPARABLE_MACS,
        torch_models.SEPARABLE_PARAMS,
    ),
    "transformer": (
        torch_models.TransformerBlock,
        keras_models.transformer_block,
        (1, 10, 32),
        torch_models.TRANSFORMER_MACS,
        torch_models.TRANSFORMER_PARAMS,
    ),
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_same_architecture_same_numbers_in_both_frameworks(name):
    torch_builder, keras_builder, shape, macs, params = TWINS[name]
    in_torch = flopmagic.profile(torch_builder().eval(), input_shape=shape)
    in_keras = flopmagic.profile(keras_builder())
    assert in_torch.macs == in_keras.macs == macs
    assert in_torch.params == in_keras.params == params
    assert in_keras.unsupported() == {}
    if name != "transformer":
        # same op types with the same MACs; bias-carrying contractions also the same FLOPs
        torch_rows = {r.key: r for r in in_torch.by_op_type() if r.macs}
        keras_rows = {r.key: r for r in in_keras.by_op_type() if r.macs}
        assert {k: r.macs for k, r in torch_rows.items()} == {k: r.macs for k, r in keras_rows.items()}
        assert {k: r.flops for k, r in torch_rows.items()} == {k: r.flops for k, r in keras_rows.items()}
    else:
        # PyTorch runs one fused attention kernel, Keras einsums: the same work either way
        assert {r.key for r in in_keras.by_op_type() if r.macs} == {"einsum", "linear"}


def test_layer_rows_have_keras_names_and_output_shapes():
    profile = flopmagic.profile(keras_models.lenet())
    rows = {row.key: row for row in profile.by_layer()}
    conv = rows[next(k for k in rows if k.startswith("conv2d") and rows[k].macs == 117_600)]
    assert conv.type == "Conv2D" and conv.output_shapes == ((1, 28, 28, 6),)  # NHWC, as Keras reports it
    assert conv.params == 6 * 25 + 6


# keras.applications at 224x224, analytic counts (loops over the published architectures):


def resnet50_macs(stride_on_3x3: bool) -> int:
    """ResNet-50 MACs: v1 (Keras) puts a block's stride on the first 1x1 conv, v1.5 (torchvision) on the 3x3."""
    macs = 112 * 112 * 64 * 3 * 7 * 7  # conv1 7x7/2
    size, c_in = 56, 64
    for blocks, width, stride in [(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]:
        for block in range(blocks):
            s = stride if block == 0 else 1
            out = size // s
            reduce_at = size if stride_on_3x3 else out
            macs += reduce_at * reduce_at * width * c_in  # 1x1 reduce
            macs += out * out * width * width * 9  # 3x3
            macs += out * out * 4 * width * width  # 1x1 expand
            if block == 0:
                macs += out * out * 4 * width * c_in  # projection shortcut
            c_in, size = 4 * width, out
    return macs + 2048 * 1000  # classifier


def mobilenet_v2_macs(resolution: int = 224) -> int:
    """MobileNetV2 (Sandler et al. 2018, Table 2: t, c, n, s per bottleneck stage)."""
    size, c = resolution // 2, 32
    macs = size * size * 32 * 3 * 9  # stem conv 3x3/2
    for t, c_out, n, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            if t != 1:
                macs += size * size * hidden * c  # 1x1 expand
            out = -(-size // stride)  # a padded 3x3 with stride 2 gives ceil(n / 2)
            macs += out * out * hidden * 9  # depthwise 3x3
            macs += out * out * c_out * hidden  # 1x1 project
            c, size = c_out, out
    return macs + size * size * 1280 * 320 + 1280 * 1000  # last 1x1 conv, classifier


VGG16_MACS = (
    224 * 224 * (3 * 64 + 64 * 64) * 9
    + 112 * 112 * (64 * 128 + 128 * 128) * 9
    + 56 * 56 * (128 * 256 + 2 * 256 * 256) * 9
    + 28 * 28 * (256 * 512 + 2 * 512 * 512) * 9
    + 14 * 14 * (3 * 512 * 512) * 9
    + 25088 * 4096
    + 4096 * 4096
    + 4096 * 1000
)

APPLICATIONS = {
    "ResNet50": (resnet50_macs(stride_on_3x3=False), 3_857_973_248),
    "MobileNetV2": (mobilenet_v2_macs(), 300_774_272),
    "VGG16": (VGG16_MACS, 15_470_264_320),
}


@pytest.fixture(scope="module")
def applications():
    return {name: getattr(keras.applications, name)(weights=None) for name in APPLICATIONS}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications_match_the_analytic_count(applications, name):
    analytic, literal = APPLICATIONS[name]
    assert analytic == literal
    model = applications[name]
    profile = flopmagic.profile(model)
    assert profile.macs == analytic
    assert profile.unsupported() == {}
    # the TF profiler: 2 FLOPs per conv/matmul MAC plus BiasAdd, pooling and the registered
    # elementwise ops -- exactly the tf-profiler preset on flopmagic's records
    measured = flopmagic.profile(model, backend="tf-profiler")
    assert measured.flops == profile.under("tf-profiler").flops
    contractions = sum(r.macs for r in profile.records if r.op in ("conv", "linear", "matmul"))
    assert measured.flops > 2 * contractions
    assert any("Not counted by the profiler" in note and ("Relu" in note) for note in measured.notes)
    assert any("flopmagic's own count of this graph is" in note for note in measured.notes)


def test_resnet50_params_explained(applications):
    profile = flopmagic.profile(applications["ResNet50"])
    # Keras: 25,636,712 weights = 25,583,592 parameters + 53,120 batch-norm moving statistics
    # (2 per channel over 26,560 BN channels); torchvision's 25,557,032 has no conv biases
    # (26,560 fewer): 25,583,592 - 26,560 = 25,557,032.
    assert profile.param_counts["framework_weights"] == 25_636_712
    assert profile.param_counts["buffers"] == 53_120
    assert profile.params == 25_583_592 == 25_557_032 + 26_560
    assert any("moving statistics" in note for note in profile.notes)


def test_stage_by_stage_comparison_explains_v1_against_v15(capsys):
    from flopmagic.cli import main

    assert (
        main(
            [
                "compare",
                "torchvision:resnet50",
                "keras:ResNet50",
                "--by",
                "stage",
                "--device",
                "meta",
                "--format",
                "json",
            ]
        )
        == 0
    )
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == [resnet50_macs(True), resnet50_macs(False)]  # 4.089 G vs 3.858 G
    stages = [(row["keys"], row["macs"]) for row in data["rows"]]
    assert stages[0] == (["conv1", "conv1"], [118_013_952, 118_013_952])  # the same stem
    assert stages[1][0] == ["layer1", "conv2"] and stages[1][1][0] == stages[1][1][1]  # stride 1: the same
    for keys, (torch_macs, keras_macs) in stages[2:5]:  # the strided stages: v1.5 costs more
        assert torch_macs > keras_macs, keys


def test_tf_profiler_on_the_frozen_graph_counts_the_same():
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    model = keras_models.separable_block()
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec((1, 16, 16, 32)))
    frozen = convert_variables_to_constants_v2(traced)
    assert profiler_counts(frozen.graph) == profiler_counts(traced.graph)


def test_lstm_loop_counted_per_step_like_pytorch():
    import torch

    inputs = keras.Input((5, 4))
    model = keras.Model(inputs, keras.layers.LSTM(3)(inputs))
    profile = flopmagic.profile(model)
    # 5 steps * 4 gates * 3 units * (4 inputs + 3 recurrent) = 420 MACs; the step Keras computes
    # outside the loop only to learn shapes feeds no output and is not counted
    assert profile.macs == 5 * 4 * 3 * (4 + 3) == 420
    assert any("counted" in n and "static trip count" in n for n in profile.notes)
    assert any("feed no output" in n for n in profile.notes)
    lstm = torch.nn.LSTM(4, 3, batch_first=True)
    assert flopmagic.profile(lstm, input_shape=(1, 5, 4)).macs == 420


def test_subclassed_model_and_tf_function():
    class Tiny(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ProfilingError, match="declares no input shape: pass input_shape"):
        flopmagic.profile(Tiny())
    # 2 rows * 8 * 4 = 64 MACs; 64 * 2 + 8 bias adds = 136 FLOPs
    profile = flopmagic.profile(Tiny(), input_shape=(2, 8))
    assert (profile.macs, profile.flops, profile.params) == (64, 136, 8 * 4 + 4)
    weights = tf.Variable(tf.ones((8, 4)))

    @tf.function(input_signature=[tf.TensorSpec((3, 8), tf.float32)])
    def matmul(x):
        return tf.matmul(x, weights)

    assert flopmagic.profile(matmul, input_shape=(3, 8)).macs == 3 * 8 * 4


def test_inputs_and_input_shape_override(applications):
    model = keras_models.vgg_blocks()
    assert flopmagic.profile(model, np.zeros((2, 32, 32, 3), np.float32)).macs == 2 * torch_models.VGG_MACS
    # a model built for 224x224 only says so, with the fix
    with pytest.raises(ProfilingError, match="built for one input shape"):
        flopmagic.profile(applications["MobileNetV2"], input_shape=(1, 112, 112, 3))
    # built at 112x112: the same derivation at that resolution
    small = flopmagic.profile(keras.applications.MobileNetV2(weights=None, input_shape=(112, 112, 3)))
    assert small.inputs[0].shape == (1, 112, 112, 3)
    assert small.macs == mobilenet_v2_macs(112)
    # a model with free spatial sizes takes any input_shape:
    flexible = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    # conv 32*32*8 * 3*9 = 221,184 + dense 8*2 = 16; at 64x64 the conv costs 4x
    assert flopmagic.profile(flexible, input_shape=(1, 32, 32, 3)).macs == 221_184 + 16
    assert flopmagic.profile(flexible, input_shape=(1, 64, 64, 3)).macs == 4 * 221_184 + 16


def test_profiling_does_not_change_the_model():
    model = keras_models.separable_block()
    model.layers[1].trainable = False  # a frozen batch norm
    before = [w.copy() for w in model.get_weights()]
    flags = [layer.trainable for layer in model.layers]
    flopmagic.profile(model)
    flopmagic.profile(model, backend="tf-profiler")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert flags == [layer.trainable for layer in model.layers]


def test_keras_spec_and_errors(capsys):
    from flopmagic.cli import main

    assert main(["profile", "keras:MobileNetV2", "--format", "json"]) == 0
    assert '"macs": 300774272' in capsys.readouterr().out
    assert main(["profile", "keras:ResNet51"]) == 2
    assert "keras.applications has no model 'ResNet51'" in capsys.readouterr().err
    with pytest.raises(ProfilingError, match="non-positive dimension"):
        flopmagic.profile(keras_models.lenet(), input_shape=(1, 0, 28, 1))


def test_tf_table_names_known_ops_and_formulas():
    from tensorflow.python.framework import op_def_registry

    for name in tf_ops.TABLE:
        assert op_def_registry.get(name) is not None, name
    assert set(tf_ops._UNIFORM.values()) <= set(registered_ops())
    assert set(tf_ops._REDUCE.values()) <= set(registered_ops())


def _tf2onnx(model):
    import tf2onnx

    # from_function on the traced forward (from_keras cannot read Keras 3 Sequential models)
    signature = (tf.TensorSpec((1, *model.inputs[0].shape[1:]), tf.float32, name="input"),)
    forward = tf.autograph.experimental.do_not_convert(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(tf.function(forward), input_signature=signature, opset=17)
    return proto


@pytest.mark.slow
def test_tf2onnx_export_matches_the_tf_adapter(tmp_path):
    rng = np.random.default_rng(0)
    for builder in (keras_models.lenet, keras_models.vgg_blocks):
        model = builder()
        # trained-like weights: tf2onnx optimises away bias adds whose constant is all zeros,
        # which a freshly initialised Keras model's biases are
        model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
        proto = _tf2onnx(model)
        exported, source = flopmagic.profile(proto), flopmagic.profile(model)
        assert (exported.macs, exported.params) == (source.macs, source.params)
        assert exported.unsupported() == {}
    # With batch norm, tf2onnx freezes the weights and folds the normalisation into the
    # convolutions: the MACs survive, the moving statistics and scales do not.
    mobilenet = keras.applications.MobileNetV2(weights=None)
    assert flopmagic.profile(_tf2onnx(mobilenet)).macs == mobilenet_v2_macs()
