"""Drift tests for the hand-kept tables (as IPython tests its magics table).

The aten -> canonical table and the FlopCounterMode op list are written by
hand; these tests fail when the installed torch moves away from them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import flopmagic
from flopmagic.adapters.torch import aten
from flopmagic.conventions.presets import FLOP_COUNTER_MODE_OPS
from flopmagic.formulas import registered_ops


def test_every_table_entry_names_an_existing_aten_op():
    # "aten.mm" -> torch.ops.aten.mm; the profiler's range markers live in torch.ops.profiler
    namespaces = (name.split(".", 1) for name in aten.TABLE)
    missing = [f"{ns}.{op}" for ns, op in namespaces if not hasattr(getattr(torch.ops, ns), op)]
    # ops that exist only in some builds (CUDA/ROCm/MKLDNN kernels) are still looked up by name
    optional = {
        "aten.miopen_batch_norm",
        "aten.miopen_batch_norm_backward",
        "aten.miopen_convolution",
        "aten.mkldnn_max_pool2d",
    }
    assert set(missing) <= optional, missing


def test_simple_families_map_to_registered_formulas():
    canonical = (
        set(aten._SAME_SHAPE.values())
        | set(aten._REDUCE.values())
        | set(aten._MOVEMENT)
        | set(aten._RESIZE.values()) - {"nearest", "linear", "bilinear", "trilinear", "bicubic"}
    )
    assert canonical - set(aten._RESIZE.values()) <= set(registered_ops())


def test_flop_counter_mode_op_list_matches_the_installed_torch():
    from torch.utils.flop_counter import flop_registry

    installed = {str(op) for op in flop_registry if isinstance(op, torch._ops.OpOverloadPacket)}
    assert installed == FLOP_COUNTER_MODE_OPS


def test_everything_flop_counter_mode_counts_is_translated_here():
    assert all(aten.lookup(name) is not None for name in FLOP_COUNTER_MODE_OPS)


class _Zoo(nn.Module):
    """One of nearly everything the table translates, forward and backward."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 8, 2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(16, 8)
        self.rnn = nn.RNN(8, 8, nonlinearity="relu")
        self.ct = nn.ConvTranspose2d(3, 4, 3, stride=2)
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.bag = nn.EmbeddingBag(10, 4, mode="mean")
        self.enc = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.mha = nn.MultiheadAttention(16, 2)
        self.ln = nn.LayerNorm(16)
        self.rms = nn.RMSNorm(16)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.acts = nn.ModuleList(
            [
                nn.PReLU(),
                nn.ELU(),
                nn.Softplus(),
                nn.Mish(),
                nn.LogSoftmax(-1),
                nn.LeakyReLU(),
                nn.Dropout(0.1),
                nn.SELU(),
                nn.Hardswish(),
                nn.Hardsigmoid(),
                nn.SiLU(),
                nn.Tanh(),
            ]
        )
        self.pool1 = nn.MaxPool1d(2)
        self.apool1 = nn.AdaptiveAvgPool1d(3)
        self.amax = nn.AdaptiveMaxPool2d(2)

    def forward(self, x):
        seq = torch.randn(2, 5, 8, device=x.device)
        a, _ = self.lstm(seq)
        b, _ = self.gru(a.transpose(0, 1))
        c, _ = self.rnn(b)
        y = self.amax(self.up(self.inorm(self.gn(self.ct(x)))))
        e = self.bag(torch.tensor([1, 2, 3, 4], device=x.device), torch.tensor([0, 2], device=x.device))
        t = self.enc(torch.randn(2, 5, 16, device=x.device))
        t2, _ = self.mha(t, t, t)
        t = self.ln(t2) + self.rms(t)
        z = sum(act(t) for act in self.acts)
        z = self.apool1(self.pool1(z))
        w = nn.functional.interpolate(x, size=(5, 5), mode="bicubic") + nn.functional.interpolate(
            x, size=(5, 5), mode="nearest"
        )
        misc = x.var() + x.std() + x.norm() + torch.logsumexp(x, -1).sum() + x.cumsum(0).sum() + x.clamp(0, 1).sum()
        misc = (
            misc
            + x.abs().max()
            + torch.where(x > 0, x, -x).sum()
            + torch.einsum("bij,bjk->bik", t, t.transpose(1, 2)).sum()
        )
        return c.sum() + y.sum() + e.sum() + z.sum() + w.sum() + misc


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("device", [None, "meta"])
def test_zoo_has_no_unsupported_op(training, device):
    profile = flopmagic.profile(_Zoo(), input_shape=(1, 3, 4, 4), training=training, device=device)
    assert profile.unsupported() == {}
    ops = {r.op for r in profile.records}
    assert {"conv_transpose", "group_norm", "embedding_bag", "layer_norm", "resize", "softplus", "mish"} <= ops
    # real inference: the encoder layer's fused kernel; real training (dropout on): attention as
    # matmuls + softmax; meta: nn.MultiheadAttention's unfused path, recorded as one op
    expected = "multi_head_attention" if device == "meta" else "softmax" if training else "transformer_encoder_layer"
    assert expected in ops


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "mobilenet_v3_small",
        "efficientnet_b0",
        "swin_t",
        "convnext_tiny",
        "inception_v3",
        "densenet121",
        "squeezenet1_0",
        "shufflenet_v2_x0_5",
        "googlenet",
        "maxvit_t",
        "regnet_y_400mf",
        "vit_b_32",
    ],
)
def test_torchvision_zoo_forward_and_backward(name):
    for training in (False, True):
        # batch 2: training-mode batch norm needs more than one value per channel (inception's aux head)
        shape = None if not training else (2, 3, 299, 299) if name == "inception_v3" else (2, 3, 224, 224)
        profile = flopmagic.profile(f"torchvision:{name}", device="meta", training=training, input_shape=shape)
        assert profile.unsupported() == {}, (name, training)


