"""Attention: scaled dot-product, multi-head (with projections), a whole encoder layer.

Fused kernels (PyTorch's flash/efficient SDPA, ``_native_multi_head_attention``,
``_transformer_encoder_layer_fwd``, ONNX ``Attention``) are priced by composing the
same formulas their unfused graphs would use, so a fused and an unfused model
give the same numbers.
"""

from __future__ import annotations

from ._registry import Cost, OpSpec, Shape, formula, numel
from .activation import SOFTMAX_FLOPS_PER_ELEMENT, activation_flops_per_element
from .contraction import matmul
from .normalization import layer_norm


def causal_pairs(queries: int, keys: int) -> int:
    """Query-key pairs left unmasked by a causal mask (query i sees keys 0..i).

    PyTorch's ``is_causal`` aligns the mask top-left: row i keeps min(i + 1, keys).
    """
    full_rows = min(queries, keys)
    return full_rows * (full_rows + 1) // 2 + max(queries - keys, 0) * keys


def _scores(spec: OpSpec, batch_heads: int, queries: int, keys: int) -> int:
    if spec.flag("causal") and spec.flag("skip_masked"):
        return batch_heads * causal_pairs(queries, keys)
    return batch_heads * queries * keys


@formula("attention", category="attention")
def attention(spec: OpSpec) -> Cost:
    """QK^T and PV: scores*(E + Ev) MACs; per score: 1 scale, 5 softmax, 1 mask (if any).

    inputs: q [B, H, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev] (grouped-query heads
    broadcast); outputs: o [B, H, L, Ev]. attrs: causal, mask, dropout (bools),
    skip_masked (count only the unmasked causal pairs: the causal-aware option).
    """
    q, _, v = spec.inputs[0], spec.inputs[1], spec.inputs[2]
    batch_heads = numel(q[:-2])
    queries, keys = q[-2], spec.inputs[1][-2]
    scores = _scores(spec, batch_heads, queries, keys)
    macs = scores * (q[-1] + v[-1])
    per_score = 1 + SOFTMAX_FLOPS_PER_ELEMENT  # scale by 1/sqrt(E), then softmax
    if spec.flag("mask") or spec.flag("causal"):
        per_score += 1  # the additive (or select) mask
    if spec.flag("dropout"):
        per_score += 2  # draw the keep mask, multiply (scaled)
    chains = batch_heads * queries * (keys + v[-1])
    return Cost.contraction(macs, chains=chains, extra_flops=scores * per_score)


@formula("attention_backward", category="backward")
def attention_backward(spec: OpSpec) -> Cost:
    """dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: 2*scores*(E + Ev) MACs; 4 FLOPs per score.

    inputs: grad_out [B, H, L, Ev], q [B, H, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev].
    Per score: softmax backward dS = P * (dP - rowsum(dP * P)) is 4 FLOPs; the
    1/sqrt(E) scale 1 more. Kernels that recompute P (flash) do extra work not counted.
    """
    _, q, k, v = spec.inputs[0], spec.inputs[1], spec.inputs[2], spec.inputs[3]
    batch_heads = numel(q[:-2])
    scores = _scores(spec, batch_heads, q[-2], k[-2])
    macs = 2 * scores * (q[-1] + v[-1])
    chains = batch_heads * (q[-2] * (k[-2] + q[-1]) + k[-2] * (q[-1] + v[-1]))
    return Cost.contraction(macs, chains=chains, extra_flops=scores * 5)


def _projection(tokens: int, batch: int, d_in: int, d_out: int, bias: bool) -> Cost:
    return matmul(OpSpec("linear", ((batch, tokens, d_in), (d_in, d_out)), (), {"bias": bias}))


def _heads(shape: Shape, heads: int, width: int) -> Shape:
    return (shape[0], heads, shape[1], width // heads)


@formula("multi_head_attention", category="attention")
def multi_head_attention(spec: OpSpec) -> Cost:
    """Q/K/V projections + attention + output projection, each priced by its own formula.

    inputs: query [B, L, E], key [B, S, Ek], value [B, S, Ev]; outputs: [B, L, E].
    attrs: num_heads, bias, mask, causal, need_weights (averaging the heads'
    weights: 1 add per head per score, 1 divide per score).
    """
    query, key, value = spec.inputs[0], spec.inputs[1], spec.inputs[2]
    heads = spec.int_attr("num_heads", 1)
    batch, embed = query[0], query[-1]
    bias = spec.flag("bias")
    cost = (
        _projection(query[1], batch, embed, embed, bias)
        + _projection(key[1], batch, key[-1], embed, bias)
        + _projection(value[1], batch, value[-1], embed, bias)
        + _projection(query[1], batch, embed, embed, bias)
    )
    core = OpSpec(
        "attention",
        (_heads(query, heads, embed), _heads(key, heads, embed), _heads(value, heads, embed)),
        (),
        {k: spec.attrs[k] for k in ("mask", "causal", "dropout", "skip_masked") if k in spec.attrs},
    )
    cost = cost + attention(core)
    if spec.flag("need_weights"):
        cost = cost + Cost.elementwise(batch * heads * query[1] * key[1])
    return cost


@formula("transformer_encoder_layer", category="attention")
def transformer_encoder_layer(spec: OpSpec) -> Cost:
    """Self-attention + 2 residual adds + 2 layer norms + FFN (two linears and an activation).

    inputs: src [B, L, E]; outputs: [B, L, E]. attrs: num_heads, ffn_dim,
    activation ("relu" or "gelu"), mask. This is what PyTorch's fused
    ``_transformer_encoder_layer_fwd`` computes; each part uses its own formula.
    """
    src = spec.inputs[0]
    batch, length, embed = src
    ffn = spec.int_attr("ffn_dim", 4 * embed)
    activation = str(spec.attr("activation", "relu"))
    attn = multi_head_attention(
        OpSpec(
            "multi_head_attention",
            (src, src, src),
            (src,),
            {"num_heads": spec.int_attr("num_heads", 1), "bias": True, "mask": spec.flag("mask")},
        )
    )
    norm = layer_norm(OpSpec("layer_norm", (src,), (src,), {"normalized_ndim": 1, "weight": True, "bias": True}))
    residuals = Cost.elementwise(2 * numel(src))
    ffn_cost = _projection(length, batch, embed, ffn, True) + _projection(length, batch, ffn, embed, True)
    act = Cost.elementwise(batch * length * ffn * activation_flops_per_element(activation))
    return attn + residuals + norm + norm + ffn_cost + act
