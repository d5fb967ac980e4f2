"""Presets equal to their tools, each peer computed live in the same test.

Covers the preset differences of issue 17: FlopCounterMode's fused SDPA backward (five
matmuls) and meta-device SDPA, fvcore/ptflops on a written ``x.mean((2, 3), keepdim=True)``,
fvcore on nearest-exact and antialiased interpolation, ``aten.grid_sampler_2d``, the
calflops and torchprofile presets against those tools, every preset on CPU SDPA's fused
and math paths, and thop/ptflops on module subclasses (exact-type hooks).
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


class _Attention2(nn.Module):  # type: ignore[misc]
    """q/k/v projections, then F.scaled_dot_product_attention on the path ``trigger`` makes
    CPU take: ``fused`` (one kernel), or the decomposed math path for ``dropout`` (p = 0.1),
    ``vdim`` (value head dim 16, the query's 8) or ``noncontig`` (value's last dim strided)."""

    def __init__(self, trigger: str) -> None:
        super().__init__()
        self.trigger = trigger
        self.q, self.k = nn.Linear(32, 32), nn.Linear(32, 32)
        self.v = nn.Linear(32, 64 if trigger == "vdim" else 32)

    def forward(self, x: Any) -> Any:
        b, n, _ = x.shape
        q = self.q(x).reshape(b, n, 4, 8).transpose(1, 2)
        k = self.k(x).reshape(b, n, 4, 8).transpose(1, 2)
        v = self.v(x).reshape(b, n, 4, -1).transpose(1, 2)
        if self.trigger == "noncontig":
            v = v.transpose(-1, -2).contiguous().transpose(-1, -2)  # same values, last-dim stride n
        dropout = 0.1 if self.trigger == "dropout" else 0.0
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout).transpose(1, 2).reshape(b, n, -1)


@pytest.mark.parametrize("trigger", ["fused", "dropout", "vdim", "noncontig"])
def test_presets_equal_their_tools_on_sdpa_fused_and_math_paths(trigger: str) -> None:
    import copy

    flop_counter = pytest.importorskip("torch.utils.flop_counter")
    model, x = _Attention2(trigger).eval(), torch.randn(2, 64, 32)
    profile = flopmagic.profile(model, (x,))
    inside = [r for r in profile.records if r.within == "scaled_dot_product_attention"]
    natives = [r.native for r in inside]
    if trigger == "fused":
        assert natives == ["aten._scaled_dot_product_flash_attention_for_cpu.default"]
    else:  # the math path ran, and every op of it is marked
        assert natives.count("aten.bmm.default") == 2 and "aten._safe_softmax.default" in natives
    dv = 16 if trigger == "vdim" else 8
    # Q K^T and P V over (2 * 4) heads x 64 x 64: 8 * 64 * 64 * (8 + dv) MACs, either path
    assert sum(r.macs for r in inside) == 8 * 64 * 64 * (8 + dv)
    # fvcore: one aten::scaled_dot_product_attention node, unsupported (0), whatever path ran
    assert profile.under("fvcore").macs == _fvcore(model, (x,))
    # FlopCounterMode sees what the recorder sees (the fused CPU kernel: 0; the math path's bmm's)
    with flop_counter.FlopCounterMode(display=False) as mode, torch.no_grad():
        model(x)
    assert profile.under("torch").flops == mode.get_total_flops()
    # the default convention's MACs are the projections' and the attention's, unchanged by the mark:
    # projections 2 * 64 rows x 32 x (32 + 32 + 4 * dv) MACs
    assert profile.macs == 2 * 64 * 32 * (64 + 4 * dv) + 8 * 64 * 64 * (8 + dv)
    if trigger != "fused":
        assert profile.macs == mode.get_total_flops() // 2
    calflops = pytest.importorskip("calflops")
    torchprofile = pytest.importorskip("torchprofile")
    flops, macs, _ = calflops.calculate_flops(
        copy.deepcopy(model), args=[x], print_results=False, print_detailed=False, output_as_string=False
    )
    assert (profile.under("calflops").flops, profile.under("calflops").macs) == (flops, macs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert profile.under("torchprofile").macs == torchprofile.profile_macs(copy.deepcopy(model), (x,))


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


def _thop(model: Any, x: Any) -> int:
    thop = pytest.importorskip("thop")
    macs, _ = thop.profile(model, inputs=(x,), verbose=False)
    return int(macs)


def test_ptflops_and_thop_presets_equal_their_tools_on_timm_linear_subclass() -> None:
    import copy

    # thop and ptflops hook type(m) exactly: timm.layers.Linear (the classifier) is not nn.Linear
    model, x = _zoo_model("timm", "mobilenetv3_small_100"), torch.randn(1, 3, 64, 64)
    profile = flopmagic.profile(model, (x,))
    (classifier,) = [r for r in profile.records if r.scope == "classifier" and r.op == "linear"]
    assert (classifier.module_type, classifier.module_class) == ("Linear", "timm.layers.linear.Linear")
    assert profile.under("ptflops").macs == _ptflops(copy.deepcopy(model), (3, 64, 64))
    assert profile.under("thop").macs == _thop(copy.deepcopy(model), x)


class _MyLinear(nn.Linear):  # type: ignore[misc]
    pass


class _MyReLU(nn.ReLU):  # type: ignore[misc]
    pass


def test_ptflops_and_thop_presets_count_subclasses_as_the_tools_do() -> None:
    import copy

    # nn.Linear/nn.ReLU and their subclasses side by side: the subclasses have no module hook
    # (thop: 0; ptflops: 0 for the linear, numel for the patched F.relu the ReLU subclass calls)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), _MyLinear(32, 32), _MyReLU(), nn.Linear(32, 8)).eval()
    x = torch.randn(1, 16)  # ptflops runs one row (input_res (16,))
    profile = flopmagic.profile(model, (x,))
    classes = {"0": "Linear", "1": "ReLU", "2": "_MyLinear", "3": "_MyReLU", "4": "Linear"}
    assert {r.scope: r.module_class.rsplit(".", 1)[1] for r in profile.records if r.scope} == classes
    assert {layer.scope: layer.module_class for layer in profile.layers if layer.scope} == {
        scope: f"{'torch.nn.modules.linear' if 'Linear' in name else 'torch.nn.modules.activation'}.{name}"
        if not name.startswith("_")
        else f"{__name__}.{name}"
        for scope, name in classes.items()
    }
    ptflops = _ptflops(copy.deepcopy(model), (16,))
    thop = _thop(copy.deepcopy(model), x)
    assert profile.under("ptflops").macs == ptflops
    assert profile.under("thop").macs == thop
    # ptflops: Linear (16 x 32 + 32) + ReLU 32 + its F.relu 32 + the subclass's F.relu 32 + Linear (32 x 8 + 8)
    assert ptflops == 16 * 32 + 32 + 32 + 32 + 32 + 32 * 8 + 8
    # thop: the two nn.Linear's MACs only (ReLU counts 0)
    assert thop == 16 * 32 + 32 * 8


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


def _conv_batch_norm_linear() -> tuple[Any, Any]:
    """One sample (ptflops divides module counts by the batch size, not its functionals'),
    with a length for the batch norm's statistics in training."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(4, 16, 3), nn.BatchNorm1d(16), nn.ReLU(), nn.Flatten(), nn.Linear(96, 4))
    return model, torch.randn(1, 4, 8)


def _forward_live(tool: str, model: Any, x: Any) -> tuple[int, ...]:
    """The tool's own count of one forward of ``model`` (in train mode, as a training profile
    runs it): MACs, and for calflops (FLOPs, MACs)."""
    if tool == "thop":
        return (_thop(model, x),)  # thop.profile runs the model in eval (its counts here do not depend on it)
    if tool == "ptflops":
        ptflops = pytest.importorskip("ptflops")
        macs, _ = ptflops.get_model_complexity_info(
            model,
            (4, 8),
            input_constructor=lambda _: x,
            as_strings=False,
            print_per_layer_stat=False,
            backend="pytorch",
        )
        return (int(macs),)
    if tool == "torchprofile":
        torchprofile = pytest.importorskip("torchprofile")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (int(torchprofile.profile_macs(model, (x,))),)
    # calflops' calculate_flops calls model.eval() first; its pipeline counts the forward as run
    # (batch norm in training: numel x 5), with include_backPropagation=False (its default)
    pipeline = pytest.importorskip("calflops.calculate_pipline")
    counter = pipeline.CalFlopsPipline(model=model, include_backPropagation=False, compute_bp_factor=2.0)
    counter.start_flops_calculate(ignore_list=None)
    try:
        model(x)
        return (int(counter.get_total_flops()), int(counter.get_total_macs()))
    finally:
        counter.end_flops_calculate()


@pytest.mark.parametrize("tool", ["thop", "ptflops", "calflops", "torchprofile"])
def test_forward_only_presets_count_the_forward_of_a_training_profile(tool: str) -> None:
    import copy

    model, x = _conv_batch_norm_linear()
    profile = flopmagic.profile(copy.deepcopy(model), (x,), training=True)
    backward = [r for r in profile.records if r.phase == "backward"]
    # the backward is recorded and priced by the default convention (the weights' gradients)
    assert sum(r.macs for r in backward) > 0
    preset = profile.under(tool)
    assert [r for r in preset.records if r.phase == "backward" and (r.macs or r.flops)] == []
    live = _forward_live(tool, copy.deepcopy(model).train(), x)
    assert ((preset.flops, preset.macs) if tool == "calflops" else (preset.macs,)) == live
    if tool == "thop":
        # Conv1d(4, 16, 3) on length 8: 16 x 6 outputs x 4*3 = 1,152 MACs; Linear(96, 4): 384;
        # BatchNorm1d(16) on 96 elements: 2 x 96, doubled (affine) = 384; ReLU 0
        assert live == (1_152 + 384 + 384,)
