"""The PyTorch exact counter on small real models, every number derived here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopmagic
from flopmagic import Cost, ProfilingError
from flopmagic.render.text import render_profile_text
from torch_models import LENET_MACS, LENET_PARAMS, MLP, SelfAttention, lenet


def records_of(profile, op):
    return [r for r in profile.records if r.op == op]


def test_seed_conv_example():
    model = nn.Conv2d(3, 4, kernel_size=3, bias=False)
    p = flopmagic.profile(model, input_shape=(1, 3, 8, 8))
    # 3*3*3 * 4 * 6*6 = 3888 MACs; 2 * 3888 = 7776 FLOPs; strict (2*27 - 1) * 4 * 36 = 7632
    assert (p.macs, p.flops) == (3888, 7776)
    assert p.under("strict").flops == 7632
    assert p.params == 3 * 4 * 3 * 3  # 108 weights, no bias


def test_lenet_counts_layers_and_shapes(golden):
    p = flopmagic.profile(lenet(), input_shape=(1, 1, 28, 28))
    assert p.macs == LENET_MACS == 416_520
    assert p.params == LENET_PARAMS == 61_706
    shapes = {row.key: (row.type, row.output_shapes) for row in p.by_layer()}
    # the seed listing: "Conv2d output shape: torch.Size([1, 6, 28, 28])", then 1x6x14x14, ...
    assert shapes["0"] == ("Conv2d", ((1, 6, 28, 28),))
    assert shapes["2"] == ("AvgPool2d", ((1, 6, 14, 14),))
    assert shapes["3"] == ("Conv2d", ((1, 16, 10, 10),))
    assert shapes["5"] == ("AvgPool2d", ((1, 16, 5, 5),))
    assert shapes["7"] == ("Linear", ((1, 120),))
    assert shapes["11"] == ("Linear", ((1, 10),))
    golden("lenet_layers.txt", render_profile_text(p, by="layer") + "\n")


def test_seed_mlp_example():
    d, n = 8, 5
    p = flopmagic.profile(MLP(d), input_shape=(1, n, d))
    # Seed: "a D->4D->D MLP over N tokens = 8*D*D*N FLOPs" -- a count of multiply-adds, i.e. the
    # paper convention's number: N*D*4D + N*4D*D = 8*8*8*5 = 2560 MACs.
    assert p.under("paper").macs == 8 * d * d * n == 2560
    # True FLOPs: 2 * 2560 + bias adds (5*32 + 5*8 = 200) + GELU (5 * 160 elements = 800) = 6120
    assert p.flops == 2 * 2560 + 200 + 800


def test_seed_self_attention_example():
    d, n = 8, 5
    p = flopmagic.profile(SelfAttention(d), input_shape=(1, n, d))
    # Seed: "self-attention with D_x=D_k=D_v=D: 3*D*D*N + 2*D*N*N FLOPs" -- again multiply-adds (paper):
    # 3*64*5 + 2*8*25 = 960 + 400 = 1360 MACs
    assert p.under("paper").macs == 3 * d * d * n + 2 * d * n * n == 1360
    # true FLOPs: 2 * 1360 + softmax 5 * 25 = 2845
    assert p.flops == 2 * 1360 + 5 * n * n


def test_multihead_attention_fast_path_is_counted():
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = mha

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    p = flopmagic.profile(Wrap(), input_shape=(1, 5, 8))
    natives = {r.native for r in p.records}
    assert "aten._native_multi_head_attention.default" in natives  # the eval fast path ran
    # projections 4 * 5*8*8 = 1280; scores 2 heads * 5*5 = 50, each (4 + 4) MACs = 400 -> 1680
    assert p.macs == 1680
    # FlopCounterMode has no formula for the fused op: under its preset the op counts 0
    assert p.under("torch").macs == 0


def test_cpu_sdpa_kernel_is_counted():
    class Attn(nn.Module):
        def forward(self, q):
            return nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)

    p = flopmagic.profile(Attn(), input_shape=(1, 2, 6, 4))
    (record,) = records_of(p, "attention")
    assert record.native == "aten._scaled_dot_product_flash_attention_for_cpu.default"
    # B*H*L*S*(E + Ev) = 1*2*6*6*(4 + 4) = 576 MACs (dense)
    assert p.macs == 576
    # causal-aware option: 1+2+...+6 = 21 pairs per head -> 2*21*8 = 336 MACs
    assert p.under("flopmagic-causal").macs == 336
    assert p.under("torch").macs == 0  # FlopCounterMode misses the CPU flash kernel


def test_transformer_encoder_layer_fast_path():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True).eval()
    p = flopmagic.profile(layer, input_shape=(1, 4, 8))
    assert [r.native for r in p.records if r.macs] == ["aten._transformer_encoder_layer_fwd.default"]
    # MHA 1280 (projections 4*4*8*8 = 1024 + scores 2*4*4 * 8 = 256) + FFN 2 * 4*8*16 = 1024 -> 2304
    assert p.macs == 2304


def test_meta_and_fake_tensors_give_the_real_counts():
    from torch._subclasses.fake_tensor import FakeTensorMode

    real = flopmagic.profile(lenet(), input_shape=(1, 1, 28, 28))
    meta = flopmagic.profile(lenet(), input_shape=(1, 1, 28, 28), device="meta")
    with torch.device("meta"):
        on_meta = lenet()
    built_on_meta = flopmagic.profile(on_meta, input_shape=(1, 1, 28, 28))
    with FakeTensorMode():
        fake_model = lenet()
        fake = flopmagic.profile(fake_model, input_shape=(1, 1, 28, 28))
    for other in (meta, built_on_meta, fake):
        assert other.totals == real.totals
        assert [r.op for r in other.records] == [r.op for r in real.records]


def test_positional_keyword_dict_and_tuple_inputs_outputs():
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 3)
            self.b = nn.Linear(2, 3)

        def forward(self, x, y=None, *, extra=None):
            out = {"x": self.a(x)}
            if y is not None:
                out["y"] = self.b(y)
            return out, (out["x"].sum(),)

    x, y = torch.randn(2, 4), torch.randn(2, 2)
    model = TwoInputs()
    positional = flopmagic.profile(model, (x, y))
    keyword = flopmagic.profile(model, {"x": x, "y": y})
    # a: 2*4*3 = 24 MACs; b: 2*2*3 = 12 MACs
    assert positional.macs == keyword.macs == 36
    assert [t.name for t in positional.inputs] == ["args[0]", "args[1]"]
    assert [t.name for t in keyword.inputs] == ["x", "y"]
    assert flopmagic.profile(model, x).macs == 24


def test_module_called_twice_and_tied_weights():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Linear(4, 4)
            self.head = nn.Linear(4, 4, bias=False)
            self.head.weight = self.block.weight  # tied

        def forward(self, x):
            return self.head(self.block(self.block(x)))

    p = flopmagic.profile(Shared(), input_shape=(1, 4))
    rows = {r.key: r for r in p.by_layer()}
    assert rows["block"].calls == 2
    assert rows["block"].macs == 2 * 16  # called twice, 4*4 MACs each
    assert rows["head"].macs == 16
    # unique parameters: 16 weights (shared) + 4 bias = 20; the head owns none of its own
    assert p.params == 20
    assert rows["head"].params == 0


def test_training_counts_forward_and_measured_backward():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    p = flopmagic.profile(model, input_shape=(2, 4), training=True)
    forward = sum(r.macs for r in p.records if r.phase == "forward")
    backward = sum(r.macs for r in p.records if r.phase == "backward")
    # forward 2*4*3 + 2*3*2 = 36 MACs
    assert forward == 36
    # backward: layer 2 grad_W 2*3*2 = 12 and grad_x 2*2*3 = 12; layer 1 grad_W 2*4*3 = 24
    # (no grad_x for the first layer: the input does not require grad) -> 48
    assert backward == 48
    scopes = {r.scope for r in p.records if r.phase == "backward" and r.macs}
    assert scopes == {"0", "2"}  # backward matmuls attributed to the layers that own them
    assert p.training


def test_unsupported_ops_are_listed_with_counts_and_can_be_overridden():
    class Sorts(nn.Module):
        def forward(self, x):
            return torch.sort(x).values + torch.sort(x * 2).values

    p = flopmagic.profile(Sorts(), input_shape=(3, 5))
    assert p.unsupported() == {"aten.sort.default": 2}
    assert any("no formula" in note for note in p.notes)
    # mul 15 + add 15 = 30 FLOPs counted; the sorts are not guessed
    assert p.flops == 30
    priced = flopmagic.profile(Sorts(), input_shape=(3, 5), overrides={"aten.sort": lambda s: Cost(flops=7)})
    assert priced.unsupported() == {}
    assert priced.flops == 30 + 2 * 7
    assert {r.method for r in priced.records if r.native == "aten.sort.default"} == {"override"}


def test_integer_bookkeeping_is_zero_cost():
    class Positions(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, ids):
            positions = torch.arange(ids.shape[1]) + 1  # integer arithmetic
            return self.emb(ids + positions)

    p = flopmagic.profile(Positions(), torch.zeros(1, 3, dtype=torch.long))
    assert p.flops == 0
    integer = records_of(p, "integer")
    assert integer and all(r.method == "zero-cost" for r in integer)
    (emb,) = records_of(p, "embedding")
    assert emb.params == 40  # the table is read: 10 x 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "pass inputs=... or input_shape="),
        ({"input_shape": (1, 0, 8)}, "non-positive dimension"),
        ({"input_shape": "1x3"}, "is not a shape"),
        ({"input_shape": (1, 3), "device": "cuda:7"}, "device='cuda:7' is not supported"),
    ],
)
def test_bad_arguments_name_the_fix(kwargs, message):
    with pytest.raises(ProfilingError, match=message):
        flopmagic.profile(nn.Linear(3, 2), **kwargs)


def test_a_failing_forward_names_the_model_and_cause():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    with pytest.raises(ProfilingError, match=r"running Broken failed: ValueError: boom"):
        flopmagic.profile(Broken(), input_shape=(1, 2))


def test_not_a_model():
    with pytest.raises(ProfilingError, match="cannot profile a int"):
        flopmagic.profile(3)


def test_ops_repeated_with_one_signature_are_priced_as_each_call_ran():
    """Specs are reused per call signature (inputs, outputs, scalar arguments): a boolean
    mask of the same shape selecting a different number of elements, and the same op with
    another scalar, must still be counted from what each call did."""

    class Repeats(torch.nn.Module):
        def forward(self, x):
            a = x[x > 0.5].sum()  # 2 selected -> sum of 2 elements
            b = x[x > -1.0].sum()  # 8 selected -> sum of 8 elements
            c = x.sum(0).sum() + x.sum(1).sum()  # (2, 4) -> (4,) -> () and (2, 4) -> (2,) -> ()
            return a + b + c

    x = torch.tensor([[0.0, 0.9, 0.1, 0.2], [0.3, 0.6, 0.0, 0.1]])
    profile = flopmagic.profile(Repeats(), x)
    sums = [r for r in profile.records if r.op == "sum" or r.native.startswith("aten.sum")]
    shapes = sorted((tuple(r.inputs[0]), tuple(r.outputs[0]) if r.outputs else ()) for r in sums)
    # a: (2,) -> (), b: (8,) -> (), x.sum(0): (2, 4) -> (4,), x.sum(1): (2, 4) -> (2,)
    assert ((2,), ()) in shapes and ((8,), ()) in shapes
    assert ((2, 4), (4,)) in shapes and ((2, 4), (2,)) in shapes
    # the two mask selections: same input shapes, outputs of 2 and 8 elements
    selected = sorted(tuple(r.outputs[0]) for r in profile.records if r.native.startswith("aten.index."))
    assert selected == [(2,), (8,)]
    again = flopmagic.profile(Repeats(), x)
    assert [(r.macs, r.flops, r.inputs, r.outputs) for r in again.records] == [
        (r.macs, r.flops, r.inputs, r.outputs) for r in profile.records
    ]


def test_the_module_walk_equals_named_modules_with_duplicates() -> None:
    # run_module walks the tree itself (a hot path); it must list what named_modules does
    import torchvision

    from flopmagic.adapters.torch.run_module import _named_modules

    shared = nn.Linear(2, 2)
    tied = nn.Sequential(shared, nn.ReLU(), nn.Sequential(shared, nn.Identity()), nn.ModuleDict({"a": shared}))
    tied.register_module("empty", None)
    for model in (tied, torchvision.models.mobilenet_v2(), torchvision.models.swin_t(), nn.Linear(1, 1)):
        assert [(n, id(m)) for n, m in _named_modules(model)] == [
            (n, id(m)) for n, m in model.named_modules(remove_duplicate=False)
        ]