def test_import_flopmagic_imports_no_framework():
    code = (
        "import sys, flopmagic, flopmagic.cli, flopmagic.api, flopmagic.schema, flopmagic.conventions, flopmagic.render.text;"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'onnx', 'onnxruntime', 'IPython', 'pandas', 'matplotlib', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_public_functions_are_not_shadowed_by_submodules():
    # Importing a submodule sets it as an attribute of the package: a module named like a
    # public function (flopmagic/audit.py, flopmagic/compare.py) would replace the function.
    import importlib
    import inspect
    import pkgutil

    for info in pkgutil.walk_packages(flopmagic.__path__, "flopmagic."):
        if not info.name.startswith(("flopmagic.adapters.tensorflow", "flopmagic.adapters.onnx")):
            importlib.import_module(info.name)
    for name in flopmagic.__all__:
        assert not inspect.ismodule(getattr(flopmagic, name)), f"flopmagic.{name} is a module"
    assert (
        inspect.isfunction(flopmagic.profile)
        and inspect.isfunction(flopmagic.compare)
        and inspect.isfunction(flopmagic.audit)
    )


# -- the other hand-kept lists ----------------------------------------------------------------
def test_hook_dicts_are_every_hook_dict_a_module_has():
    from flopmagic.adapters.torch.state import _HOOK_DICTS

    # the state guard snapshots each of these; a hook dictionary torch adds must join them
    fresh = {k for k, v in nn.Module().__dict__.items() if "hook" in k and isinstance(v, dict)}
    assert set(_HOOK_DICTS) == fresh


def test_metadata_ops_cover_what_flop_counter_mode_skips():
    import ast
    import inspect
    import textwrap

    from torch.utils import flop_counter

    from flopmagic.adapters.torch.recorder import _METADATA

    # the set literal of the first `if func in {...}` in FlopCounterMode's dispatch mode
    mode = getattr(flop_counter, "_FlopCounterMode", flop_counter.FlopCounterMode)
    tree = ast.parse(textwrap.dedent(inspect.getsource(mode.__torch_dispatch__)))
    literal = next(node for node in ast.walk(tree) if isinstance(node, ast.Set))
    skipped = {ast.unparse(e).removeprefix("torch.ops.") for e in literal.elts}
    assert len(skipped) >= 10  # the walk found the list
    ours = {f"{op.namespace}.{op._opname}.{op._overloadname}" for op in _METADATA}
    assert skipped <= ours, sorted(skipped - ours)
    for op in _METADATA:  # each still exists in the installed torch
        assert isinstance(op, torch._ops.OpOverload) and op._schema.returns


def test_mha_argument_names_follow_the_installed_signature():
    import inspect

    names = tuple(inspect.signature(torch.nn.functional.multi_head_attention_forward).parameters)
    assert names[: len(aten._MHA_NAMES)] == aten._MHA_NAMES


def test_the_auditor_reads_every_tool_convention():
    from flopmagic.auditor import hypotheses
    from flopmagic.conventions import conventions

    own = {"flopmagic", "flopmagic-causal", "strict", "paper"}  # flopmagic's own counts, not other tools'
    tools = {c.name for c in conventions()} - own
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    names = {h.name for h in hypotheses(flopmagic.profile(model, input_shape=(1, 3, 8, 8)))}
    assert tools <= names, sorted(tools - names)


def test_tensorflow_contractions_are_the_installed_contraction_ops():
    from flopmagic.adapters import import_tensorflow

    pytest.importorskip("tensorflow")
    import re

    tf = import_tensorflow()
    from flopmagic.adapters.tensorflow.contractions import CONTRACTIONS
    from flopmagic.adapters.tensorflow.ops import TABLE

    ops = {name for name in dir(tf.raw_ops) if not name.startswith("_")}
    assert ops >= CONTRACTIONS and set(TABLE) >= CONTRACTIONS
    # a new version of a contraction (BatchMatMulV4, Conv3DBackpropInputV3) must join the list
    family = re.compile(r"^(MatMul|BatchMatMul(V\d)?|Conv[23]D|DepthwiseConv2dNative|Conv[23]DBackpropInput(V\d)?)$")
    translated = {name for name in ops if family.match(name) and name in TABLE}
    assert translated <= CONTRACTIONS, sorted(translated - CONTRACTIONS)
