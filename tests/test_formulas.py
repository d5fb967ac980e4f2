"""The formula library: every formula with a hand-derived example.

Each expected number has its arithmetic next to it. ``test_every_formula_has_an_example``
fails when a formula is registered without one here.
"""

from __future__ import annotations

import pytest

from flopmagic.formulas import Cost, OpSpec, formula, formulas, get_formula, price, registered_ops
from flopmagic.formulas.attention import causal_pairs
from flopmagic.formulas.pooling import adaptive_window_total


def spec(op, inputs=(), outputs=(), **attrs):
    return OpSpec(op, tuple(inputs), tuple(outputs), attrs)


# (spec, macs, flops) -- flopmagic's default count
CASES = [
    # Seed: Conv(Cin=3, Cout=4, 3x3, 6x6 output, no bias): 3*3*3 * 4 * 6*6 = 3888 MACs, 2 * 3888 = 7776 FLOPs
    (spec("conv", [(1, 3, 8, 8), (4, 3, 3, 3)], [(1, 4, 6, 6)], bias=False), 3888, 7776),
    # + bias: one add per output, 4*6*6 = 144 -> 7920 FLOPs
    (spec("conv", [(1, 3, 8, 8), (4, 3, 3, 3)], [(1, 4, 6, 6)], bias=True), 3888, 7920),
    # depthwise 3x3 over 8 channels (groups=8, w [8,1,3,3]), 4x4 output: 8*16 outputs * 1*9 = 1152 MACs
    (spec("conv", [(1, 8, 6, 6), (8, 1, 3, 3)], [(1, 8, 4, 4)], bias=False, groups=8), 1152, 2304),
    # conv3d: Cin 2, Cout 3, 2x2x2 kernel, output 1x3x2x2x2: 24 outputs * 2*8 = 384 MACs
    (spec("conv", [(1, 2, 3, 3, 3), (3, 2, 2, 2, 2)], [(1, 3, 2, 2, 2)], bias=False), 384, 768),
    # transposed: x [1,2,3,3], w [2,4,2,2] (Cout 4): 18 inputs * 4 * 4 = 288 MACs; bias 4*6*6 = 144 adds
    (spec("conv_transpose", [(1, 2, 3, 3), (2, 4, 2, 2)], [(1, 4, 6, 6)], bias=True), 288, 2 * 288 + 144),
    # Linear 16->4 on one row: 16*4 = 64 MACs; FLOPs 2*64 + 4 bias adds = 132
    (spec("linear", [(1, 16), (16, 4)], [(1, 4)], bias=True), 64, 132),
    # bmm [2,3,4] @ [2,4,5]: 2*3*4*5 = 120 MACs
    (spec("matmul", [(2, 3, 4), (2, 4, 5)], [(2, 3, 5)]), 120, 240),
    # broadcast batch [2,1,3,4] @ [5,4,6] -> batch 2*5: 10*3*4*6 = 720 MACs
    (spec("matmul", [(2, 1, 3, 4), (5, 4, 6)], [(2, 5, 3, 6)]), 720, 1440),
    # addmm with alpha != 1 and beta != 1: 2*3*4 = 24 MACs; 6 outputs: bias 6, alpha 6, beta 6 -> 48 + 18
    (spec("matmul", [(2, 3), (3, 4)], [(2, 4)], bias=True, alpha=True, beta=True), 24, 48 + 8 + 8 + 8),
    # einsum "bij,bjk->bik" b=2,i=3,j=4,k=5: 2*3*4*5 = 120 MACs
    (spec("einsum", [(2, 3, 4), (2, 4, 5)], [(2, 3, 5)], equation="bij,bjk->bik"), 120, 240),
    # einsum outer product "i,j->ij" 3x4: no summed index, 12 multiplies, 0 MACs
    (spec("einsum", [(3,), (4,)], [(3, 4)], equation="i,j->ij"), 0, 12),
    # einsum trace-like "ij->i" on 3x4: 3*(4-1) = 9 adds
    (spec("einsum", [(3, 4)], [(3,)], equation="ij->i"), 0, 9),
    # three operands "ij,jk,kl->il" 2x3,3x4,4x5: (ij,jk->ik) 2*3*4 = 24, then (ik,kl->il) 2*4*5 = 40 -> 64 MACs
    (spec("einsum", [(2, 3), (3, 4), (4, 5)], [(2, 5)], equation="ij,jk,kl->il"), 64, 128),
    # attention B=1,H=2,L=S=4,E=Ev=8: scores 2*4*4 = 32; MACs 32*(8+8) = 512;
    # FLOPs 2*512 + 32*(1 scale + 5 softmax) = 1024 + 192 = 1216
    (spec("attention", [(1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)], [(1, 2, 4, 8)]), 512, 1216),
    # causal, dense count: + 1 mask FLOP per score -> 1216 + 32 = 1248
    (spec("attention", [(1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)], [(1, 2, 4, 8)], causal=True), 512, 1248),
    # causal-aware: pairs 1+2+3+4 = 10 per head, 20 scores; MACs 20*16 = 320; FLOPs 640 + 20*7 = 780
    (
        spec("attention", [(1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)], [(1, 2, 4, 8)], causal=True, skip_masked=True),
        320,
        780,
    ),
    # grouped-query: q heads 4, kv heads 2, L=S=2, E=4: scores 4*2*2 = 16; MACs 16*(4+4) = 128; FLOPs 256 + 16*6 = 352
    (spec("attention", [(1, 4, 2, 4), (1, 2, 2, 4), (1, 2, 2, 4)], [(1, 4, 2, 4)]), 128, 352),
    # backward of the first case: MACs 2*512 = 1024; FLOPs 2048 + 32*5 = 2208
    (spec("attention_backward", [(1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)], [(1, 2, 4, 8)]), 1024, 2208),
    # MHA B=1, L=S=4, E=8, 2 heads, bias: 4 projections 4*8*8 = 256 each -> 1024 MACs (+ 4*4*8 bias adds = 128);
    # core (1,2,4,4): scores 2*4*4 = 32, MACs 32*8 = 256 -> 1280 MACs; FLOPs 2*1024 + 128 + 2*256 + 32*6 = 2880
    (spec("multi_head_attention", [(1, 4, 8), (1, 4, 8), (1, 4, 8)], [(1, 4, 8)], num_heads=2, bias=True), 1280, 2880),
    # encoder layer B=1, L=4, E=8, 2 heads, FFN 16, relu:
    # MHA 1280 MACs / 2880 FLOPs; FFN 4*8*16*2 = 1024 MACs, FLOPs 2048 + bias 4*16 + 4*8 = 2144;
    # residuals 2*32 = 64; 2 layer norms 2*(32*7 + 4*4) = 480; relu 4*16 = 64
    # MACs 1280 + 1024 = 2304; FLOPs 2880 + 2144 + 64 + 480 + 64 = 5632
    (
        spec("transformer_encoder_layer", [(1, 4, 8)], [(1, 4, 8)], num_heads=2, ffn_dim=16, activation="relu"),
        2304,
        5632,
    ),
    # batch norm inference, affine, x [2,3,4,4]: 96 elements * 2 + 3 channels * 5 = 207
    (spec("batch_norm", [(2, 3, 4, 4)], [(2, 3, 4, 4)], training=False, affine=True), 0, 207),
    # batch norm training, affine: 96 * 7 + 3 * 11 = 705
    (spec("batch_norm", [(2, 3, 4, 4)], [(2, 3, 4, 4)], training=True, affine=True), 0, 705),
    # layer norm over last dim 8 of [2,4,8] with weight and bias: 64*7 + 8 rows*4 = 480
    (spec("layer_norm", [(2, 4, 8)], [(2, 4, 8)], normalized_ndim=1, weight=True, bias=True), 0, 480),
    # group norm 2 groups over [1,4,3,3] affine: 36*7 + 1*2 groups*4 = 260
    (spec("group_norm", [(1, 4, 3, 3)], [(1, 4, 3, 3)], groups=2, affine=True), 0, 260),
    # instance norm = group norm with groups = C = 4, not affine: 36*5 + 4*4 = 196
    (spec("instance_norm", [(1, 4, 3, 3)], [(1, 4, 3, 3)], groups=4, affine=False), 0, 196),
    # RMS norm over 8 of [2,8] with weight: 16*4 + 2 rows*3 = 70
    (spec("rms_norm", [(2, 8)], [(2, 8)], normalized_ndim=1, weight=True), 0, 70),
    # softmax over 10 elements: 10*5 = 50
    (spec("softmax", [(2, 5)], [(2, 5)], dim=-1), 0, 50),
    # log-softmax [2,5] along dim -1: 10*5 + 2 rows = 52
    (spec("log_softmax", [(2, 5)], [(2, 5)], dim=-1), 0, 52),
    # nll_loss picks, negates and averages one log-probability per target: 3 targets, 3 FLOPs
    (spec("nll_loss", [(3, 5), (3,)], []), 0, 3),
    (spec("nll_loss_backward", [(3, 5), (3,)], [(3, 5)]), 0, 3),
    # cross_entropy = log_softmax (5 per logit + 1 log per row: 5*10 + 2 = 52) + nll_loss (2)
    (spec("cross_entropy", [(2, 5), (2,)], []), 0, 54),
    # max pool 2x2 over output [1,1,2,2]: 4 outputs * (4-1) compares = 12
    (spec("max_pool", [(1, 1, 4, 4)], [(1, 1, 2, 2)], kernel=(2, 2)), 0, 12),
    # avg pool 2x2, 4 outputs: 4 * 4 = 16 (3 adds + 1 divide each)
    (spec("avg_pool", [(1, 1, 4, 4)], [(1, 1, 2, 2)], kernel=(2, 2)), 0, 16),
    # adaptive avg pool 5 -> 3 along one dim: windows [0,2),[1,4),[3,5): 2+3+2 = 7; 2D 5x5->3x3: 7*7 = 49 per channel, 2 channels: 98
    (spec("adaptive_avg_pool", [(1, 2, 5, 5)], [(1, 2, 3, 3)]), 0, 98),
    # adaptive max pool same windows: 98 - 18 outputs = 80 compares
    (spec("adaptive_max_pool", [(1, 2, 5, 5)], [(1, 2, 3, 3)]), 0, 80),
    # resize: nearest 0; bilinear 3 lerps * 3 FLOPs = 9 per output, 1x1x4x4 -> 144; bicubic 35*16 = 560
    (spec("resize", [(1, 1, 2, 2)], [(1, 1, 4, 4)], mode="nearest"), 0, 0),
    (spec("resize", [(1, 1, 2, 2)], [(1, 1, 4, 4)], mode="bilinear"), 0, 144),
    (spec("resize", [(1, 1, 2, 2)], [(1, 1, 4, 4)], mode="bicubic"), 0, 560),
    # grid_sample: output [1, 1, 4, 4] = 16 elements; bilinear 9, bicubic 35, nearest 0 each
    (spec("grid_sample", [(1, 1, 2, 2), (1, 4, 4, 2)], [(1, 1, 4, 4)], mode="bilinear"), 0, 144),
    (spec("grid_sample", [(1, 1, 2, 2), (1, 4, 4, 2)], [(1, 1, 4, 4)], mode="bicubic"), 0, 560),
    (spec("grid_sample", [(1, 1, 2, 2), (1, 4, 4, 2)], [(1, 1, 4, 4)], mode="nearest"), 0, 0),
    # embedding lookup: a copy
    (spec("embedding", [(1, 5), (100, 8)], [(1, 5, 8)]), 0, 0),
    # embedding bag sum: 6 indices into 2 bags of width 4: 24 gathered - 8 outputs = 16 adds
    (spec("embedding_bag", [(6,), (10, 4)], [(2, 4)], mode="sum"), 0, 16),
    # LSTM T=3, N=1, I=4, H=2, one layer, 2 bias vectors:
    # per step MACs 4*2*(4+2) = 48 -> 144; per step FLOPs 96 + bias 2*4*2 = 16 + elementwise 18*2 = 36 -> 148; x3 = 444
    (spec("lstm", [(3, 1, 4)], [(3, 1, 2)], hidden_size=2, num_layers=1, bias_vectors=2), 144, 444),
    # GRU same sizes: per step MACs 3*2*6 = 36 -> 108; FLOPs 72 + bias 2*3*2 = 12 + 15*2 = 30 -> 114; x3 = 342
    (spec("gru", [(3, 1, 4)], [(3, 1, 2)], hidden_size=2, num_layers=1, bias_vectors=2), 108, 342),
    # RNN tanh, bidirectional, 1 layer: per step per direction MACs 2*6 = 12, FLOPs 24 + 2*2 bias + 2 tanh = 30;
    # x3 steps x2 directions: 72 MACs, 180 FLOPs
    (spec("rnn", [(3, 1, 4)], [(3, 1, 4)], hidden_size=2, num_layers=1, bidirectional=True, bias_vectors=2), 72, 180),
    # reductions of [4,5] -> [4]: sum 20 - 4 = 16 adds; mean 20 (16 adds + 4 divides)
    (spec("sum", [(4, 5)], [(4,)]), 0, 16),
    (spec("prod", [(4, 5)], [(4,)]), 0, 16),
    (spec("mean", [(4, 5)], [(4,)]), 0, 20),
    (spec("max", [(4, 5)], [(4,)]), 0, 16),
    (spec("min", [(4, 5)], [(4,)]), 0, 16),
    (spec("argmax", [(4, 5)], [(4,)]), 0, 16),
    (spec("argmin", [(4, 5)], [(4,)]), 0, 16),
    # var 4 per element = 80; std + 4 sqrt = 84
    (spec("var", [(4, 5)], [(4,)]), 0, 80),
    (spec("std", [(4, 5)], [(4,)]), 0, 84),
    # 2-norm: 2 per element = 40
    (spec("norm", [(4, 5)], [(4,)]), 0, 40),
    # logsumexp: 4*20 + 2*4 = 88
    (spec("logsumexp", [(4, 5)], [(4,)]), 0, 88),
    # cumsum/cumprod: 1 per element = 20
    (spec("cumsum", [(4, 5)], [(4, 5)]), 0, 20),
    (spec("cumprod", [(4, 5)], [(4, 5)]), 0, 20),
    # elementwise with broadcasting priced on the output [2,3]: 6
    (spec("add", [(2, 3), (3,)], [(2, 3)]), 0, 6),
    (spec("sub", [(2, 3), (3,)], [(2, 3)], alpha=True), 0, 12),
    (spec("clamp", [(2, 3)], [(2, 3)], bounds=2), 0, 12),
    (spec("addcmul", [(2, 3)], [(2, 3)], scaled=True), 0, 18),
    (spec("addcdiv", [(2, 3)], [(2, 3)], scaled=False), 0, 12),
    # conv backward of the seed conv with all three gradients: 3888 + 3888 MACs; bias: 144 - 4 = 140 adds
    (
        spec(
            "conv_backward",
            [(1, 4, 6, 6), (1, 3, 8, 8), (4, 3, 3, 3)],
            [],
            grad_input=True,
            grad_weight=True,
            grad_bias=True,
        ),
        7776,
        2 * 7776 + 140,
    ),
    # norm backward over 96 elements with a weight: 96 * 11 = 1056; eval batch norm 96
    (spec("norm_backward", [(2, 3, 4, 4)], [(2, 3, 4, 4)], training=True, weight=True), 0, 1056),
    # softmax backward 4 per element: 10 -> 40
    (spec("softmax_backward", [(2, 5)], [(2, 5)]), 0, 40),
    (spec("log_softmax_backward", [(2, 5)], [(2, 5)]), 0, 40),
    # relu backward 1 per element; gelu backward 10
    (spec("activation_backward", [(2, 5)], [(2, 5)], fn="relu"), 0, 10),
    (spec("activation_backward", [(2, 5)], [(2, 5)], fn="gelu"), 0, 100),
    # max pool backward: 1 add per dy element (4); avg 2x2: 4 * (1 + 4) = 20
    (spec("pool_backward", [(1, 1, 2, 2)], [(1, 1, 4, 4)], mode="max"), 0, 4),
    (spec("pool_backward", [(1, 1, 2, 2)], [(1, 1, 4, 4)], mode="avg", kernel=4), 0, 20),
    # prelu backward: 3 per element (10 -> 30)
    (spec("activation_backward", [(2, 5)], [(2, 5)], fn="prelu"), 0, 30),
    # LSTM layer backward: 2 x the forward LSTM case above (144 MACs, 444 FLOPs)
    (
        spec("recurrent_backward", [(3, 1, 4)], [(3, 1, 2)], cell="lstm", hidden_size=2, num_layers=1, bias_vectors=2),
        288,
        888,
    ),
    # embedding backward: 1 add per dy element, 5*8 = 40
    (spec("embedding_backward", [(1, 5, 8)], [(100, 8)]), 0, 40),
    # zero-cost bookkeeping
    (spec("view", [(2, 3)], [(3, 2)]), 0, 0),
    (spec("copy", [(2, 3)], [(2, 3)]), 0, 0),
    (spec("create", [], [(2, 3)]), 0, 0),
    (spec("integer", [(2, 3)], [(2, 3)]), 0, 0),
]

