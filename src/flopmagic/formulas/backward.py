"""Gradient kernels that have no forward op of the same shape (training counts).

Matmul gradients need no entry: autograd runs them as ordinary matmuls.
"""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel, price
from .contraction import conv, conv_transpose

# activation -> (FLOPs per element of its gradient, why)
ACTIVATION_GRADIENTS: dict[str, tuple[int, str]] = {
    "relu": (1, "dy where x > 0: 1 compare"),
    "threshold": (1, "dy where x > t: 1 compare"),
    "hardtanh": (2, "dy where lo < x < hi: 2 compares"),
    "relu6": (2, "dy where 0 < x < 6: 2 compares"),
    "leaky_relu": (2, "x > 0 ? dy : a*dy: compare, multiply"),
    "elu": (3, "compare, multiply, add"),
    "sigmoid": (3, "dy * y * (1 - y): subtract, 2 multiplies"),
    "tanh": (3, "dy * (1 - y^2): square, subtract, multiply"),
    "gelu": (10, "dy * (Phi(x) + x * phi(x)): Phi 3, phi 4, multiply, add, multiply"),
    "gelu_tanh": (16, "inner 5, tanh, 1 - t^2 (2), inner' 3, combine 4, multiply by dy"),
    "silu": (9, "sigmoid 4, then dy * s * (1 + x * (1 - s)): 5"),
    "hardswish": (5, "2 compares, (2x + 3) / 6 (3 FLOPs)... times dy"),
    "hardsigmoid": (3, "2 compares, multiply by 1/6"),
    "softplus": (5, "sigmoid(beta * x) * dy"),
    "mish": (12, "softplus 3, tanh, sigmoid 4, combine 3, multiply by dy"),
    "prelu": (3, "x > 0 ? dy : a*dy (compare, multiply), and x*dy for the slope's gradient"),
}


@formula("activation_backward", category="backward")
def activation_backward(spec: OpSpec) -> Cost:
    """Per element, by activation (see ACTIVATION_GRADIENTS): relu 1 ... gelu 10.

    outputs: dx; attrs: fn (the activation's canonical name).
    """
    name = str(spec.attr("fn", "relu"))
    return Cost.elementwise(numel(spec.outputs[0]) * ACTIVATION_GRADIENTS[name][0])


@formula("softmax_backward", "log_softmax_backward", category="backward")
def softmax_backward(spec: OpSpec) -> Cost:
    """4 per element: y * (dy - sum(dy * y)) is multiply, sum, subtract, multiply.

    outputs: dx.
    """
    return Cost.elementwise(numel(spec.outputs[0]) * 4)


@formula("conv_backward", category="backward")
def conv_backward(spec: OpSpec) -> Cost:
    """grad_input and grad_weight cost the forward MACs each; grad_bias numel(dy) - Cout adds.

    inputs: dy [N, Cout, *out], x [N, Cin, *in], w (forward layout); attrs: transposed,
    grad_input, grad_weight, grad_bias (which gradients are computed).
    """
    grad_out, x, weight = spec.inputs[0], spec.inputs[1], spec.inputs[2]
    forward_op = conv_transpose if spec.flag("transposed") else conv
    forward = forward_op(OpSpec(spec.op, (x, weight), (grad_out,), {}))
    total = Cost()
    if spec.flag("grad_input"):
        total = total + Cost.contraction(forward.macs, chains=numel(x))
    if spec.flag("grad_weight"):
        total = total + Cost.contraction(forward.macs, chains=numel(weight))
    if spec.flag("grad_bias"):
        total = total + Cost.elementwise(numel(grad_out) - grad_out[1])
    return total


@formula("norm_backward", category="backward")
def norm_backward(spec: OpSpec) -> Cost:
    """Batch/layer/group norm gradient: 10 per element (+1 with a weight); eval batch norm: 1.

    inputs: dy; attrs: training (False only for inference batch norm), weight.
    Per element: recompute x_hat (2), dy * x_hat (1), two sums (2), and
    dx = rstd/n * (n*dy - sum(dy) - x_hat * sum(dy*x_hat)) (5); dy * gamma (1).
    """
    elements = numel(spec.inputs[0])
    if not spec.flag("training", True):
        return Cost.elementwise(elements)  # dx = dy * folded scale
    return Cost.elementwise(elements * (10 + int(spec.flag("weight"))))


@formula("pool_backward", category="backward")
def pool_backward(spec: OpSpec) -> Cost:
    """max: 1 add per dy element (scatter into the argmax); avg: 1 divide + kernel adds per dy element.

    inputs: dy; attrs: mode ("max" or "avg"), kernel (elements per window, avg only).
    """
    elements = numel(spec.inputs[0])
    if spec.attr("mode") == "avg":
        return Cost.elementwise(elements * (1 + spec.int_attr("kernel", 1)))
    return Cost.elementwise(elements)


@formula("embedding_backward", category="backward")
def embedding_backward(spec: OpSpec) -> Cost:
    """1 add per element of dy: rows are scatter-added into the table's gradient.

    inputs: dy [*, D].
    """
    return Cost.elementwise(numel(spec.inputs[0]))


@formula("recurrent_backward", category="backward")
def recurrent_backward(spec: OpSpec) -> Cost:
    """2 x the forward layer: input/state gradients and weight gradients each cost its MACs.

    inputs and attrs: those of the forward ``lstm``/``gru``/``rnn`` op, plus cell (its name).
    The gate gradients' elementwise work is taken as twice the forward's too.
    """
    forward = price(OpSpec(str(spec.attr("cell")), spec.inputs, spec.outputs, spec.attrs))
    return forward.times(2)
