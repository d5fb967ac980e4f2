"""The per-token training formulas flopmagic's measured counts are set beside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenFormulas", "TrainingCount", "optimizer_step_flops", "token_formulas", "training"]


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


@dataclass(frozen=True)
class TrainingCount:
    """One measured training step (forward + backward) of a language model, next to the templates.

    ``hardware_flops``: what ran, activation recomputation (gradient checkpointing) included:
    the numerator of HFU. ``model_flops``: the same step without recomputation: the
    numerator of MFU. ``recompute_flops`` = their difference. Frozen weights have no
    weight-gradient matmuls (autograd skips them; the trace counts what ran).
    ``formulas``: 6N and nanoGPT per token at this sequence length; ``six_nd``/``nanogpt``:
    those times the step's tokens. ``terms``: the difference explained term by term.
    """

    tokens: int
    params: int
    trainable_params: int
    forward_flops: int
    backward_flops: int
    model_flops: int
    hardware_flops: int
    recompute_flops: int
    recompute_macs: int
    six_nd: int
    nanogpt: int
    formulas: TokenFormulas
    terms: tuple[tuple[str, int], ...]


def training(model: Any, inputs: Any, *, tokens: int | None = None) -> TrainingCount:
    """Measure one training step of a Hugging Face causal LM on ``inputs`` (a dict with
    ``input_ids``; pass ``labels`` for the real loss).

    With gradient checkpointing on, the step is traced twice: as configured (hardware
    FLOPs) and with each checkpointed layer's ``gradient_checkpointing`` flag off for the
    call (model FLOPs); the flags are put back.

    Raises:
        ProfilingError: the model cannot be traced or has no ``config``.
    """
    from ..api import profile
    from ..errors import ProfilingError
    from .kv import kv_config

    config = getattr(model, "config", None)
    if config is None:
        raise ProfilingError(f"training: {type(model).__name__} has no Hugging Face config")
    ids = inputs["input_ids"]
    batch, seq = int(ids.shape[0]), int(ids.shape[-1])
    tokens = tokens or batch * seq
    measured = profile(model, inputs=inputs, training=True)
    checkpointed = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False) is True]
    plain = measured
    if checkpointed:
        for m in checkpointed:
            m.gradient_checkpointing = False
        try:
            plain = profile(model, inputs=inputs, training=True)
        finally:
            for m in checkpointed:
                m.gradient_checkpointing = True
    forward = sum(r.flops for r in plain.records if r.phase == "forward")
    backward = plain.totals.flops - forward
    layers, _, head_dim = kv_config(config)
    heads = int(config.num_attention_heads)
    params = plain.params
    trainable = sum(int(p.numel()) for p in model.parameters() if p.requires_grad)
    formulas = token_formulas(params, layers, heads, head_dim, seq)
    embedding = 2 * int(getattr(config, "vocab_size", 0)) * int(getattr(config, "hidden_size", 0)) * tokens
    terms = (
        ("measured forward - 2ND (attention, elementwise; minus the embedding gather)", forward - 2 * params * tokens),
        ("  of which the embedding's 2ND share, a gather counted 0 when measured", -embedding),
        ("measured backward - 4ND (frozen weights: no weight-gradient matmul)", backward - 4 * params * tokens),
        ("nanoGPT attention term 12LHQT per token, x tokens", formulas.attention * tokens),
        (
            "recomputed forward (gradient checkpointing): HFU - MFU numerators",
            measured.totals.flops - plain.totals.flops,
        ),
    )
    return TrainingCount(
        tokens=tokens,
        params=params,
        trainable_params=trainable,
        forward_flops=forward,
        backward_flops=backward,
        model_flops=plain.totals.flops,
        hardware_flops=measured.totals.flops,
        recompute_flops=measured.totals.flops - plain.totals.flops,
        recompute_macs=measured.totals.macs - plain.totals.macs,
        six_nd=formulas.six_n * tokens,
        nanogpt=formulas.nanogpt * tokens,
        formulas=formulas,
        terms=terms,
    )


def optimizer_step_flops(step: Callable[[], Any]) -> int:
    """FLOPs of one optimizer update, traced: ``step`` (e.g. ``optimizer.step``) runs once
    (it updates the weights: call it where that is intended) while PyTorch's ops are
    recorded. AdamW (``foreach=False``) costs 14 FLOPs per trainable element plus its
    step counter; add it to :attr:`TrainingCount.hardware_flops` for a whole step.

    Raises:
        ProfilingError: ``step`` failed.
    """
    from ..capture import CellCapture
    from ..errors import ProfilingError

    capture = CellCapture({})
    try:
        with capture:
            step()
    except Exception as error:
        raise ProfilingError(f"optimizer step failed: {type(error).__name__}: {error}") from error
    return sum(p.totals.flops for p in capture.results().profiles)
