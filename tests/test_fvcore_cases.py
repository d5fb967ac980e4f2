"""The ``fvcore`` preset on the shapes and modules of fvcore's own tests.

Cases written afresh after facebookresearch/fvcore ``tests/test_flop_count.py``
(``TestFlopCountAnalysis``, ``TestFlopCountHandles``) and ``tests/test_jit_model_analysis.py``
(``TestJitModelAnalysis``, the flop-count cases); each case names the original it follows.
``FlopCountAnalysis`` is computed live in the same test. fvcore counts one multiply-add as one
"flop", so its numbers are compared with the preset's MACs. Where the original asserts a
hand-derived number, flopmagic's default convention is held to the same derivation too (its
MACs are the dot-product multiply-accumulates; its FLOPs add bias, norms and the rest).

The last sections hold fvcore's handle rules (fvcore/nn/jit_handles.py, flop_count.py
``_DEFAULT_SUPPORTED_OPS``) on inputs the recorder sees differently from a JIT trace, and the
cases the preset does not reproduce, each with its reason (docs/conventions.md).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
fvcore_nn = pytest.importorskip("fvcore.nn")
nn = torch.nn
F = torch.nn.functional

import flopmagic  # noqa: E402
from flopmagic.formulas import Cost  # noqa: E402
from torch_models import Op  # noqa: E402


def _analysis(model: Any, inputs: tuple[Any, ...], ancestor_mode: str = "owner", **handles: Any) -> Any:
    """fvcore's FlopCountAnalysis on the model as given (its train/eval mode is the caller's),
    under ``torch.no_grad()`` as flopmagic runs an inference profile (and as its fvcore
    backend calls fvcore): that decides whether PyTorch's fused attention kernels run."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, inputs).ancestor_mode(ancestor_mode)
        if handles:
            analysis.set_op_handle(**handles)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        analysis.total()  # run the trace here, under the filter
    return analysis


def _fvcore_total(analysis: Any) -> int:
    total = analysis.total()
    assert total == int(total)  # einsum's handle returns a float; it must be whole
    return int(total)


def _fvcore(model: Any, inputs: tuple[Any, ...]) -> int:
    return _fvcore_total(_analysis(model, inputs))


def _by_module(analysis: Any) -> dict[str, int]:
    """fvcore's per-module totals, without the modules it reports as never called."""
    uncalled = analysis.uncalled_modules()
    return {name: int(count) for name, count in analysis.by_module().items() if name not in uncalled}


def _by_scope(profile: Any) -> dict[str, int]:
    return {row.key: row.macs for row in profile.by_scope()}


def _preset_equals_fvcore(model: Any, inputs: tuple[Any, ...]) -> Any:
    """Profile an eval-mode model (flopmagic's inference mode) and hold the preset to fvcore
    on the same model. Returns the default-convention profile."""
    model.eval()
    profile = flopmagic.profile(model, inputs)
    assert profile.under("fvcore").macs == _fvcore(model, inputs)
    return profile


# -- tests/test_flop_count.py: TestFlopCountAnalysis ---------------------------------------


@pytest.mark.parametrize(
    ("in_features", "out_features", "shape", "macs"),
    [
        (8, 4, (5, 8), 5 * 8 * 4),  # test_nn: nn.Linear(8, 4) on a (5, 8) batch
        (10, 20, (5, 10), 5 * 10 * 20),  # test_linear: LinearNet(10, 20)
        (10, 20, (5, 5, 10), 5 * 10 * 5 * 20),  # test_linear, #input_dims > 2 (aten::linear)
    ],
    ids=["test_nn", "test_linear", "test_linear_3d"],
)
def test_linear(in_features: int, out_features: int, shape: tuple[int, ...], macs: int) -> None:
    linear = nn.Linear(in_features, out_features)
    profile = _preset_equals_fvcore(linear, (torch.randn(*shape),))
    assert profile.under("fvcore").macs == macs
    # default: the same MACs; FLOPs 2 per MAC + 1 bias add per output (numel(x) / in * out)
    outputs = macs // in_features
    assert (profile.macs, profile.flops) == (macs, 2 * macs + outputs)


# test_conv: (conv_dim, batch, in, out, spatial, kernel, padding, stride, groups, transpose, output_padding)
_CONV_CASES = [
    (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),  # 2d convolution
    (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0),  # 2d with a change in spatial dims
    (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0),  # group convolution
    (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0),  # groups = output_dim ("depthwise")
    (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),  # 1d convolution
    (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),  # 3d convolution
    (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0),  # transposed 2d
    (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0),  # strided transposed 2d
    (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2),  # strided transposed 2d with output_padding
]


