"""Reductions: adds (sum, mean), compares (max, min, argmax) and their composites."""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel


def _in_out(spec: OpSpec) -> tuple[int, int]:
    return numel(spec.inputs[0]), numel(spec.outputs[0])


@formula("sum", "prod", category="reduction")
def reduce_sum(spec: OpSpec) -> Cost:
    """numel(x) - numel(y): each output of n inputs takes n - 1 adds (or multiplies).

    inputs: x; outputs: y.
    """
    elements, outputs = _in_out(spec)
    return Cost.elementwise(elements - outputs)


@formula("mean", category="reduction")
def reduce_mean(spec: OpSpec) -> Cost:
    """numel(x): n - 1 adds and 1 divide per output."""
    elements, _ = _in_out(spec)
    return Cost.elementwise(elements)


@formula("max", "min", "argmax", "argmin", category="reduction")
def reduce_max(spec: OpSpec) -> Cost:
    """numel(x) - numel(y) compares."""
    elements, outputs = _in_out(spec)
    return Cost.elementwise(elements - outputs)


@formula("var", "std", category="reduction")
def reduce_var(spec: OpSpec) -> Cost:
    """4 per input element (mean: add; subtract; square; sum) + 1 sqrt per output for std."""
    elements, outputs = _in_out(spec)
    return Cost.elementwise(4 * elements + (outputs if spec.op == "std" else 0))


@formula("norm", category="reduction")
def reduce_norm(spec: OpSpec) -> Cost:
    """2-norm: square and add per element, 1 sqrt per output (2 * numel(x))."""
    elements, _ = _in_out(spec)
    return Cost.elementwise(2 * elements)  # n multiplies, n - 1 adds, 1 sqrt per output


@formula("logsumexp", category="reduction")
def logsumexp(spec: OpSpec) -> Cost:
    """4 per element (max-compare, subtract, exp, add) + log and add-back per output."""
    elements, outputs = _in_out(spec)
    return Cost.elementwise(4 * elements + 2 * outputs)


@formula("cumsum", "cumprod", category="reduction")
def cumsum(spec: OpSpec) -> Cost:
    """1 add (or multiply) per element."""
    elements, _ = _in_out(spec)
    return Cost.elementwise(elements)
