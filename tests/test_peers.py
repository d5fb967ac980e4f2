"""The wrapped native counters, normalised into the schema with their convention stated."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import flopmagic


@pytest.fixture(scope="module")
def resnet50():
    return torchvision.models.resnet50().eval()


def test_fvcore_backend_reports_macs(resnet50):
    profile = flopmagic.profile(resnet50, input_shape=(1, 3, 224, 224), backend="fvcore")
    # fvcore's own total on this model (one fused multiply-add = one "flop"): 4,111,512,576
    assert profile.macs == 4_111_512_576
    assert profile.flops == 2 * profile.macs
    assert (profile.backend, profile.convention) == ("fvcore", "fvcore")
    assert any("are MACs" in note for note in profile.notes)
    # what fvcore skipped is listed, with counts: the max pool and the 16 residual adds
    assert profile.unsupported() == {"fvcore:aten::max_pool2d": 1, "fvcore:aten::add_": 16}
    by_type = {row.key: row.macs for row in profile.by_op_type()}
    assert by_type["conv"] == 4_087_136_256 and by_type["linear"] == 2_048_000  # 2048 * 1000
    # the exact counter under the fvcore preset gives the same number
    assert flopmagic.profile(resnet50, input_shape=(1, 3, 224, 224), convention="fvcore").macs == profile.macs


def test_flop_counter_mode_backend_reports_flops(resnet50):
    profile = flopmagic.profile(resnet50, input_shape=(1, 3, 224, 224), backend="torch")
    assert profile.flops == 8_178_368_512  # 2 x (4,087,136,256 conv + 2,048,000 linear) MACs
    assert profile.macs == profile.flops // 2
    assert profile.convention == "torch"
    layer1 = next(row for row in profile.by_scope(1) if row.key == "layer1")
    exact = next(
        row for row in flopmagic.profile(resnet50, input_shape=(1, 3, 224, 224)).by_scope(1) if row.key == "layer1"
    )
    assert layer1.macs == exact.macs  # per-module attribution survives normalisation


def test_flop_counter_mode_backend_training():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    profile = flopmagic.profile(model, input_shape=(2, 4), backend="torch", training=True)
    # forward 36 MACs + backward 48 MACs (see test_torch_adapter), 2 FLOPs each
    assert profile.flops == 2 * (36 + 48)
    assert all(p.grad is None for p in model.parameters())


def test_backend_framework_mismatch_is_explained():
    with pytest.raises(flopmagic.ProfilingError, match="backend 'tf-profiler' cannot count a torch model"):
        flopmagic.profile(nn.Linear(2, 2), input_shape=(1, 2), backend="tf-profiler")
    with pytest.raises(flopmagic.ProfilingError, match="unknown backend 'thop'"):
        flopmagic.profile(nn.Linear(2, 2), input_shape=(1, 2), backend="thop")


def test_fvcore_rejects_keyword_inputs():
    with pytest.raises(flopmagic.ProfilingError, match="positional inputs only"):
        flopmagic.profile(nn.Linear(2, 2), {"input": torch.zeros(1, 2)}, backend="fvcore")