@pytest.mark.parametrize(
    ("dim", "batch", "c_in", "c_out", "size", "k", "pad", "stride", "groups", "transpose", "out_pad"),
    _CONV_CASES,
    ids=["2d", "2d_strided", "grouped", "depthwise", "1d", "3d", "transposed", "transposed_strided", "output_padding"],
)
def test_conv(
    dim: int,
    batch: int,
    c_in: int,
    c_out: int,
    size: int,
    k: int,
    pad: int,
    stride: int,
    groups: int,
    transpose: bool,
    out_pad: int,
) -> None:
    if transpose:
        layer = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dim - 1]
        conv = layer(c_in, c_out, k, stride, pad, groups=groups, output_padding=out_pad)
        out = (size - 1) * stride - 2 * pad + k + out_pad
    else:
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1](c_in, c_out, k, stride, pad, groups=groups)
        out = (size + 2 * pad - k) // stride + 1
    profile = _preset_equals_fvcore(conv, (torch.randn(batch, c_in, *[size] * dim),))
    # the original's derivation: batch * in * out * k^d * spatial^d / groups, where spatial is
    # the output size, or the input size for a transposed convolution (each input element is
    # scattered through the kernel)
    spatial = size if transpose else out
    macs = batch * c_in * c_out * k**dim * spatial**dim // groups
    assert profile.under("fvcore").macs == profile.macs == macs
    # default FLOPs: 2 per MAC + 1 bias add per output element
    assert profile.flops == 2 * macs + batch * c_out * out**dim


_MATMUL_CASES = [
    # test_matmul: m, n, p = 20, 10, 100
    ((20, 10), (10, 100), 20 * 10 * 100),
    # test_matmul_broadcast, its four shape pairs
    ((1, 20, 10), (1, 10, 100), 20 * 10 * 100),
    ((2, 2, 20, 10), (2, 2, 10, 100), 4 * 20 * 10 * 100),
    ((1, 20, 10), (10, 100), 20 * 10 * 100),
    ((2, 20, 10), (10, 100), 2 * 20 * 10 * 100),
]


@pytest.mark.parametrize(
    ("a", "b", "macs"), _MATMUL_CASES, ids=["matmul", "batch1", "batch2x2", "batch1_by_2d", "batch2_by_2d"]
)
def test_matmul(a: tuple[int, ...], b: tuple[int, ...], macs: int) -> None:
    profile = _preset_equals_fvcore(Op(torch.matmul), (torch.randn(*a), torch.randn(*b)))
    assert profile.under("fvcore").macs == profile.macs == macs
    assert profile.flops == 2 * macs  # no bias


def test_bmm() -> None:
    # test_bmm: n, c, t, p = 2, 5, 2, 12; nct,ntp->ncp: n * t * p * c MACs
    profile = _preset_equals_fvcore(Op(torch.bmm), (torch.randn(2, 5, 2), torch.randn(2, 2, 12)))
    assert profile.under("fvcore").macs == profile.macs == 2 * 2 * 12 * 5


@pytest.mark.parametrize(
    ("equation", "a", "b", "macs"),
    [
        ("nct,ncp->ntp", (1, 5, 2), (1, 5, 12), 1 * 2 * 12 * 5),  # test_einsum, n * t * p * c
        ("ntg,ncg->nct", (1, 2, 6), (1, 5, 6), 1 * 2 * 6 * 5),  # test_einsum, n * t * g * c
        # TestFlopCountHandles.test_complicated_einsum: fvcore's 72 = numpy's optimal path;
        # default: one MAC per point of the joint space n, c, h, w = 3 * 4 * 2 * 3
        ("nc,nchw->hw", (3, 4), (3, 4, 2, 3), 3 * 4 * 2 * 3),
    ],
    ids=["nct_ncp", "ntg_ncg", "complicated"],
)
def test_einsum(equation: str, a: tuple[int, ...], b: tuple[int, ...], macs: int) -> None:
    model = Op(lambda x, y: torch.einsum(equation, x, y))
    profile = _preset_equals_fvcore(model, (torch.randn(*a), torch.randn(*b)))
    assert profile.under("fvcore").macs == profile.macs == macs


def test_batchnorm_eval_without_affine() -> None:
    # test_batchnorm, BatchNorm1d(10, affine=False).eval() on (10, 10): fvcore numel x 1
    profile = _preset_equals_fvcore(nn.BatchNorm1d(10, affine=False), (torch.randn(10, 10),))
    assert profile.under("fvcore").macs == 10 * 10
    # default: 2 per element (folded scale and shift) + 3 per channel to fold
    assert profile.flops == 2 * 100 + 3 * 10


