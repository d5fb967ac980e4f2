"""Receptive field and jump per layer: hand-derived stacks, VGG-16 and ResNet-50 in three adapters."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import flopmagic
from flopmagic.cli import main
from flopmagic.receptive_field import ReceptiveField, receptive_fields, receptive_fields_by_scope
from flopmagic.report import Report
from flopmagic.schema import OpRecord


def fields_of(profile, cumulative=False):
    return {
        k: (v.size_value(), v.jump_value())
        for k, v in receptive_fields_by_scope(profile.records, cumulative=cumulative).items()
    }


# VGG-16, by the recursion r += (k - 1) * j, j *= s, from r = j = 1:
#   block1: 2 convs 3x3 s1 at j=1: 1 + 2 + 2 = 5;     pool 2x2 s2: 5 + 1*1 = 6,     j = 2
#   block2: 2 convs at j=2: 6 + 4 + 4 = 14;           pool: 14 + 1*2 = 16,          j = 4
#   block3: 3 convs at j=4: 16 + 3*8 = 40;            pool: 40 + 1*4 = 44,          j = 8
#   block4: 3 convs at j=8: 44 + 3*16 = 92;           pool: 92 + 1*8 = 100,         j = 16
#   block5: 3 convs at j=16: 100 + 3*32 = 196 (last conv); pool5: 196 + 1*16 = 212, j = 32
VGG16_LAST_CONV = (196, 16)
VGG16_POOL5 = (212, 32)


def test_vgg16_torchvision():
    profile = flopmagic.profile("torchvision:vgg16", device="meta")
    fields = fields_of(profile)
    assert fields["features.28"] == VGG16_LAST_CONV  # the 13th conv
    assert fields["features.29"] == VGG16_LAST_CONV  # its ReLU keeps it
    assert fields["features.30"] == VGG16_POOL5
    assert fields["features.0"] == (3, 1) and fields["features.4"] == (6, 2)  # conv1_1, pool1
    assert "classifier.0" not in fields  # a linear layer on the flattened features has no spatial field


def test_alexnet():
    # conv1 11x11 s4: 11, j 4; pool 3x3 s2: 11 + 2*4 = 19, j 8; conv2 5x5: 19 + 4*8 = 51;
    # pool: 51 + 2*8 = 67, j 16; conv3-5 3x3: 67 + 3*32 = 163; pool: 163 + 2*16 = 195, j 32
    # (195 is also the figure of Araujo et al., Distill 2019, for AlexNet)
    fields = fields_of(flopmagic.profile("torchvision:alexnet", device="meta"))
    assert fields["features.0"] == (11, 4)
    assert fields["features.10"] == (163, 16)
    assert fields["features.12"] == (195, 32)


def test_vgg16_keras_gives_the_same():
    profile = flopmagic.profile("keras:VGG16")
    fields = fields_of(profile)
    assert fields["block5_conv3"] == VGG16_LAST_CONV
    assert fields["block5_pool"] == VGG16_POOL5
    assert fields["block1_pool"] == (6, 2)


def test_resnet50_main_path_torchvision_and_keras():
    # torchvision (stride in the 3x3 conv of each stage's first block, "v1.5"):
    #   conv1 7x7 s2: 7, j 2; maxpool 3x3 s2: 7 + 2*2 = 11, j 4
    #   layer1: 3 blocks, one 3x3 each at j 4: 11 + 3*8 = 35
    #   layer2: 3x3 s2 at j 4: 35 + 8 = 43, j 8; 3 more blocks: 43 + 3*16 = 91
    #   layer3: 91 + 16 = 107, j 16; 5 more: 107 + 5*32 = 267
    #   layer4: 267 + 32 = 299, j 32; 2 more: 299 + 2*64 = 427
    torchvision_fields = fields_of(flopmagic.profile("torchvision:resnet50", device="meta"), cumulative=True)
    assert torchvision_fields["layer1"] == (35, 4)
    assert torchvision_fields["layer2"] == (91, 8)
    assert torchvision_fields["layer3"] == (267, 16)
    assert torchvision_fields["layer4"] == (427, 32)
    # the shortcut's 1x1 s2 conv reads the block input: its own field, not the main path's
    assert torchvision_fields["layer2.0.downsample.0"] == (35, 8)
    # Keras (stride in the first 1x1 conv of each stage, the original ResNet v1): a stride-2
    # 1x1 adds nothing, so each stage's first 3x3 grows by 2 * the new jump:
    #   35 after conv2; conv3: 35 + 4*16 = 99; conv4: 99 + 6*32 = 291; conv5: 291 + 3*64 = 483,
    # the 483 of Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks"
    # (Distill, 2019), table of ResNet-50 (v1), effective stride 32.
    keras_fields = fields_of(flopmagic.profile("keras:ResNet50"))
    assert keras_fields["conv2_block3_3_conv"] == (35, 4)
    assert keras_fields["conv3_block4_3_conv"] == (99, 8)
    assert keras_fields["conv4_block6_3_conv"] == (291, 16)
    assert keras_fields["conv5_block3_3_conv"] == (483, 32)
    # the residual add + ReLU layers run on channels-last tensors and keep the field: 11 + 8 = 19
    assert keras_fields["conv2_block1_out"] == (19, 4)
    assert keras_fields["conv5_block3_out"] == (483, 32)


def test_convnext_permuted_blocks_keep_the_field():
    # ConvNeXt-T: stem 4x4 s4: 4, j 4; each block one 7x7 depthwise conv (+6 j), its Linear layers
    # run on channels-last views. Stage 1, 3 blocks: 4 + 3*24 = 76; downsample 2x2 s2: 76 + 4 = 80, j 8;
    # stage 2: 80 + 3*48 = 224; 232, j 16; stage 3 (9 blocks): 232 + 9*96 = 1096; 1112, j 32;
    # stage 4: 1112 + 3*192 = 1688.
    fields = fields_of(flopmagic.profile("torchvision:convnext_tiny", device="meta"), cumulative=True)
    assert fields["features.0"] == (4, 4)
    assert fields["features.1.0"] == (28, 4)
    assert fields["features.1"] == (76, 4)
    assert fields["features.2"] == (80, 8)
    assert fields["features.3"] == (224, 8)
    assert fields["features.7"] == (1688, 32)


def test_channel_shuffle_keeps_the_field_and_unknown_is_not_replaced():
    # ShuffleNetV2 x1.0: conv1 3x3 s2: 3, j 2; maxpool 3x3 s2: 7, j 4; each stage's first unit has a
    # 3x3 s2 depthwise conv (+2 j, j doubles), each other unit one 3x3 depthwise (+2 j):
    #   stage2: 7 + 8 = 15, j 8, + 3*16 = 63; stage3: 63 + 16 = 79, j 16, + 7*32 = 303;
    #   stage4: 303 + 32 = 335, j 32, + 3*64 = 527. The channel shuffle (view to 5-D, transpose,
    #   view back) only moves channels.
    fields = fields_of(flopmagic.profile("torchvision:shufflenet_v2_x1_0", device="meta"), cumulative=True)
    assert fields["stage2"] == (63, 8)
    assert fields["stage3"] == (303, 16)
    assert fields["stage4"] == (527, 32)
    # Swin's windows are reshapes the recursion cannot follow: after its patch embedding
    # (4x4 s4) nothing is known, and the model row says so rather than showing the stem's 4
    swin = fields_of(flopmagic.profile("torchvision:swin_t", device="meta"), cumulative=True)
    assert swin.get("features.0.0") == (4, 4)
    assert "" not in swin and "features" not in swin


def dilated_stack():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),  # r = 1 + 2*1 = 3, j 1
        torch.nn.Conv2d(2, 2, 3, dilation=2),  # k_eff = 2*2 + 1 = 5: r = 3 + 4*1 = 7
        torch.nn.Conv2d(2, 2, 3, stride=2),  # r = 7 + 2*1 = 9, j 2
        torch.nn.MaxPool2d(2),  # r = 9 + 1*2 = 11, j 4
        torch.nn.Conv2d(2, 1, 3, dilation=4),  # k_eff = 4*2 + 1 = 9: r = 11 + 8*4 = 43, j 4
    )


DILATED = {"0": (3, 1), "1": (7, 1), "2": (9, 2), "3": (11, 4), "4": (43, 4)}


def test_dilated_stack_by_hand():
    profile = flopmagic.profile(dilated_stack(), input_shape=(1, 1, 64, 64))
    assert fields_of(profile) == DILATED


def test_onnx_records_strides_and_dilations():
    f = TensorProto.FLOAT
    weights = [
        numpy_helper.from_array(np.full(shape, 0.5, dtype=np.float32), name)
        for name, shape in (("w0", [2, 1, 3, 3]), ("w1", [2, 2, 3, 3]), ("w2", [2, 2, 3, 3]), ("w4", [1, 2, 3, 3]))
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], kernel_shape=[3, 3]),
        helper.make_node("Conv", ["a", "w1"], ["b"], kernel_shape=[3, 3], dilations=[2, 2]),
        helper.make_node("Conv", ["b", "w2"], ["c"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("MaxPool", ["c"], ["d"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["d", "w4"], ["y"], kernel_shape=[3, 3], dilations=[4, 4]),
    ]
    graph = helper.make_graph(
        nodes,
        "dilated",
        [helper.make_tensor_value_info("x", f, [1, 1, 64, 64])],
        [helper.make_tensor_value_info("y", f, [1, 1, 6, 6])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    profile = flopmagic.profile(model)
    fields = [f for f in receptive_fields(profile.records) if f is not None]
    # the same stack as dilated_stack(): 3, 7, 9, 11, 43
    assert [(f.size_value(), f.jump_value()) for f in fields] == list(DILATED.values())


def test_transposed_conv_and_upsampling_give_fractional_jumps():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 1, 3, stride=2, padding=1),  # r 3, j 2
        torch.nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1),  # ceil(4/2) = 2 inputs: r = 3 + 1*2 = 5, j 1
        torch.nn.Upsample(scale_factor=2, mode="nearest"),  # r 5, j 1/2
        torch.nn.Conv2d(1, 1, 3, padding=1),  # r = 5 + 2 * 1/2 = 6, j 1/2
    )
    fields = fields_of(flopmagic.profile(model, input_shape=(1, 1, 16, 16)))
    assert fields["0"] == (3, 2)
    assert fields["1"] == (5, 1)
    assert fields["2"] == (5, 0.5)
    assert fields["3"] == (6, 0.5)


def test_unknown_geometry_is_none_not_a_guess():
    # a profile written before stride was recorded: the conv's field is unknown, not 1
    conv = OpRecord(
        "c", "conv", "Conv", "c", 0, 0, "formula", inputs=((1, 1, 8, 8), (1, 1, 3, 3)), outputs=((1, 1, 4, 4),)
    )
    assert receptive_fields([conv]) == (None,)
    with_stride = OpRecord(
        "c", "conv", "Conv", "c", 0, 0, "formula",
        inputs=((1, 1, 8, 8), (1, 1, 3, 3)), outputs=((1, 1, 3, 3),), attrs={"stride": (2, 3), "dilation": (1, 1)},
    )  # fmt: skip
    (field,) = receptive_fields([with_stride])
    assert field == ReceptiveField((Fraction(3), Fraction(3)), (Fraction(2), Fraction(3)))
    assert field.size_value() == 3 and field.jump_value() == "2x3"


def test_layer_table_column_is_opt_in(capsys):
    profile = flopmagic.profile(dilated_stack(), input_shape=(1, 1, 64, 64))
    assert "RF" not in Report([profile]).to_text()
    report = Report([profile], receptive_field=True)
    frame = report.to_pandas()
    # the first row is the Sequential itself, which runs no op of its own: no field ("")
    assert list(frame["RF"]) == ["", 3, 7, 9, 11, 43] and list(frame["Jump"]) == ["", 1, 1, 2, 4, 4]
    rows = profile.by_layer(receptive_field=True)
    assert rows[-1].receptive_field is not None and rows[-1].to_dict()["receptive_field"] == {
        "size": [43, 43],
        "jump": [4, 4],
    }
    assert "receptive_field" not in profile.by_layer()[-1].to_dict()


def test_cli_receptive_field(capsys):
    code = main(["profile", "torchvision:vgg16", "--device", "meta", "--receptive-field", "--format", "csv"])
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split(",")[0]: line.split(",") for line in out.splitlines()}
    header = lines["Layer"]
    assert header[4:6] == ["RF", "Jump"]
    assert lines["features.30"][4:6] == ["212", "32"]
    code = main(["profile", "torchvision:vgg16", "--device", "meta", "--receptive-field", "--by", "type"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--by layer" in err


@pytest.mark.parametrize("depth", [1, 2])
def test_depth_views_take_the_last_field_below(depth, capsys):
    profile = flopmagic.profile("torchvision:vgg16", device="meta")
    rows = {r.key: r for r in profile.by_scope(depth, receptive_field=True)}
    assert rows["features"].receptive_field is not None
    assert rows["features"].receptive_field.size_value() == 212
