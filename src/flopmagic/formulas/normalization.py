"""Normalization layers: batch, layer, group, instance and RMS norm. FLOPs only, no MACs.

A per-element multiply-add (scale and shift) is elementwise work, not a MAC:
MACs are reserved for dot products, so that MAC totals agree across conventions.
"""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel


@formula("batch_norm", category="normalization")
def batch_norm(spec: OpSpec) -> Cost:
    """Inference: 2 per element (folded scale, shift) + 5 per channel to fold; training: 5-7 per element.

    inputs: x [N, C, *]; attrs: training, affine (bools).
    Inference folds (x - mean) * rsqrt(var + eps) * gamma + beta into x * s + t:
    per channel add eps, rsqrt, multiply gamma, multiply mean, subtract from beta
    (3 without affine). Training per element: sum (mean), subtract, square, sum
    (variance), multiply by rstd, + multiply and add if affine; per channel: 2
    divides, add eps, rsqrt, and 7 to update the running mean and variance.
    """
    x = spec.inputs[0]
    elements, channels = numel(x), x[1] if len(x) > 1 else 1
    affine = spec.flag("affine")
    if spec.flag("training"):
        per_element = 5 + (2 if affine else 0)
        return Cost.elementwise(elements * per_element + channels * (4 + 7))
    return Cost.elementwise(elements * 2 + channels * (5 if affine else 3))


def _row_norm(elements: int, rows: int, per_element: int, per_row: int) -> Cost:
    return Cost.elementwise(elements * per_element + rows * per_row)


@formula("layer_norm", category="normalization")
def layer_norm(spec: OpSpec) -> Cost:
    """5 per element (sum, subtract mean, square, sum, multiply rstd) + 1 per weight, bias; 4 per row.

    inputs: x; attrs: normalized_ndim (trailing dims normalised together), weight, bias.
    Per row: divide for the mean, divide for the variance, add eps, rsqrt.
    """
    x = spec.inputs[0]
    width = numel(x[len(x) - spec.int_attr("normalized_ndim", 1) :])
    elements = numel(x)
    per_element = 5 + int(spec.flag("weight")) + int(spec.flag("bias"))
    return _row_norm(elements, elements // max(width, 1), per_element, 4)


@formula("group_norm", "instance_norm", category="normalization")
def group_norm(spec: OpSpec) -> Cost:
    """As layer norm over each (sample, group): 5 per element + 2 if affine; 4 per group.

    inputs: x [N, C, *]; attrs: groups (instance norm: groups = C), affine.
    """
    x = spec.inputs[0]
    groups = spec.int_attr("groups", x[1] if len(x) > 1 else 1)
    per_element = 5 + (2 if spec.flag("affine") else 0)
    return _row_norm(numel(x), x[0] * groups, per_element, 4)


@formula("rms_norm", category="normalization")
def rms_norm(spec: OpSpec) -> Cost:
    """3 per element (square, sum, multiply rrms) + 1 if weighted; 3 per row (divide, add eps, rsqrt).

    inputs: x; attrs: normalized_ndim, weight.
    """
    x = spec.inputs[0]
    width = numel(x[len(x) - spec.int_attr("normalized_ndim", 1) :])
    elements = numel(x)
    return _row_norm(elements, elements // max(width, 1), 3 + int(spec.flag("weight")), 3)
