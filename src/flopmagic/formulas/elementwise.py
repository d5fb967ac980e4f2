"""Elementwise arithmetic and math functions: FLOPs per output element, no MACs.

Broadcasting is priced on the output: ``x + b`` with ``b`` broadcast costs one add
per element of the result. Integer and boolean arithmetic (index and mask
bookkeeping) is not floating-point work; adapters mark it zero-cost.
"""

from __future__ import annotations

from ._registry import Cost, Formula, OpSpec, formula, numel

# name -> (FLOPs per output element, why)
UNIFORM: dict[str, tuple[int, str]] = {
    "mul": (1, "one multiply"),
    "div": (1, "one divide"),
    "pow": (1, "one power (an elementary function)"),
    "square": (1, "x * x"),
    "maximum": (1, "one compare"),
    "minimum": (1, "one compare"),
    "remainder": (1, "one modulo"),
    "fmod": (1, "one modulo"),
    "atan2": (1, "an elementary function"),
    "compare": (1, "one compare (eq, ne, lt, le, gt, ge, isnan, ...)"),
    "neg": (1, "one negate"),
    "abs": (1, "one absolute value"),
    "sign": (1, "one compare"),
    "exp": (1, "an elementary function"),
    "log": (1, "an elementary function"),
    "sqrt": (1, "an elementary function"),
    "rsqrt": (1, "an elementary function"),
    "reciprocal": (1, "one divide"),
    "trig": (1, "an elementary function (sin, cos, tan, asin, sinh, ...)"),
    "erf": (1, "an elementary function (erf, erfc, erfinv)"),
    "round": (1, "one rounding (floor, ceil, round, trunc, frac)"),
    "lerp": (3, "a + w * (b - a): subtract, multiply, add"),
    "squared_difference": (2, "(a - b)^2: subtract, multiply"),
    "hypot": (4, "sqrt(a*a + b*b): 2 multiplies, add, sqrt"),
    "nan_to_num": (3, "isnan, isposinf, isneginf tests"),
    "dropout": (2, "draw the keep mask, multiply by mask / (1 - p)"),
}


def _uniform(name: str, flops: int, reason: str) -> Formula:
    def fn(spec: OpSpec) -> Cost:
        return Cost.elementwise(numel(spec.outputs[0]) * flops)

    fn.__name__ = fn.__qualname__ = f"{name}_formula"
    fn.__doc__ = f"{flops} per element: {reason}.\n\noutputs: y (any shape)."
    return fn


for _name, (_flops, _reason) in UNIFORM.items():
    formula(_name, category="elementwise")(_uniform(_name, _flops, _reason))


@formula("add", "sub", category="elementwise")
def add(spec: OpSpec) -> Cost:
    """1 per element; 2 when the second operand is scaled (``alpha != 1``).

    outputs: y; attrs: alpha (bool).
    """
    return Cost.elementwise(numel(spec.outputs[0]) * (1 + int(spec.flag("alpha"))))


@formula("clamp", category="elementwise")
def clamp(spec: OpSpec) -> Cost:
    """1 compare per bound per element (clamp(x, lo, hi) is 2, clamp_min is 1).

    outputs: y; attrs: bounds (1 or 2).
    """
    return Cost.elementwise(numel(spec.outputs[0]) * spec.int_attr("bounds", 2))


@formula("addcmul", "addcdiv", category="elementwise")
def addcmul(spec: OpSpec) -> Cost:
    """x + value * (a op b): multiply or divide, add, + 1 multiply when value != 1.

    outputs: y; attrs: scaled (bool).
    """
    return Cost.elementwise(numel(spec.outputs[0]) * (2 + int(spec.flag("scaled"))))
