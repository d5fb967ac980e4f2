"""Activations and softmax: FLOPs per element, no MACs.

Counting rule: each elementary function (exp, log, sqrt, rsqrt, tanh, erf, ...)
is 1 FLOP, as are compares; an activation costs the elementary steps of its
definition. The reason for every constant stands next to it.
"""

from __future__ import annotations

from ._registry import Cost, Formula, OpSpec, formula, numel

# name -> (FLOPs per output element, the definition that gives that number)
ACTIVATIONS: dict[str, tuple[int, str]] = {
    "relu": (1, "max(x, 0): 1 compare"),
    "relu6": (2, "min(max(x, 0), 6): 2 compares"),
    "hardtanh": (2, "clamp(x, lo, hi): 2 compares"),
    "threshold": (1, "x > t ? x : v: 1 compare"),
    "leaky_relu": (2, "x > 0 ? x : a*x: 1 compare, 1 multiply"),
    "prelu": (2, "x > 0 ? x : a*x: 1 compare, 1 multiply"),
    "elu": (4, "x > 0 ? x : a*(exp(x) - 1): compare, exp, subtract, multiply"),
    "selu": (5, "scale * elu(x): elu's 4 + 1 multiply"),
    "celu": (5, "x > 0 ? x : a*(exp(x/a) - 1): compare, divide, exp, subtract, multiply"),
    "sigmoid": (4, "1 / (1 + exp(-x)): negate, exp, add, divide"),
    "hardsigmoid": (4, "relu6(x + 3) / 6: add, 2 compares, divide"),
    "tanh": (1, "tanh is an elementary function"),
    "silu": (5, "x * sigmoid(x): sigmoid's 4 + 1 multiply"),
    "hardswish": (5, "x * relu6(x + 3) / 6: add, 2 compares, multiply, divide"),
    "gelu": (5, "0.5 * x * (1 + erf(x / sqrt(2))): divide, erf, add, 2 multiplies"),
    "gelu_tanh": (
        9,
        "0.5*x*(1 + tanh(c*(x + 0.044715*x^3))): x^3 (2), *0.044715, +x, *c, tanh, +1, *x, *0.5",
    ),
    "softplus": (3, "log(1 + exp(x)): exp, add, log"),
    "mish": (5, "x * tanh(softplus(x)): softplus's 3, tanh, multiply"),
    "softsign": (3, "x / (1 + |x|): abs, add, divide"),
    "logsigmoid": (5, "-softplus(-x): negate, exp, add, log, negate"),
}


# softmax per element: max-compare, subtract max, exp, sum, divide.
SOFTMAX_FLOPS_PER_ELEMENT = 5


def activation_flops_per_element(name: str) -> int:
    """FLOPs per element of an activation, by its canonical name."""
    return ACTIVATIONS[name][0]


def _per_element(name: str, flops: int, reason: str) -> Formula:
    def fn(spec: OpSpec) -> Cost:
        return Cost.elementwise(numel(spec.outputs[0]) * flops)

    fn.__name__ = fn.__qualname__ = f"{name}_formula"
    fn.__doc__ = f"{flops} per element: {reason}.\n\noutputs: y (any shape)."
    return fn


for _name, (_flops, _reason) in ACTIVATIONS.items():
    formula(_name, category="activation")(_per_element(_name, _flops, _reason))


def _rows(spec: OpSpec) -> int:
    shape = spec.inputs[0]
    dim = spec.int_attr("dim", -1)
    width = shape[dim] if shape else 1
    return numel(shape) // max(width, 1)


@formula("softmax", category="activation")
def softmax(spec: OpSpec) -> Cost:
    """5 per element: max-compare, subtract max, exp, sum, divide.

    inputs: x; attrs: dim.
    """
    return Cost.elementwise(numel(spec.inputs[0]) * SOFTMAX_FLOPS_PER_ELEMENT)


@formula("log_softmax", category="activation")
def log_softmax(spec: OpSpec) -> Cost:
    """5 per element (max-compare, subtract max, exp, sum, subtract log-sum) + 1 log per row.

    inputs: x; attrs: dim.
    """
    return Cost.elementwise(numel(spec.inputs[0]) * 5 + _rows(spec))
