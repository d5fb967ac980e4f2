"""The per-token training formulas flopmagic's measured counts are set beside."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenFormulas", "token_formulas"]


@dataclass(frozen=True)
class TokenFormulas:
    """Training FLOPs per token by the usual templates.

    ``six_n``: 6N (Kaplan et al.: 2N forward + 4N backward, attention ignored).
    ``nanogpt``: 6N + 12·L·H·Q·T (nanoGPT/PaLM: adds QK^T and AV, 2 matmuls x 2 FLOPs x
    3 passes over T keys of H heads of width Q per layer, counted in full).
    ``attention``: the 12·L·H·Q·T term alone. A measured count differs by: the embedding
    (a gather, counted 0 here but inside N there), elementwise work (norms, activations,
    softmax), causal halving, and frozen weights (no weight-gradient matmuls: 4N -> 2N).
    """

    params: int
    layers: int
    heads: int
    head_dim: int
    tokens: int
    six_n: int
    attention: int
    nanogpt: int


def token_formulas(params: int, layers: int, heads: int, head_dim: int, tokens: int) -> TokenFormulas:
    """6N and 6N + 12·L·H·Q·T per token at sequence length ``tokens``."""
    attention = 12 * layers * heads * head_dim * tokens
    return TokenFormulas(params, layers, heads, head_dim, tokens, 6 * params, attention, 6 * params + attention)
