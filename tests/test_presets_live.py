"""Presets equal to their tools, each peer computed live in the same test.

Covers the preset differences of issue 17: FlopCounterMode's fused SDPA backward (five
matmuls) and meta-device SDPA, fvcore/ptflops on a written ``x.mean((2, 3), keepdim=True)``,
fvcore on nearest-exact and antialiased interpolation, ``aten.grid_sampler_2d``, and the
calflops and torchprofile presets against those tools.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import flopmagic  # noqa: E402
from flopmagic.conventions import get_convention  # noqa: E402
from flopmagic.formulas import OpSpec, price  # noqa: E402
from flopmagic.schema import OpRecord  # noqa: E402


def _fvcore(model: Any, inputs: tuple[Any, ...]) -> int:
    fvcore_nn = pytest.importorskip("fvcore.nn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def _ptflops(model: Any, shape: tuple[int, ...]) -> int:
    ptflops = pytest.importorskip("ptflops")
    macs, _ = ptflops.get_model_complexity_info(
        model, shape, as_strings=False, print_per_layer_stat=False, backend="pytorch"
    )
    return int(macs)


class _SqueezeExcite(nn.Module):  # type: ignore[misc]
    """timm's SEModule: the squeeze is a written ``x.mean((2, 3), keepdim=True)``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x: Any) -> Any:
        return x * self.fc(x.mean((2, 3), keepdim=True)).sigmoid()


