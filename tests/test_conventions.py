"""Conventions: presets reproduce the real tools' numbers on the same model.

Each preset is checked against the tool it imitates, run here on the same model
(fvcore, FlopCounterMode, thop, ptflops are installed in the test environment).
"""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
import torch
import torchvision
from torch import nn

import flopmagic
from flopmagic import ModelProfile, ProfilingError
from flopmagic.conventions import UnknownConventionError


def fvcore_count(model, x) -> int:
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analysis.total())


def flop_counter_mode_count(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def thop_count(model, x) -> int:
    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = profile(model, inputs=(x,), verbose=False)
    # thop leaves total_ops/total_params buffers behind on every module: drop them
    for module in model.modules():
        for name in ("total_ops", "total_params"):
            module._buffers.pop(name, None)
    return int(macs)


def ptflops_count(model, x) -> int:
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend="pytorch"
        )
    return int(macs)


TOOLS = {
    # preset name -> (quantity the tool reports, how to run the tool)
    "fvcore": ("macs", fvcore_count),
    "torch": ("flops", flop_counter_mode_count),
    "thop": ("macs", thop_count),
    "ptflops": ("macs", ptflops_count),
}


def _conv():
    return nn.Conv2d(3, 8, 3), (1, 3, 8, 8)


def _linear():
    return nn.Linear(16, 4), (1, 16)


# The reference example (shared/reference/tool-conventions.md): Conv2d(3->8, 3x3, bias) on 1x3x8x8
# (output 1x8x6x6) and Linear(16->4, bias) on 1x16. Pure MACs: conv 3*9 * 8*36 = 7,776 (+288 bias adds);
# linear 16*4 = 64 (+4 bias adds).
REFERENCE = {
    # preset: (conv, linear) in the quantity the tool reports
    "fvcore": (7_776, 64),  # MACs, no bias
    "torch": (15_552, 128),  # 2 x MACs, no bias
    "thop": (7_776, 64),  # MACs, no bias
    "ptflops": (7_776 + 288, 64 + 4),  # MACs + bias adds
    "tf-profiler": (15_552 + 288, 128 + 4),  # 2 x MACs, BiasAdd 1 per output
    "paper": (7_776, 64),
}


@pytest.mark.parametrize("preset", sorted(REFERENCE))
def test_reference_example(preset):
    conv_expected, linear_expected = REFERENCE[preset]
    convention = flopmagic.get_convention(preset)
    for (model, shape), expected in ((_conv(), conv_expected), (_linear(), linear_expected)):
        counted = flopmagic.profile(model.eval(), input_shape=shape, convention=preset)
        assert getattr(counted.totals, convention.reports) == expected
        if preset in TOOLS:
            _, run = TOOLS[preset]
            assert run(model, torch.randn(*shape)) == expected


MODELS = {
    "resnet50": lambda: torchvision.models.resnet50(),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "vit_b_16": lambda: torchvision.models.vit_b_16(),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_and_profile(request):
    torch.manual_seed(0)
    model = MODELS[request.param]().eval()
    x = torch.randn(1, 3, 224, 224)
    return request.param, model, x, flopmagic.profile(model, x)


@pytest.mark.parametrize("preset", sorted(TOOLS))
def test_presets_reproduce_the_tools(model_and_profile, preset):
    name, model, x, profile = model_and_profile
    quantity, run = TOOLS[preset]
    expected = run(model, x)
    assert getattr(profile.under(preset).totals, quantity) == expected, f"{preset} on {name}"


def test_published_numbers_of_the_tools_on_resnet50():
    profile = flopmagic.profile("torchvision:resnet50", device="meta")
    # shared/reference/tool-conventions.md, measured with each tool on torchvision resnet50 @224:
    assert profile.under("fvcore").macs == 4_111_512_576  # 4.1115 G
    assert profile.under("torch").flops == 8_178_368_512  # 2 x 4.0892 G
    assert profile.under("thop").macs == 4_133_742_592  # 4.1337 G
    assert profile.under("paper").macs == profile.macs == 4_089_184_256


def test_reexpress_without_running_the_model():
    model, shape = _conv()
    saved = flopmagic.profile(model, input_shape=shape).to_json()
    del model
    loaded = ModelProfile.from_json(saved)  # no model anywhere now
    assert loaded.under("fvcore").macs == 7_776
    assert loaded.under("torch").flops == 15_552
    assert loaded.under("flopmagic").flops == 2 * 7_776 + 288
    assert loaded.under("fvcore").under("flopmagic") == loaded.under("flopmagic")


def test_paper_counts_only_multiply_accumulates():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    profile = flopmagic.profile(model, input_shape=(1, 3, 8, 8))
    paper = profile.under("paper")
    assert paper.macs == profile.macs == 7_776
    assert paper.flops == 2 * 7_776  # no bias, norm, activation or pooling
    assert profile.flops > paper.flops


def test_unknown_convention_lists_the_known_ones():
    with pytest.raises(UnknownConventionError, match="unknown convention 'gflops'; choose one of: flopmagic"):
        flopmagic.profile(nn.Linear(2, 2), input_shape=(1, 2), convention="gflops")


def test_native_backend_profiles_cannot_be_repriced():
    profile = flopmagic.profile(nn.Linear(4, 2), input_shape=(1, 4), backend="torch")
    with pytest.raises(ValueError, match="re-profile with backend='flopmagic'"):
        profile.under("paper")
    with pytest.raises(ProfilingError, match="reports its own convention"):
        flopmagic.profile(nn.Linear(4, 2), input_shape=(1, 4), backend="torch", convention="paper")
