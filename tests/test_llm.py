"""flopmagic.llm: generation traced with a real KV cache, KV bytes, bounds, MoE routing, LoRA training.

Expected numbers are derived in the comments (Llama-2-7B shape: hidden 4096, intermediate
11008, 32 layers, 32 heads of 128, vocab 32000).
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import flopmagic  # noqa: E402
from flopmagic import llm  # noqa: E402
from flopmagic.errors import ProfilingError  # noqa: E402

# Linear weights per token: 32 x (4 x 4096^2 attention + 3 x 4096 x 11008 MLP) + 4096 x 32000 lm_head
# = 32 x (67,108,864 + 135,266,304) + 131,072,000 = 6,607,077,376 MACs.
LINEAR_MACS_PER_TOKEN = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 4096 * 32000
ATTENTION_MACS_PER_KEY = 32 * 2 * 4096  # QK^T and AV: 2 x heads x head_dim per layer per key


def _llama(**overrides: Any) -> Any:
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**overrides))
    return model.to(torch.bfloat16)


@pytest.fixture(scope="module")
def llama7b() -> llm.Generation:
    return llm.generation("transformers:LlamaForCausalLM", prefill=128, decode=16, hardware="h100-sxm")


def test_llama7b_prefill_matches_calflops_850_gmacs(llama7b: llm.Generation) -> None:
    assert LINEAR_MACS_PER_TOKEN == 6_607_077_376
    # 128 x 6,607,077,376 + 32 x 2 x 128 x 128 x 4096 = 845,705,904,128 + 4,294,967,296
    expected = 128 * LINEAR_MACS_PER_TOKEN + 32 * 2 * 128 * 128 * 4096
    assert expected == 850_000_871_424
    assert llama7b.prefill_step.macs == expected
    assert llama7b.params == 6_738_415_616
    assert "causal attention detected" in llama7b.causal and "in full" in llama7b.causal


def test_llama7b_decode_step_at_position_p(llama7b: llm.Generation) -> None:
    # Position convention: decode step i processes position p = 128 + i, with p tokens cached,
    # and its query attends to p + 1 keys: MACs = 6,607,077,376 + 32 x 2 x 4096 x (p + 1).
    assert len(llama7b.decode_steps) == 16
    for step in llama7b.decode_steps:
        assert step.context == step.position + 1
        assert step.macs == LINEAR_MACS_PER_TOKEN + ATTENTION_MACS_PER_KEY * (step.position + 1)
    assert llama7b.decode_steps[0].macs == 6_607_077_376 + 262_144 * 129 == 6_640_893_952
    assert llama7b.affine and "affine in position" in llama7b.affinity
    assert llama7b.decode_macs_per_position == ATTENTION_MACS_PER_KEY == 262_144
    assert [s.measured for s in llama7b.decode_steps].count(True) == 3
    # totals: prefill + sum over p = 128..143 of the affine decode cost
    decode_total = sum(LINEAR_MACS_PER_TOKEN + ATTENTION_MACS_PER_KEY * (p + 1) for p in range(128, 144))
    assert llama7b.macs == 850_000_871_424 + decode_total


def test_llama7b_kv_cache_bytes_and_bounds(llama7b: llm.Generation) -> None:
    # 2 (K and V) x 32 layers x 32 KV heads x 128 head_dim x 2 bytes (bf16), read from the real cache
    assert llama7b.kv_bytes_per_token == 2 * 32 * 32 * 128 * 2 == 524_288
    assert llm.kv_bytes_per_token(32, 32, 128, 2) == 524_288
    assert llama7b.prefill_step.kv_cache_bytes == 128 * 524_288
    assert llama7b.decode_steps[-1].kv_cache_bytes == 144 * 524_288
    assert llama7b.weight_bytes == 2 * 6_738_415_616
    b = llama7b.bounds
    assert b is not None and b.device == "h100-sxm"
    dev = flopmagic.hardware.get_device("h100-sxm")
    assert b.prefill_seconds == llama7b.prefill_step.flops / dev.matrix_peak("bf16")
    assert b.decode_seconds_per_token == (2 * 6_738_415_616 + 144 * 524_288) / dev.bandwidth
    assert b.max_cache_tokens == (dev.memory_bytes - 2 * 6_738_415_616) // 524_288
    assert b.max_batch_at_context == b.max_cache_tokens // 144
    text = llama7b.to_text()
    assert "850.001 G" in text and "extrapolated" in text and "h100-sxm" in text


def test_gqa_kv_cache_is_a_quarter() -> None:
    # 8 KV heads instead of 32: 2 x 2 layers x 8 x 128 x 2 bytes = 8,192 = (2 x 2 x 32 x 128 x 2) / 4
    g = llm.generation(_llama(num_hidden_layers=2, num_key_value_heads=8), prefill=4, decode=0)
    assert g.kv_bytes_per_token == 8_192 == llm.kv_bytes_per_token(2, 32, 128, 2) // 4
    assert llm.kv_config(transformers.LlamaConfig(num_key_value_heads=8)) == (32, 8, 128)


def test_extrapolated_steps_equal_traced_steps() -> None:
    model = _llama(num_hidden_layers=2, hidden_size=256, intermediate_size=512, num_attention_heads=4, vocab_size=1000)
    g = llm.generation(model, prefill=16, decode=7)
    assert g.affine and [s.position for s in g.decode_steps if s.measured] == [16, 19, 22]
    # trace position 18 (extrapolated) directly: a cache of 18 tokens, then one token
    cache = transformers.DynamicCache()
    with torch.no_grad():
        model(input_ids=torch.zeros(1, 18, dtype=torch.long, device="meta"), past_key_values=cache)
    one = flopmagic.profile(
        model, inputs={"input_ids": torch.zeros(1, 1, dtype=torch.long, device="meta"), "past_key_values": cache}
    )
    step = g.decode_steps[2]
    assert step.position == 18 and not step.measured
    assert (step.macs, step.flops) == (one.totals.macs, one.totals.flops)
    assert g.flops_per_token(18) == one.totals.flops


def test_few_decode_steps_are_all_measured() -> None:
    g = llm.generation(
        _llama(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=2, vocab_size=100),
        prefill=4,
        decode=2,
    )
    assert not g.affine and all(s.measured for s in g.steps) and "every step measured" in g.affinity
    with pytest.raises(ProfilingError):
        g.flops_per_token(10)


def test_lm_head_last_position_and_causal_convention() -> None:
    model = _llama(num_hidden_layers=1, hidden_size=256, intermediate_size=512, num_attention_heads=4, vocab_size=1000)
    every = llm.generation(model, prefill=32, decode=0)
    last = llm.generation(model, prefill=32, decode=0, lm_head="last")
    # logits_to_keep=1: the lm_head runs on 1 position instead of 32: 31 x 256 x 1000 MACs fewer
    assert every.prefill_step.macs - last.prefill_step.macs == 31 * 256 * 1000
    half = llm.generation(model, prefill=32, decode=0, convention="flopmagic-causal")
    assert "half" in half.causal
    # 4 heads x 64 x (32 x 32 - 528 unmasked pairs) x 2 matmuls fewer: 528 = 32 x 33 / 2
    assert every.prefill_step.macs - half.prefill_step.macs == 4 * 64 * (32 * 32 - 528) * 2


def test_generation_rejects_bad_sizes() -> None:
    with pytest.raises(ProfilingError):
        llm.generation("transformers:LlamaForCausalLM", prefill=0, decode=1)
    with pytest.raises(ProfilingError, match=r"no \.config"):
        llm.generation(torch.nn.Linear(2, 2), prefill=1, decode=1)


def test_moe_expert_macs_are_the_routed_tokens() -> None:
    torch.manual_seed(0)
    cfg = transformers.MixtralConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
    )
    model = transformers.MixtralForCausalLM(cfg).eval()
    ids = torch.randint(0, 64, (2, 8))
    # Hand count: read the router's top-k choices, then each routed (token, expert) pair runs
    # one expert: gate_up (32 -> 2 x 48) + down (48 -> 32) = 32 x 96 + 48 x 32 = 4,608 MACs.
    chosen: list[Any] = []
    hooks = [
        layer.mlp.gate.register_forward_hook(lambda _m, _i, out: chosen.append(out[2].reshape(-1)))
        for layer in model.model.layers
    ]
    with torch.no_grad():
        model(input_ids=ids)
    for h in hooks:
        h.remove()
    assert len(chosen) == 2
    per_pair = 32 * 2 * 48 + 48 * 32
    expected_macs = sum(int(c.numel()) for c in chosen) * per_pair  # 2 layers x 16 tokens x top-2 pairs
    assert expected_macs == 2 * 16 * 2 * 4_608
    result = llm.moe(model, {"input_ids": ids})
    assert result.expert_macs == expected_macs
    loads = [tuple(c.bincount(minlength=4).tolist()) for c in chosen]
    assert [load for _, load in result.load] == loads
    assert all(sum(load) == 32 for load in loads)
    # experts: 2 layers x 4 experts x 4,608 weights; active per token: 2 of 4 experts
    assert result.expert_params == 2 * 4 * 4_608
    assert result.active_params == result.params - 2 * 4 * 4_608 + 2 * 2 * 4_608


def test_frozen_backbone_lora_backward_macs() -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=4,
    )
    model = peft.get_peft_model(
        transformers.LlamaForCausalLM(cfg),
        peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_alpha=8, lora_dropout=0.0),
    )
    ids = torch.randint(0, 64, (1, 8))
    p = flopmagic.profile(model, inputs={"input_ids": ids, "labels": ids}, training=True)
    backward = [r for r in p.records if r.phase == "backward"]
    # T = 8 tokens, H = 32, I = 64, V = 64, r = 4. Frozen weights: no weight-gradient matmul;
    # input gradients only where the input needs one (everything above the first LoRA):
    #   lm_head dX 8x64x32, down_proj 8x32x64, up/gate 8x64x32 each: 4 x 16,384
    #   o_proj 8x32x32 = 8,192; attention backward dQ,dK,dV,dP: 4 x 4 heads x 8 x 8 x 8 = 8,192
    #   q/k/v_proj: nothing (their input comes from the frozen embedding: no gradient needed)
    # LoRA (q and v): B weight grad 32x8x4, B input grad 8x32x4, A weight grad 4x8x32 (no A input grad)
    lora = 2 * 3 * (8 * 32 * 4)
    assert sum(r.macs for r in backward) == 4 * 16_384 + 8_192 + 8_192 + lora == 88_064
    frozen = [r for r in backward if r.op == "linear" and "lora" not in r.scope]
    assert {r.scope.rsplit(".", 1)[-1] for r in frozen} == {"lm_head", "down_proj", "up_proj", "gate_proj", "o_proj"}


def test_token_formulas() -> None:
    # nanoGPT: 6N + 12 L H Q T; Llama-2-7B shape at T = 4096
    f = llm.token_formulas(6_738_415_616, 32, 32, 128, 4096)
    assert f.six_n == 40_430_493_696
    assert f.attention == 12 * 32 * 32 * 128 * 4096 == 6_442_450_944
    assert f.nanogpt == f.six_n + f.attention


def test_trace_generate_traces_every_forward_of_a_real_generate() -> None:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 100, (1, 6))
    g, out = llm.trace_generate(model, lambda: model.generate(ids, max_new_tokens=5, do_sample=False))
    assert out.shape == (1, 11) and "forward" not in vars(model)  # generated; the wrapper is gone
    # 1 prefill of 6 tokens + 4 decode forwards (the 5th token comes from the 4th decode's logits)
    assert [(s.phase, s.position, s.tokens) for s in g.steps] == [("prefill", 0, 6)] + [
        ("decode", p, 1) for p in range(6, 10)
    ]
    # fp32 KV cache: 2 x 2 layers x 4 heads x 16 head_dim x 4 bytes = 1,024 bytes per token
    assert g.kv_bytes_per_token == 1_024 and g.steps[-1].kv_cache_bytes == 10 * 1_024
    # each decode step equals the meta-device generation's step at the same position
    # (per position: 2 layers x 2 x 4 heads x 16 = 256 attention MACs)
    meta = llm.generation(model, prefill=6, decode=4)
    assert [s.macs for s in g.decode_steps] == [s.macs for s in meta.decode_steps]
    assert g.decode_macs_per_position == 256 and g.affine


def test_cli_profile_prefill_decode() -> None:
    import io

    from flopmagic.cli import main

    out = io.StringIO()
    code = main(
        ["profile", "transformers:LlamaForCausalLM", "--prefill", "128", "--decode", "4", "--format", "json"], out
    )
    assert code == 0
    import json

    data = json.loads(out.getvalue())
    assert data["steps"][0]["macs"] == 850_000_871_424
    # decode at position 131: 6,607,077,376 + 262,144 x 132
    assert data["steps"][-1]["macs"] == 6_607_077_376 + 262_144 * 132
    assert data["kv_bytes_per_token"] == 524_288


def test_training_gradient_checkpointing_hfu_vs_mfu_and_templates() -> None:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4
    )
    model = transformers.LlamaForCausalLM(cfg).train()
    ids = torch.randint(0, 64, (1, 8))
    plain = flopmagic.profile(model, inputs={"input_ids": ids, "labels": ids}, training=True)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    t = llm.training(model, {"input_ids": ids, "labels": ids})
    assert all(layer.gradient_checkpointing for layer in model.model.layers)  # flags put back
    assert t.model_flops == plain.totals.flops  # MFU numerator: the step without recomputation
    # Recomputed in backward, per layer: q,k,v,o 4 x 8x32x32 + attention 2 x 4x8x8x8 + gate/up 2 x 8x32x64
    # = 32,768 + 4,096 + 32,768 = 69,632 MACs; down_proj (8x64x32) is not recomputed: its output is
    # not saved for backward, so non-reentrant checkpointing stops before it. 2 layers: 139,264.
    assert t.recompute_macs == 2 * (4 * 8 * 32 * 32 + 2 * 4 * 8 * 8 * 8 + 2 * 8 * 32 * 64) == 139_264
    assert t.hardware_flops == t.model_flops + t.recompute_flops > t.model_flops
    # templates: N = 24,736 params (2 x 64 x 32 embeddings/head + 2 layers x 12,352 + 32 norm)
    assert t.params == 2 * 64 * 32 + 2 * (4 * 32 * 32 + 3 * 32 * 64 + 2 * 32) + 32 == 24_736
    assert t.six_nd == 6 * 24_736 * 8
    assert t.nanogpt == t.six_nd + 12 * 2 * 4 * 8 * 8 * 8
    assert dict(t.terms)["  of which the embedding's 2ND share, a gather counted 0 when measured"] == -2 * 64 * 32 * 8


def test_sliding_window_is_not_affine_and_every_step_is_traced() -> None:
    cfg = transformers.MistralConfig(
        vocab_size=100,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=8,
    )
    with torch.device("meta"):
        model = transformers.MistralForCausalLM(cfg)
    g = llm.generation(model, prefill=4, decode=12)
    assert not g.affine and all(s.measured for s in g.steps) and "not affine" in g.affinity
    macs = [s.macs for s in g.decode_steps]
    # +4 heads x 16 x 2 = 128 MACs per key until the window is full, then constant
    assert [macs[i + 1] - macs[i] for i in range(3)] == [128, 128, 128]
    assert len(set(macs[-6:])) == 1


def test_frozen_backbone_costs_no_weight_gradients() -> None:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4
    )
    model = transformers.LlamaForCausalLM(cfg)
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("lm_head"))
    ids = torch.randint(0, 64, (1, 8))
    p = flopmagic.profile(model, inputs={"input_ids": ids, "labels": ids}, training=True)
    # only lm_head trains: its weight gradient dW = dY^T (64x8) @ X (8x32) = 16,384 MACs;
    # nothing below it needs a gradient, so no input-gradient matmul anywhere
    backward = [r for r in p.records if r.phase == "backward" and r.macs]
    assert sum(r.macs for r in backward) == 64 * 8 * 32 == 16_384
    assert {r.scope for r in backward} == {"lm_head"}


def test_mixtral_8x7b_on_meta_active_params_and_decode() -> None:
    # MixtralConfig() defaults are Mixtral-8x7B: hidden 4096, 14336 per expert, 32 layers, 8 experts, top-2
    with torch.device("meta"):
        model = transformers.MixtralForCausalLM(transformers.MixtralConfig()).to(torch.bfloat16)
    r = llm.moe(model, {"input_ids": torch.zeros(1, 128, dtype=torch.long, device="meta")})
    expert = 3 * 4096 * 14336  # gate, up, down: 176,160,768 weights (and MACs per routed token)
    assert r.expert_params == 32 * 8 * expert == 45_097_156_608
    # Mistral AI: "46.7B total parameters but only uses 12.9B parameters per token"
    assert r.params == 46_702_792_704
    assert r.active_params == r.params - 32 * 8 * expert + 32 * 2 * expert == 12_879_925_248
    # every token runs 2 experts in each of 32 layers (the routed row count is exact on meta; the split is not)
    assert r.expert_macs == 32 * 128 * 2 * expert and r.load[0][1] == ()
    g = llm.generation(model, prefill=128, decode=8)
    # decode at position 128: attention projections 2 x 4096^2 + 2 x 4096 x 1024 (8 KV heads), router
    # 4096 x 8, 2 experts, per layer; lm_head 4096 x 32000; attention 32 x 2 x 4096 x 129 keys
    linear = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 8 + 2 * expert) + 4096 * 32000
    assert g.decode_steps[0].macs == linear + 32 * 2 * 4096 * 129 == 12_782_403_584
    assert g.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131_072


def test_batch_scales_steps_not_per_token_figures(llama7b: llm.Generation) -> None:
    model = _llama(num_hidden_layers=2, hidden_size=256, intermediate_size=512, num_attention_heads=4, vocab_size=1000)
    one = llm.generation(model, prefill=8, decode=4)
    four = llm.generation(model, prefill=8, decode=4, batch=4)
    assert [s.macs * 4 for s in one.steps] == [s.macs for s in four.steps]
    assert four.kv_bytes_per_token == one.kv_bytes_per_token == 2 * 2 * 4 * 64 * 2  # per token per sequence
    assert four.steps[-1].kv_cache_bytes == 4 * 12 * one.kv_bytes_per_token
    # FLOPs do not scale exactly: the rotary cos/sin tables are computed once for the batch
    assert [s.flops for s in four.steps] != [4 * s.flops for s in one.steps]
    assert four.flops_per_token(20) == (four.steps[0 + 1].flops + four.decode_flops_per_position * 12) // 4
    # every output format of the result
    import json

    assert json.loads(llama7b.render("json"))["steps"][0]["macs"] == 850_000_871_424
    assert "| prefill |" in llama7b.to_markdown() and "prefill,0,128" in llama7b.to_csv().replace(" ", "")
    assert "<pre" in llama7b.to_html() and "text/html" in llama7b._repr_mimebundle_()


def test_a_model_failing_while_its_cache_is_filled_raises_a_flopmagic_error() -> None:
    # prefill 2, decode 8: the probe at position 5 fills a fresh cache with 5 tokens, untraced;
    # a forward that raises past 4 tokens makes that fill fail
    model = _llama(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=2, vocab_size=100)
    original = model.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if kwargs["input_ids"].shape[-1] > 4:
            raise RuntimeError("too long")
        return original(*args, **kwargs)

    model.forward = forward
    with pytest.raises(ProfilingError, match="too long"):
        llm.generation(model, prefill=2, decode=8)


def test_optimizer_step_flops_adamw() -> None:
    model = torch.nn.Linear(10, 20, bias=False)
    optimizer = torch.optim.AdamW(model.parameters(), foreach=False)
    model(torch.randn(3, 10)).sum().backward()
    # per element: weight decay mul 1, exp_avg lerp 3, exp_avg_sq mul 1 + addcmul 3, sqrt 1,
    # bias-correction div 1, + eps 1, addcdiv 3 = 14 FLOPs; 200 elements; + 1 for the step counter
    assert llm.optimizer_step_flops(optimizer.step) == 200 * 14 + 1 == 2_801
    with pytest.raises(ProfilingError, match="optimizer step failed"):
        llm.optimizer_step_flops(lambda: 1 / 0)
