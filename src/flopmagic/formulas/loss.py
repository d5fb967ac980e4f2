"""Losses: the negative log-likelihood (what ``nll_loss`` and ``cross_entropy`` reduce to)."""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel


def _samples(spec: OpSpec) -> int:
    """Targets picked: one per sample (and per position, for (N, C, d1, ...) inputs)."""
    return numel(spec.inputs[1]) if len(spec.inputs) > 1 else 1


@formula("nll_loss", category="reduction")
def nll_loss(spec: OpSpec) -> Cost:
    """n: pick each target's log-probability (a gather, free), negate and reduce: n - 1 adds
    and 1 divide for the mean (or n - 1 adds for the sum); per ``n`` targets, n FLOPs.

    inputs: log_probs (N, C, ...), target (N, ...).
    """
    return Cost.elementwise(_samples(spec))


@formula("nll_loss_backward", category="backward")
def nll_loss_backward(spec: OpSpec) -> Cost:
    """n: scatter -1/n (mean) into each picked position of a zero gradient.

    inputs: grad_output, log_probs, target; outputs: d log_probs.
    """
    return Cost.elementwise(_samples(spec))


@formula("cross_entropy", category="reduction")
def cross_entropy(spec: OpSpec) -> Cost:
    """log_softmax over the classes then nll_loss: 5 per logit + 1 log per row (see
    ``log_softmax``), + n for the loss (see ``nll_loss``).

    inputs: logits (N, C), target (N,).
    """
    logits = spec.inputs[0]
    classes = logits[1] if len(logits) > 1 else (logits[0] if logits else 1)
    rows = numel(logits) // max(classes, 1)
    return Cost.elementwise(5 * numel(logits) + rows + _samples(spec))