class _Pools(nn.Module):  # type: ignore[misc]
    """A written mean, the pooling module and the pooling functional side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.se = _SqueezeExcite()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Any) -> Any:
        x = self.se(self.conv(x))
        return self.pool(x) + F.adaptive_avg_pool2d(x, 1)


def test_written_mean_is_not_pooling_under_fvcore_and_ptflops() -> None:
    model, x = _Pools().eval(), torch.randn(1, 3, 16, 16)
    assert flopmagic.profile(model, (x,), convention="fvcore").macs == _fvcore(model, (x,))
    assert flopmagic.profile(model, (x,), convention="ptflops").macs == _ptflops(model, (3, 16, 16))
    # the default convention still prices the written mean as global average pooling:
    # numel(input) = 8 * 14 * 14 = 1568 FLOPs, like the module and the functional
    pools = [r for r in flopmagic.profile(model, (x,)).records if r.op == "adaptive_avg_pool"]
    assert [r.flops for r in pools] == [1568, 1568, 1568]


class _Resizes(nn.Module):  # type: ignore[misc]
    def forward(self, x: Any) -> Any:
        return (
            F.interpolate(x, scale_factor=2, mode="nearest-exact")
            + F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
            + F.interpolate(x, scale_factor=2, mode="nearest")
            + F.interpolate(x, scale_factor=2, mode="bilinear")
        )


def test_fvcore_prices_only_nearest2d_and_bilinear2d() -> None:
    model, x = _Resizes(), torch.randn(1, 4, 8, 8)
    profile = flopmagic.profile(model, (x,), convention="fvcore")
    assert profile.macs == _fvcore(model, (x,))
    # output numel 4 * 16 * 16 = 1024: nearest 1 each, bilinear 4 each, the others 0
    assert profile.macs == 1024 + 4 * 1024


class _GridSample(nn.Module):  # type: ignore[misc]
    def forward(self, x: Any, grid: Any) -> Any:
        return F.grid_sample(x, grid, align_corners=False)


def test_grid_sampler_priced_and_fvcore_four_per_output() -> None:
    model = _GridSample()
    inputs = (torch.randn(1, 4, 8, 8), torch.rand(1, 5, 6, 2) * 2 - 1)
    default = flopmagic.profile(model, inputs)
    (record,) = [r for r in default.records if r.op == "grid_sample"]
    assert record.method == "formula"
    # output [1, 4, 5, 6] = 120 elements; bilinear: 3 lerps of 3 FLOPs = 9 each
    assert default.flops == 120 * 9
    # fvcore/nn/flop_count.py: "aten::grid_sampler": elementwise_flop_counter(0, 4)
    assert flopmagic.profile(model, inputs, convention="fvcore").macs == _fvcore(model, inputs) == 4 * 120
    # 3-D: [N, C, D, H, W] sampled at a [N, 2, 3, 4, 3] grid: 1*2*2*3*4 = 48 outputs, 7 lerps
    spec = OpSpec("grid_sample", ((1, 2, 4, 4, 4), (1, 2, 3, 4, 3)), ((1, 2, 2, 3, 4),), {"mode": "bilinear"})
    assert price(spec).flops == 48 * 21
    assert price(spec.with_attrs(mode="nearest")).flops == 0


def test_torch_preset_fused_sdpa_backward_recomputes_scores() -> None:
    flop_counter = pytest.importorskip("torch.utils.flop_counter")
    grad_out, q, k, v = (2, 4, 64, 32), (2, 4, 64, 32), (2, 4, 128, 32), (2, 4, 128, 32)
    for native in (
        "aten._scaled_dot_product_efficient_attention_backward.default",
        "aten._scaled_dot_product_flash_attention_backward.default",
    ):
        record = OpRecord(
            name="sdpa_bw",
            op="attention_backward",
            native=native,
            scope="",
            macs=0,
            flops=0,
            method="formula",
            inputs=(grad_out, q, k, v),
            phase="backward",
        )
        expected = flop_counter.sdpa_backward_flop_count(grad_out, q, k, v)
        assert get_convention("torch").price(record).flops == expected


class _Attention(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(32, 32)

    def forward(self, x: Any) -> Any:
        q = self.proj(x)
        return F.scaled_dot_product_attention(q, q, q)


def test_torch_preset_meta_training_sdpa_equals_flop_counter_mode() -> None:
    flop_counter = pytest.importorskip("torch.utils.flop_counter")
    shape = (2, 4, 64, 32)
    model = _Attention().to("meta")
    with flop_counter.FlopCounterMode(display=False) as mode:
        model(torch.randn(*shape, device="meta")).sum().backward()
    profile = flopmagic.profile(_Attention(), input_shape=shape, device="meta", training=True, convention="torch")
    assert profile.flops == mode.get_total_flops()


class _DropoutAttention(nn.Module):  # type: ignore[misc]
    def forward(self, q: Any, k: Any, v: Any) -> Any:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)


def test_fvcore_preset_documented_difference_on_sdpa_math_fallback() -> None:
    # docs/conventions.md: with dropout CPU SDPA runs its decomposed math path; fvcore sees one
    # unsupported op (0), the recorder sees the two bmm's and the preset prices them.
    model = _DropoutAttention()
    inputs = tuple(torch.randn(2, 4, 64, 32) for _ in range(3))
    assert _fvcore(model, inputs) == 0
    # Q K^T and P V: 2 x (2 * 4) x 64 x 64 x 32 = 2,097,152 MACs
    assert flopmagic.profile(model, inputs, convention="fvcore").macs == 2 * 8 * 64 * 64 * 32


# A small zoo (64x64 inputs keep it quick): timm models with squeeze-excite written as
# x.mean((2, 3), keepdim=True), and torchvision models; the bigger zoo is in the benchmark.
_ZOO = [
    ("timm", "seresnet18"),
    ("timm", "efficientnet_b0"),
    ("torchvision", "resnet18"),
    ("torchvision", "mobilenet_v2"),
]


def _zoo_model(source: str, name: str) -> Any:
    if source == "timm":
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False).eval()
    models = pytest.importorskip("torchvision.models")
    return getattr(models, name)(weights=None).eval()


@pytest.mark.parametrize(("source", "name"), _ZOO, ids=[n for _, n in _ZOO])
def test_presets_equal_their_tools_on_the_zoo(source: str, name: str) -> None:
    import copy

    flop_counter = pytest.importorskip("torch.utils.flop_counter")
    thop = pytest.importorskip("thop")
    model = _zoo_model(source, name)
    x = torch.randn(1, 3, 64, 64)
    profile = flopmagic.profile(model, (x,))
    with flop_counter.FlopCounterMode(display=False) as mode, torch.no_grad():
        model(x)
    assert profile.under("torch").flops == mode.get_total_flops()
    assert profile.under("fvcore").macs == _fvcore(model, (x,))
    assert profile.under("ptflops").macs == _ptflops(copy.deepcopy(model), (3, 64, 64))
    thop_macs, _ = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
    assert profile.under("thop").macs == int(thop_macs)


def test_ptflops_preset_documented_difference_on_linear_subclass() -> None:
    # docs/conventions.md: ptflops hooks by exact module type; timm.layers.Linear is a subclass
    model = _zoo_model("timm", "mobilenetv3_small_100")
    x = torch.randn(1, 3, 64, 64)
    preset = flopmagic.profile(model, (x,)).under("ptflops").macs
    # the classifier: 1024 x 1000 MACs + 1000 bias
    assert preset - _ptflops(model, (3, 64, 64)) == 1024 * 1000 + 1000


class _Block(nn.Module):  # type: ignore[misc]
    """A small pre-norm transformer block written with functional attention."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(32), nn.LayerNorm(32)
        self.qkv, self.proj = nn.Linear(32, 96), nn.Linear(32, 32)
        self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 32)

    def forward(self, x: Any) -> Any:
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, 32))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def _calflops_zoo(name: str) -> tuple[Any, Any]:
    if name == "block":
        return _Block().eval(), torch.randn(2, 16, 32)
    source = "timm" if name == "efficientnet_b0" else "torchvision"  # timm: SiLU, written-mean SE, x * se
    return _zoo_model(source, name), torch.randn(1, 3, 64, 64)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "efficientnet_b0", "block"])
def test_calflops_and_torchprofile_presets_equal_their_tools(name: str) -> None:
    import copy

    calflops = pytest.importorskip("calflops")
    torchprofile = pytest.importorskip("torchprofile")
    model, x = _calflops_zoo(name)
    profile = flopmagic.profile(model, (x,))
    flops, macs, _ = calflops.calculate_flops(
        copy.deepcopy(model), args=[x], print_results=False, print_detailed=False, output_as_string=False
    )
    assert (profile.under("calflops").flops, profile.under("calflops").macs) == (flops, macs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced_macs = torchprofile.profile_macs(copy.deepcopy(model), (x,))
    assert profile.under("torchprofile").macs == traced_macs
