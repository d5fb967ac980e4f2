"""Dot-product work: convolution, transposed convolution, matmul/linear, einsum.

These are the only ops (with attention and recurrent gates) that have MACs.
"""

from __future__ import annotations

from ._registry import Cost, OpSpec, Shape, formula, numel


def _kernel_area(weight: Shape) -> int:
    return numel(weight[2:])


@formula("conv", category="contraction")
def conv(spec: OpSpec) -> Cost:
    """numel(y) * Cin/groups * kernel MACs; bias: 1 add per output.

    inputs: x [N, Cin, *spatial], w [Cout, Cin/groups, *kernel]; outputs: y [N, Cout, *out].
    attrs: bias (bool). Every output position costs a full kernel, padding
    included, as in every published count.
    """
    _, weight = spec.inputs[0], spec.inputs[1]
    out = spec.outputs[0]
    outputs = numel(out)
    macs = outputs * weight[1] * _kernel_area(weight)
    return Cost.contraction(macs, chains=outputs, bias_flops=outputs if spec.flag("bias") else 0)


@formula("conv_transpose", category="contraction")
def conv_transpose(spec: OpSpec) -> Cost:
    """numel(x) * Cout/groups * kernel MACs: every input element is scattered through the kernel.

    inputs: x [N, Cin, *spatial], w [Cin, Cout/groups, *kernel]; outputs: y [N, Cout, *out].
    attrs: bias (bool). ``chains`` is numel(y): each output is one accumulation.
    """
    x, weight = spec.inputs[0], spec.inputs[1]
    outputs = numel(spec.outputs[0])
    macs = numel(x) * weight[1] * _kernel_area(weight)
    return Cost.contraction(macs, chains=outputs, bias_flops=outputs if spec.flag("bias") else 0)


def _broadcast(a: Shape, b: Shape) -> Shape:
    width = max(len(a), len(b))
    a = (1,) * (width - len(a)) + a
    b = (1,) * (width - len(b)) + b
    return tuple(max(x, y) for x, y in zip(a, b))


def matmul_macs(a: Shape, b: Shape) -> tuple[int, int]:
    """(MACs, outputs) of ``a @ b`` with NumPy/PyTorch matmul broadcasting rules."""
    if len(a) == 1:
        a = (1, a[0])
    if len(b) == 1:
        b = (b[0], 1)
    m, k = a[-2], a[-1]
    k2, n = b[-2], b[-1]
    if k != k2:
        raise ValueError(f"matmul: inner dimensions differ: {a} @ {b}")
    batch = numel(_broadcast(a[:-2], b[:-2]))
    return batch * m * k * n, batch * m * n


@formula("matmul", "linear", category="contraction")
def matmul(spec: OpSpec) -> Cost:
    """batch * M*K*N MACs; bias: 1 add per output; alpha/beta scaling: 1 multiply per output each.

    inputs: a [..., M, K], b [..., K, N] (batch dims broadcast); outputs: y [..., M, N].
    attrs: bias (bool), alpha (bool: product scaled), beta (bool: bias scaled).
    ``linear`` is the same arithmetic with a weight operand.
    """
    macs, outputs = matmul_macs(spec.inputs[0], spec.inputs[1])
    bias = outputs if spec.flag("bias") else 0
    extra = outputs * (int(spec.flag("alpha")) + int(spec.flag("beta") and spec.flag("bias")))
    return Cost.contraction(macs, chains=outputs, bias_flops=bias, extra_flops=extra)


def _parse_equation(equation: str, operands: int) -> tuple[list[str], str]:
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise ValueError(f"einsum: ellipsis must be expanded by the adapter: {equation!r}")
    if "->" in equation:
        lhs, rhs = equation.split("->")
    else:
        lhs = equation
        letters = lhs.replace(",", "")
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    if len(terms) != operands:
        raise ValueError(f"einsum: {equation!r} names {len(terms)} operands, got {operands}")
    return terms, rhs


def _pair_cost(left: str, right: str, keep: str, sizes: dict[str, int]) -> tuple[Cost, str]:
    letters = set(left) | set(right)
    result = "".join(c for c in dict.fromkeys(left + right) if c in keep)
    summed = letters - set(result)
    space = numel(tuple(sizes[c] for c in letters))
    outputs = numel(tuple(sizes[c] for c in result))
    if summed:
        # A contraction: one MAC per point of the joint index space.
        return Cost.contraction(space, chains=outputs), result
    # No summed index: an outer or elementwise product, 1 multiply per output.
    return Cost.elementwise(space), result


@formula("einsum", category="contraction")
def einsum(spec: OpSpec) -> Cost:
    """Two operands: one MAC per point of the joint index space when an index is summed.

    inputs: the operands' shapes; outputs: the result's shape; attrs: equation (str,
    ellipsis expanded). No summed index means 1 multiply per output, no MACs; one
    operand is a sum (adds); three or more contract left to right, pairwise.
    """
    equation = spec.attr("equation")
    if not isinstance(equation, str):
        raise TypeError("einsum: attribute 'equation' must be a string")
    terms, rhs = _parse_equation(equation, len(spec.inputs))
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, spec.inputs):
        if len(term) != len(shape):
            raise ValueError(f"einsum: term {term!r} does not match shape {shape}")
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    if len(terms) == 1:
        # A single operand: summed indices are adds, one fewer per output than inputs.
        return Cost.elementwise(numel(spec.inputs[0]) - numel(tuple(sizes[c] for c in rhs)))
    total = Cost()
    current = terms[0]
    for position in range(1, len(terms)):
        later = "".join(terms[position + 1 :]) + rhs
        cost, current = _pair_cost(current, terms[position], later, sizes)
        total = total + cost
    return total
