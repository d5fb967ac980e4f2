"""BERT-base and GPT-2 small from their default configs: analytic MAC counts, exactly."""

from __future__ import annotations

import pytest
import torch

import flopmagic

L, D, FF, LAYERS = 128, 768, 3072, 12
# Per layer: QKV 3*L*D*D + scores L*L*D + attention-weighted values L*L*D + output L*D*D + FFN 2*L*D*FF
PER_LAYER = 3 * L * D * D + L * L * D + L * L * D + L * D * D + 2 * L * D * FF
assert PER_LAYER == 931_135_488


@pytest.mark.parametrize("device", [None, "meta"])
def test_bert_base(device):
    profile = flopmagic.profile("transformers:BertModel", device=device)
    # 12 layers + the pooler's dense layer on the [CLS] token (768*768)
    assert profile.macs == LAYERS * PER_LAYER + D * D == 11_174_215_680
    assert profile.params == 109_482_240  # BertConfig() defaults
    assert profile.inputs[0].name == "input_ids" and profile.inputs[0].shape == (1, L)
    assert profile.unsupported() == {}
    attention = [r for r in profile.records if r.op == "attention"]
    assert len(attention) == LAYERS  # the fused SDPA kernel, once per layer


@pytest.mark.parametrize("device", [None, "meta"])
def test_gpt2_small(device):
    profile = flopmagic.profile("transformers:GPT2LMHeadModel", device=device)
    # 12 layers + the LM head 128*768*50257 (tied to the token embedding: its weights count once)
    assert profile.macs == LAYERS * PER_LAYER + L * D * 50257 == 16_114_089_984
    assert profile.params == 124_439_808
    assert profile.unsupported() == {}
    assert all(r.attrs.get("causal") or r.attrs.get("mask") for r in profile.records if r.op == "attention")


def test_gpt2_with_input_shape_and_causal_option():
    profile = flopmagic.profile("transformers:GPT2LMHeadModel", input_shape=(1, 64), device="meta")
    per_layer = 3 * 64 * D * D + 2 * 64 * 64 * D + 64 * D * D + 2 * 64 * D * FF
    assert profile.macs == LAYERS * per_layer + 64 * D * 50257
    causal = profile.under("flopmagic-causal")
    # only the 64*65/2 = 2080 unmasked pairs of each 64*64 = 4096 score matrix: 12 layers * 12 heads * 64 dims * 2 matmuls
    assert profile.macs - causal.macs == LAYERS * 12 * (4096 - 2080) * 64 * 2


def test_training_count_is_close_to_six_n_d():
    # Kaplan et al. 2020: training costs about 6 N FLOPs per token (N = non-embedding parameters).
    profile = flopmagic.profile("transformers:GPT2LMHeadModel", input_shape=(1, 32), device="meta", training=True)
    forward = sum(r.macs for r in profile.records if r.phase == "forward")
    backward = sum(r.macs for r in profile.records if r.phase == "backward")
    assert forward > 0 and backward > 0
    # backward is about twice the forward (a matmul's gradient needs two matmuls)
    assert 1.8 < backward / forward < 2.05
    assert torch.is_grad_enabled()