# Per-element formulas: output [2, 3] = 6 elements times the documented constant.
PER_ELEMENT = {
    "relu": 1,
    "relu6": 2,
    "hardtanh": 2,
    "threshold": 1,
    "leaky_relu": 2,
    "prelu": 2,
    "elu": 4,
    "selu": 5,
    "celu": 5,
    "sigmoid": 4,
    "hardsigmoid": 4,
    "tanh": 1,
    "silu": 5,
    "hardswish": 5,
    "gelu": 5,
    "gelu_tanh": 9,
    "softplus": 3,
    "mish": 5,
    "softsign": 3,
    "logsigmoid": 5,
    "mul": 1,
    "div": 1,
    "pow": 1,
    "square": 1,
    "maximum": 1,
    "minimum": 1,
    "remainder": 1,
    "fmod": 1,
    "atan2": 1,
    "compare": 1,
    "neg": 1,
    "abs": 1,
    "sign": 1,
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "reciprocal": 1,
    "trig": 1,
    "erf": 1,
    "round": 1,
    "lerp": 3,
    "hypot": 4,
    "nan_to_num": 3,
    "dropout": 2,
    "squared_difference": 2,
}


@pytest.mark.parametrize(("case", "macs", "flops"), CASES, ids=[f"{c.op}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_formula_examples(case, macs, flops):
    cost = price(case)
    assert (cost.macs, cost.flops) == (macs, flops)


@pytest.mark.parametrize(("op", "per_element"), sorted(PER_ELEMENT.items()))
def test_per_element_formulas(op, per_element):
    assert price(spec(op, [(2, 3)], [(2, 3)])) == Cost(flops=6 * per_element)
    # the documented constant is the first thing the docstring says
    assert get_formula(op).summary.startswith(f"{per_element} per element")


def test_every_formula_has_an_example():
    covered = {c.op for c, _, _ in CASES} | set(PER_ELEMENT)
    assert covered == set(registered_ops())


def test_strict_count_of_the_seed_conv():
    # Seed: (2*3*3*3 - 1) * 4 * 36 = 7632 FLOPs in the strict count (K mults, K-1 adds per output).
    cost = price(spec("conv", [(1, 3, 8, 8), (4, 3, 3, 3)], [(1, 4, 6, 6)], bias=False))
    assert cost.flops - cost.chains == (2 * 3 * 3 * 3 - 1) * 4 * 36 == 7632


def test_a_mac_is_two_flops_and_bias_adds_are_flops():
    cost = price(spec("linear", [(1, 16), (16, 4)], [(1, 4)], bias=True))
    assert cost.flops == 2 * cost.macs + cost.bias_flops
    assert cost.bias_flops == 4


def test_registry_refuses_a_second_formula_for_an_op():
    with pytest.raises(ValueError, match="duplicate formula for op 'conv'"):
        formula("conv", category="contraction")(lambda s: Cost())
    assert get_formula("conv").fn.__name__ == "conv"


def test_every_formula_documents_what_it_counts():
    for entry in formulas():
        assert entry.summary, f"formula for {entry.op} has no docstring"


def test_causal_pairs_and_adaptive_windows():
    # top-left causal mask, 3 queries x 5 keys: rows keep 1, 2, 3 keys -> 6
    assert causal_pairs(3, 5) == 6
    # 5 queries x 3 keys: 1 + 2 + 3 + 3 + 3 = 12
    assert causal_pairs(5, 3) == 12
    # global pooling 7 -> 1: one window of 7
    assert adaptive_window_total(7, 1) == 7
    # 7 -> 2: windows [0,4), [3,7) -> 8 (they overlap)
    assert adaptive_window_total(7, 2) == 8


def test_cost_arithmetic():
    a = Cost(macs=2, flops=5, bias_flops=1, chains=1)
    assert a + a == Cost(4, 10, 2, 2)
    assert a.times(3) == Cost(6, 15, 3, 3)