class _TrainModeBatchNorm(nn.Module):  # type: ignore[misc]
    """A batch norm without affine parameters in training mode, as the original's
    ``nn.BatchNorm2d(10, affine=False)`` runs when left in train mode: ``aten::batch_norm``
    with ``training=True``. flopmagic's inference profile puts modules in eval mode, and a
    training profile needs a parameter to differentiate, so the call is written out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Any) -> Any:
        return F.batch_norm(x, self.running_mean, self.running_var, training=True)


@pytest.mark.parametrize("spatial", [(5, 5), (5, 5, 5)], ids=["2d", "3d"])
def test_batchnorm_training_without_affine(spatial: tuple[int, ...]) -> None:
    # test_batchnorm, BatchNorm2d/3d(10, affine=False) in train mode on (10, 10, 5, 5[, 5]):
    # fvcore 4 x numel (norm_flop_counter without affine)
    x = torch.randn(10, 10, *spatial)
    model = _TrainModeBatchNorm(10)
    profile = flopmagic.profile(model, (x,))
    assert profile.under("fvcore").macs == _fvcore(model, (x,)) == 4 * x.numel()
    # default training batch norm: 5 per element + (4 + 7) per channel (statistics, running update)
    assert profile.flops == 5 * x.numel() + 11 * 10


def test_batchnorm_module_in_train_mode_forward_only() -> None:
    # test_batchnorm's train-mode module with affine parameters, profiled with training=True:
    # fvcore traces the train-mode forward only (numel x 5 for the norm, the linear's MACs);
    # the preset leaves the measured backward (here its two matmuls) out. Before that it
    # counted the backward's grad-input matmul too (1,000 vs fvcore's 600).
    model = nn.Sequential(nn.Linear(10, 10), nn.BatchNorm1d(10)).train()
    x = torch.randn(4, 10)
    fvcore_macs = _fvcore(model, (x,))
    assert fvcore_macs == 4 * 10 * 10 + 5 * 4 * 10
    assert flopmagic.profile(model, (x,), training=True).under("fvcore").macs == fvcore_macs


class _ThreeNet(nn.Module):  # type: ignore[misc]
    """fvcore's ThreeNet: a 1x1 convolution, adaptive average pooling, two linears."""

    def __init__(self, input_dim: int, conv_dim: int, linear_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(input_dim, conv_dim, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear1 = nn.Linear(conv_dim, linear_dim)
        self.linear2 = nn.Linear(linear_dim, 1)

    def forward(self, x: Any) -> Any:
        return self.linear2(self.linear1(torch.flatten(self.pool(self.conv(x)), 1)))


def test_three_net_by_module() -> None:
    # test_threeNet and test_flop_counter_class: batch 4, input_dim 2, conv_dim 5, spatial 10,
    # linear_dim 3; by_module: conv 4 * 5 * 2 * 10 * 10 = 4000, pool numel(conv output)
    # = conv // input_dim = 2000, linear1 4 * 5 * 3 = 60, linear2 4 * 3 * 1 = 12
    model, x = _ThreeNet(2, 5, 3).eval(), torch.randn(4, 2, 10, 10)
    expected = {"": 6072, "conv": 4000, "pool": 2000, "linear1": 60, "linear2": 12}
    profile = flopmagic.profile(model, (x,))
    assert _by_scope(profile.under("fvcore")) == _by_module(_analysis(model, (x,))) == expected
    # default: the same MACs; global pooling costs numel(x) = 2000 FLOPs (no MACs)
    assert _by_scope(profile) == {**expected, "": 4072, "pool": 0}
    (pool,) = [row for row in profile.by_scope() if row.key == "pool"]
    assert pool.flops == 4 * 5 * 10 * 10


class _CustomNet(nn.Module):  # type: ignore[misc]
    """fvcore's CustomNet: a linear (named ``conv`` in the original) and a sigmoid."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.conv = nn.Linear(input_dim, output_dim)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: Any) -> Any:
        return self.sigmoid(self.conv(x))


def test_skip_ops() -> None:
    # test_skip_ops: CustomNet(5, 4) on (10, 5); fvcore skips aten::sigmoid (no handle)
    model, x = _CustomNet(5, 4).eval(), torch.rand(10, 5)
    analysis = _analysis(model, (x,))
    assert dict(analysis.unsupported_ops()) == {"aten::sigmoid": 1}
    profile = _preset_equals_fvcore(model, (x,))
    (sigmoid,) = [r for r in profile.records if r.op == "sigmoid"]
    # the preset prices the sigmoid at 0 like fvcore; the default has a formula for it
    # (4 per element: 10 * 4 outputs), so flopmagic lists no unsupported op
    assert [r.macs for r in profile.under("fvcore").records if r.op == "sigmoid"] == [0]
    assert sigmoid.flops == 4 * 10 * 4
    assert profile.unsupported() == {}
    assert profile.under("fvcore").macs == 10 * 5 * 4


def test_customized_ops() -> None:
    # test_customized_ops: a new handle for aten::sigmoid (10000), then one replacing the
    # linear's handle (400000). flopmagic's equivalent is an override by canonical op name,
    # which keeps its value under every convention.
    model, x = _CustomNet(5, 4).eval(), torch.rand(10, 5)
    sigmoid = _analysis(model, (x,), **{"aten::sigmoid": lambda inputs, outputs: 10000})
    profile = flopmagic.profile(model, (x,), overrides={"sigmoid": lambda spec: Cost(macs=10000, flops=10000)})
    assert profile.under("fvcore").macs == _fvcore_total(sigmoid) == 10 * 5 * 4 + 10000
    linear = _analysis(model, (x,), **{"aten::linear": lambda inputs, outputs: 400000})
    profile = flopmagic.profile(model, (x,), overrides={"linear": lambda spec: Cost(macs=400000, flops=800000)})
    assert profile.under("fvcore").macs == _fvcore_total(linear) == 400000


class _IdentityFunction(torch.autograd.Function):  # type: ignore[misc]
    """fvcore's _CustomOp: an autograd Function whose forward returns its input."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        return torch.ones_like(grad)


def test_autograd_function() -> None:
    # test_autograd_function: fvcore sees one prim::PythonOp, 0 without a handle (42 with
    # the original's); the recorder sees what its forward runs: nothing to price
    model, x = Op(_IdentityFunction.apply), torch.rand(4, 5)
    assert _preset_equals_fvcore(model, (x,)).under("fvcore").macs == 0
    handled = _analysis(model, (x,), **{"prim::PythonOp._IdentityFunction": lambda *args, **kwargs: 42})
    assert _fvcore_total(handled) == 42


# -- tests/test_flop_count.py: TestFlopCountHandles ----------------------------------------


_HANDLE_CASES = [
    # (name, call, fvcore's number in the original, the default convention's FLOPs)
    # test_batch_norm: (2, 2, 2, 2) input = 16 elements, 2 channels. Default batch norm:
    # eval 2 per element + 5 per channel to fold (3 without affine); training 5 per element
    # (+ 2 if affine) + 11 per channel
    ("batch_norm_eval_affine", lambda x, v: F.batch_norm(x, v, v, v, v), 16 * 2, 2 * 16 + 5 * 2),
    ("batch_norm_eval", lambda x, v: F.batch_norm(x, v, v, None, None), 16 * 1, 2 * 16 + 3 * 2),
    (
        "batch_norm_training_affine",
        lambda x, v: F.batch_norm(x, v.clone(), v.clone(), v, v, True),
        16 * 5,
        7 * 16 + 11 * 2,
    ),
    # test_group_norm: 2 groups; fvcore's norm_flop_counter: 16 x 5 with affine, 16 x 4 without.
    # Default: 5 per element (+ 2 if affine) + 4 per (sample, group) = 4 groups in all
    ("group_norm_affine", lambda x, v: F.group_norm(x, 2, v, v), 16 * 5, 7 * 16 + 4 * 4),
    ("group_norm", lambda x, v: F.group_norm(x, 2), 16 * 4, 5 * 16 + 4 * 4),
    # test_upsample: bilinear x2 to (2, 2, 4, 4): fvcore 4 per output = 2**4 * 4 * 4; default:
    # 64 outputs x 3 lerps of 3 FLOPs
    ("upsample_bilinear", lambda x, v: F.interpolate(x, None, 2, "bilinear", False), 2**4 * 4 * 4, 64 * 9),
]


@pytest.mark.parametrize(("name", "fn", "expected", "default_flops"), _HANDLE_CASES, ids=[c[0] for c in _HANDLE_CASES])
def test_handles(name: str, fn: Any, expected: int, default_flops: int) -> None:
    x, vec = torch.rand(2, 2, 2, 2), torch.rand(2)
    model = Op(lambda x: fn(x, vec))
    profile = _preset_equals_fvcore(model, (x,))
    assert profile.under("fvcore").macs == expected
    assert profile.flops == default_flops


@pytest.mark.parametrize("fn", [torch.mm, torch.matmul], ids=["mm", "matmul"])
def test_torch_mm(fn: Any) -> None:
    # test_torch_mm: aten::mm and aten::matmul on (3, 4) @ (4, 5): 3 * 4 * 5 = 60 MACs
    profile = _preset_equals_fvcore(Op(fn), (torch.rand(3, 4), torch.rand(4, 5)))
    assert profile.under("fvcore").macs == profile.macs == 60


# -- tests/test_jit_model_analysis.py: TestJitModelAnalysis --------------------------------


class _NestedNetInner(nn.Module):  # type: ignore[misc]
    """NestedNetInnerModule: Conv1d(2, 2, 1) on (-1, 2, 5), Linear(10, 10), 3 * fc + 1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x: Any) -> Any:
        return 3 * self.fc(torch.flatten(self.conv(x.reshape(-1, 2, 5)), 1)) + 1


class _NestedNet(nn.Module):  # type: ignore[misc]
    """NestedNet: Conv1d(4, 4, 3, padding=1) on (1, 4, 5), Linear(20, 10), the inner module, ** 2."""

    def __init__(self) -> None:
        super().__init__()
        self.submod = _NestedNetInner()
        self.fc = nn.Linear(20, 10)
        self.conv = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x: Any) -> Any:
        return self.submod(self.fc(torch.flatten(self.conv(x), 1))) ** 2


# NestedNet's own flops table: conv 5 positions * 3 * 4 * 4 = 240, fc 20 * 10 = 200,
# submod.conv 5 * 1 * 2 * 2 = 20, submod.fc 10 * 10 = 100
_NESTED = {"": 560, "conv": 240, "fc": 200, "submod": 120, "submod.conv": 20, "submod.fc": 100}


def test_nested_net_by_module() -> None:
    # test_total, test_by_module, test_by_module_and_operator
    model, x = _NestedNet().eval(), torch.randn(1, 4, 5)
    profile = flopmagic.profile(model, (x,))
    assert _by_scope(profile.under("fvcore")) == _by_module(_analysis(model, (x,))) == _NESTED
    assert _by_scope(profile) == _NESTED  # the default's MACs per module: the same derivation


def test_unsupported_ops_are_priced_by_default() -> None:
    # test_unsupported_ops: fvcore skips NestedNet's aten::mul and aten::add (3 * fc + 1) and
    # aten::pow (** 2); the preset prices them 0, the default 1 per element each (10 outputs)
    model, x = _NestedNet().eval(), torch.randn(1, 4, 5)
    assert dict(_analysis(model, (x,)).unsupported_ops()) == {"aten::mul": 1, "aten::add": 1, "aten::pow": 1}
    profile = _preset_equals_fvcore(model, (x,))
    elementwise = [r for r in profile.records if r.op in ("mul", "add", "pow")]
    assert [r.flops for r in elementwise] == [10, 10, 10]
    assert [r.macs for r in profile.under("fvcore").records if r.op in ("mul", "add", "pow")] == [0, 0, 0]


def test_changing_handles() -> None:
    # test_changing_handles: the linear's handle replaced by one returning 1000 per call;
    # the same as a flopmagic override: fc and submod.fc 1000 each, the convolutions unchanged
    model, x = _NestedNet().eval(), torch.randn(1, 4, 5)
    handled = _analysis(model, (x,), **{"aten::linear": lambda inputs, outputs: 1000})
    profile = flopmagic.profile(model, (x,), overrides={"linear": lambda spec: Cost(macs=1000, flops=2000)})
    expected = {"": 2260, "conv": 240, "fc": 1000, "submod": 1020, "submod.conv": 20, "submod.fc": 1000}
    assert _by_scope(profile.under("fvcore")) == _by_module(handled) == expected


class _UnusedNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(10, 10), nn.Linear(10, 1)
        self.unused = nn.Linear(20, 20)
        self.act = nn.ReLU()

    def forward(self, x: Any) -> Any:
        return self.fc2(self.act(self.fc1(x)))


def test_unused_module() -> None:
    # test_unused_module: fc1 10 * 10 + fc2 10 * 1 = 110; "unused" is never called: 0 and
    # listed by fvcore as uncalled, absent from flopmagic's scopes (ReLU ran: a 0 row)
    model, x = _UnusedNet().eval(), torch.randn(1, 10)
    analysis = _analysis(model, (x,))
    assert analysis.uncalled_modules() == {"unused"}
    assert analysis.total("unused") == 0
    scopes = _by_scope(flopmagic.profile(model, (x,)).under("fvcore"))
    assert scopes == _by_module(analysis) == {"": 110, "fc1": 100, "act": 0, "fc2": 10}


class _RepeatedNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(10, 10), nn.Linear(10, 10)

    def forward(self, x: Any) -> Any:
        for _ in range(3):
            x = self.fc1(x)
        for _ in range(2):
            x = self.fc2(x)
        return x


class _NonForwardInner(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x: Any) -> Any:
        return x

    def other_func(self, x: Any) -> Any:
        return self.fc(x)


class _NonForwardNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.submod = _NonForwardInner()
        self.fc = nn.Linear(10, 10)

    def forward(self, x: Any) -> Any:
        return self.submod.other_func(self.fc(x))


class _SharedInner(nn.Module):  # type: ignore[misc]
    def __init__(self, submod: Any) -> None:
        super().__init__()
        self.submod = submod

    def forward(self, x: Any) -> Any:
        return self.submod(x)


class _SharedModuleNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        inner = nn.Linear(10, 10)
        self.submod1, self.submod2 = _SharedInner(inner), _SharedInner(inner)
        multiname = nn.Linear(10, 1)
        self.multiname1, self.multiname2 = multiname, multiname

    def forward(self, x: Any) -> Any:
        x = self.submod1(x) + self.submod2(x)
        return self.multiname1(x) + self.multiname2(x)


class _RecursiveScopeNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x: Any, count: int = 3) -> Any:
        if count > 0:
            return self(x, count - 1)
        return self.fc(x)


class _ModuleListNet(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.submod = nn.ModuleList([nn.Linear(3, 3)])

    def forward(self, x: Any) -> Any:
        return self.submod[0](x) + 1


_SCOPE_CASES = [
    # test_repeated_module: fc1 called 3 times (3 * 100), fc2 twice (2 * 100)
    ("repeated", _RepeatedNet, (1, 10), {"": 500, "fc1": 300, "fc2": 200}),
    # test_non_forward_func_call (fvcore's default ancestor_mode "owner"): fc 100, submod.fc 10
    ("non_forward", _NonForwardNet, (1, 10), {"": 110, "fc": 100, "submod": 10, "submod.fc": 10}),
    # test_copy: the copy's new model and inputs, NonForwardNet at batch 5: 5 * 110
    ("non_forward_batch5", _NonForwardNet, (5, 10), {"": 550, "fc": 500, "submod": 50, "submod.fc": 50}),
    # test_shared_module: the shared linear under its first name, twice (2 * 100), and the
    # twice-named linear under its first name (2 * 10); submod2 keeps its own 0 row
    (
        "shared",
        _SharedModuleNet,
        (1, 10),
        {"": 220, "submod1": 200, "submod1.submod": 200, "submod2": 0, "multiname1": 20},
    ),
    # test_recursive_scope: the op counted once although the module's scope nests 4 times
    ("recursive", _RecursiveScopeNet, (1, 10), {"": 10, "fc": 10}),
    # test_skip_uncalled_containers_warnings: a ModuleList's member called by index: 3 * 3
    ("module_list", _ModuleListNet, (1, 3), {"": 9, "submod": 9, "submod.0": 9}),
]


@pytest.mark.parametrize(("name", "make", "shape", "expected"), _SCOPE_CASES, ids=[c[0] for c in _SCOPE_CASES])
def test_scopes(name: str, make: Any, shape: tuple[int, ...], expected: dict[str, int]) -> None:
    model, x = make().eval(), torch.randn(*shape)
    profile = flopmagic.profile(model, (x,))
    analysis = _analysis(model, (x,))
    assert analysis.uncalled_modules() == set()
    assert _by_scope(profile.under("fvcore")) == _by_module(analysis) == expected
    assert _by_scope(profile) == expected  # default MACs: the same


def test_non_forward_caller_mode() -> None:
    # test_non_forward_func_call with ancestor_mode("caller"): fvcore then books submod.fc
    # under the root, not under submod (never called itself). flopmagic's scopes are the
    # module paths, fvcore's default "owner" mode
    model, x = _NonForwardNet().eval(), torch.randn(1, 10)
    caller = _analysis(model, (x,), ancestor_mode="caller")
    assert caller.total("submod") == 0 and caller.total("submod.fc") == 10
    assert _by_scope(flopmagic.profile(model, (x,)).under("fvcore"))["submod"] == 10


@pytest.mark.parametrize("inner", ["nested", "linear"])
def test_data_parallel(inner: str) -> None:
    # test_data_parallel (NestedNet, scopes under "module.") and test_data_parallel_root_scope
    # (DataParallel(nn.Linear(10, 10)) on (10, 10): 1000)
    if inner == "nested":
        model, x = nn.DataParallel(_NestedNet()).cpu().eval(), torch.randn(1, 4, 5)
        expected = {"": 560, **{"module" + ("." if k else "") + k: v for k, v in _NESTED.items()}}
    else:
        model, x = nn.DataParallel(nn.Linear(10, 10)).cpu().eval(), torch.randn(10, 10)
        expected = {"": 1000, "module": 1000}
    profile = flopmagic.profile(model, (x,))
    assert _by_scope(profile.under("fvcore")) == _by_module(_analysis(model, (x,))) == expected
    # DataParallel.forward opens a profiler range (record_function): bookkeeping, not an
    # unsupported op
    assert profile.unsupported() == {}


# -- fvcore's handle rules where the recorder sees the op differently from a JIT trace ------


class _Attention(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x: Any) -> Any:
        return self.attn(x, x, x, need_weights=False)[0]


_RULE_CASES = [
    # matmul-family ops without a handle in fvcore: 0 (aten::baddbmm, addbmm, mv, dot)
    ("baddbmm", Op(torch.baddbmm), [(3, 4, 6), (3, 4, 5), (3, 5, 6)], 0),
    ("addbmm", Op(torch.addbmm), [(4, 6), (3, 4, 5), (3, 5, 6)], 0),
    ("mv", Op(torch.mv), [(4, 5), (5,)], 0),
    ("dot", Op(torch.dot), [(5,), (5,)], 0),
    # whole-sequence recurrent modules: one aten::rnn_tanh / gru / lstm node, no handle (0);
    # the cells are traced through to their linears: 2 * (4 + 8) * 4 * 8 = 768 for LSTMCell
    ("rnn", nn.RNN(4, 8), [(3, 2, 4)], 0),
    ("gru", nn.GRU(4, 8, batch_first=True), [(2, 3, 4)], 0),
    ("lstm", nn.LSTM(4, 8), [(3, 2, 4)], 0),
    ("lstm_cell", nn.LSTMCell(4, 8), [(2, 4)], 2 * (4 + 8) * 4 * 8),
    # instance norm with running statistics in eval: still aten::instance_norm, numel x 4 / x 5
    ("instance_norm_running_stats", nn.InstanceNorm2d(4, track_running_stats=True), [(2, 4, 5, 5)], 4 * 200),
    (
        "instance_norm_affine_running_stats",
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
        [(2, 4, 5, 5)],
        1000,
    ),
    # adaptive_avg_pool1d is an unsupported op (the recorder sees the 2-D kernel it calls);
    # adaptive_avg_pool2d on an unbatched (C, H, W) input is numel(input) = 48
    ("adaptive_avg_pool1d", nn.AdaptiveAvgPool1d(2), [(2, 3, 8)], 0),
    ("adaptive_avg_pool1d_global", nn.AdaptiveAvgPool1d(1), [(2, 3, 8)], 0),
    ("adaptive_avg_pool2d_unbatched", nn.AdaptiveAvgPool2d(2), [(3, 4, 4)], 48),
    ("adaptive_avg_pool2d_unbatched_global", nn.AdaptiveAvgPool2d(1), [(3, 4, 4)], 48),
    ("adaptive_avg_pool3d", nn.AdaptiveAvgPool3d(1), [(2, 3, 4, 4, 4)], 0),
    # only upsample_nearest2d and upsample_bilinear2d have handles
    ("upsample_nearest3d", nn.Upsample(scale_factor=2), [(1, 2, 2, 2, 2)], 0),
    ("upsample_bicubic", nn.Upsample(scale_factor=2, mode="bicubic"), [(1, 2, 4, 4)], 0),
    # grid_sampler, 3-D too: 4 per output, 1 * 2 * 3 * 4 * 3 = 72 outputs
    (
        "grid_sample_3d",
        Op(lambda x, g: F.grid_sample(x, g, align_corners=False)),
        [(1, 2, 4, 4, 4), (1, 3, 4, 3, 3)],
        288,
    ),
    # grouped transposed convolution: numel(x) * Cout / groups * k^2 = 100 * 3 * 9
    ("conv_transpose_grouped", nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), [(1, 4, 5, 5)], 2700),
    # the fused inference kernels: under no_grad in eval, fvcore's trace too meets
    # aten::_native_multi_head_attention (no handle: 0) ...
    ("mha_fast_path", _Attention(), [(2, 5, 16)], 0),
    # ... but not TransformerEncoderLayer's fused kernel: it traces the layer's Python path
    # (whose self-attention is that fused MHA, 0): the feed-forward 2 * 10 tokens * 16 * 32
    # and two layer norms 2 * 5 * 160
    ("encoder_layer_fast_path", nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), [(2, 5, 16)], 11840),
]


@pytest.mark.parametrize(("name", "model", "shapes", "expected"), _RULE_CASES, ids=[c[0] for c in _RULE_CASES])
def test_handle_rules(name: str, model: Any, shapes: list[tuple[int, ...]], expected: int) -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = tuple(torch.rand(*s, generator=generator) * 2 - 1 for s in shapes)
    assert _preset_equals_fvcore(model, inputs).under("fvcore").macs == expected


# -- not reproduced (docs/conventions.md): the recorder sees what runs, the trace sees a graph --


class _TraceWarningNet(nn.Module):  # type: ignore[misc]
    """test_disable_warnings' TraceWarningNet: fc1's output leaves the graph through .item()."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(10, 1), nn.Linear(10, 10)
        with torch.no_grad():  # y = -1 for every input, so fc2 always runs
            self.fc1.weight.zero_()
            self.fc1.bias.fill_(-1.0)

    def forward(self, x: Any) -> Any:
        y = self.fc1(x).item()
        if y < 0.0:
            x = self.fc2(x)
        return x + 2


def test_documented_difference_dead_code_in_the_trace() -> None:
    # fvcore's trace drops fc1 (its result leaves as a Python float, so nothing in the graph
    # uses it) and reports the module as never called; the recorder saw fc1 run: 10 MACs more
    model, x = _TraceWarningNet().eval(), torch.randn(1, 10)
    analysis = _analysis(model, (x,))
    assert analysis.uncalled_modules() == {"fc1"}
    assert _fvcore_total(analysis) == 10 * 10
    assert flopmagic.profile(model, (x,)).under("fvcore").macs == 10 * 10 + 10 * 1


@pytest.mark.parametrize(
    ("model", "difference"),
    [
        # in-projection 10 * 16 * 48 + out-projection 10 * 16 * 16
        (_Attention(), 7680 + 2560),
        (nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 7680 + 2560),
    ],
    ids=["mha", "encoder_layer"],
)
def test_documented_difference_fvcore_with_grad_enabled(model: Any, difference: int) -> None:
    # fvcore called with grad enabled (its README's way) makes PyTorch skip the fused
    # attention kernel, so its trace sees the projections as aten::linear; the preset
    # reproduces fvcore run as flopmagic runs the model (eval, torch.no_grad())
    model.eval()
    x = torch.rand(2, 5, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_grad = fvcore_nn.FlopCountAnalysis(model, (x,))
        with_grad.unsupported_ops_warnings(False)
        with_grad.uncalled_modules_warnings(False)
        total = _fvcore_total(with_grad)
    preset = flopmagic.profile(model, (x,)).under("fvcore").macs
    assert preset == _fvcore(model, (x,))
    assert total - preset == difference


def test_mha_training_profile_equals_fvcore_in_train_mode() -> None:
    # training: no fused kernel anywhere; fvcore traces the train-mode forward with grad
    # enabled (projections 7680 + 2560; SDPA no handle), the preset drops the backward
    model, x = _Attention().train(), torch.rand(2, 5, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore_nn.FlopCountAnalysis(model, (x,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        expected = _fvcore_total(analysis)
    assert expected == 7680 + 2560
    assert flopmagic.profile(model, (x,), training=True).under("fvcore").macs == expected


def _square(x: torch.Tensor) -> torch.Tensor:
    return x @ x


class _ScriptedCall(nn.Module):  # type: ignore[misc]
    def forward(self, x: Any) -> Any:
        return torch.jit.script(_square)(x * x)


class _MatmulFunction(torch.autograd.Function):  # type: ignore[misc]
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        return x @ x.T

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        return grad


_NOT_REPRODUCED = [
    # test_scripted_function: fvcore sees one prim::CallFunction (0); the recorder the 5x5 mm
    ("scripted_function", _ScriptedCall(), [(5, 5)], 5 * 5 * 5),
    # an autograd Function that computes: one prim::PythonOp to fvcore, its mm to the recorder
    ("autograd_function_with_work", Op(_MatmulFunction.apply), [(4, 5)], 4 * 5 * 4),
    # einsum without a summed index: fvcore prices numpy's path (floor(20 / 2) for the outer
    # product); torch runs a plain multiply, which the preset (like fvcore for aten::mul) counts 0
    ("einsum_outer", Op(lambda a, b: torch.einsum("a,b->ab", a, b)), [(4,), (5,)], -10),
    # the same for an elementwise product (floor(12 / 2)) and a plain sum (floor(2 * 24 / 2))
    ("einsum_hadamard", Op(lambda a, b: torch.einsum("ij,ij->ij", a, b)), [(3, 4), (3, 4)], -6),
    ("einsum_sum", Op(lambda a: torch.einsum("bij->b", a)), [(2, 3, 4)], -24),
    # matmul of a 2-D by a batched operand: fvcore's handle is prod(a.shape) * b.shape[-1],
    # blind to b's batch (20 * 10 * 100 for 2 x 20 * 10 * 100 MACs)
    ("matmul_broadcast_rhs", Op(torch.matmul), [(20, 10), (2, 10, 100)], 20000),
    # padding="same" is aten::_convolution_mode in the trace, which fvcore has no handle for
    ("conv_padding_same", nn.Conv2d(4, 6, 3, padding="same"), [(1, 4, 7, 7)], 49 * 6 * 4 * 9),
    ("conv_padding_valid", nn.Conv2d(4, 6, 3, padding="valid"), [(1, 4, 7, 7)], 25 * 6 * 4 * 9),
    # a bare F.adaptive_avg_pool1d reaches dispatch as the 2-D kernel: numel(input) 2 * 3 * 8
    ("functional_adaptive_avg_pool1d", Op(lambda x: F.adaptive_avg_pool1d(x, 2)), [(2, 3, 8)], 48),
    # tensordot and multi_dot are traced as themselves (no handle), run as mm's
    ("tensordot", Op(lambda a, b: torch.tensordot(a, b, dims=([1], [0]))), [(3, 4), (4, 5)], 60),
    ("multi_dot", Op(lambda a, b, c: torch.linalg.multi_dot([a, b, c])), [(3, 4), (4, 5), (5, 6)], 60 + 90),
]


@pytest.mark.parametrize(
    ("name", "model", "shapes", "difference"), _NOT_REPRODUCED, ids=[c[0] for c in _NOT_REPRODUCED]
)
def test_documented_difference(name: str, model: Any, shapes: list[tuple[int, ...]], difference: int) -> None:
    # preset - fvcore, each reason in docs/conventions.md
    inputs = tuple(torch.rand(*s) for s in shapes)
    model.eval()
    preset = flopmagic.profile(model, inputs).under("fvcore").macs
    assert preset - _fvcore(model, inputs) == difference
