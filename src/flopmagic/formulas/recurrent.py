"""Recurrent layers: gate matmuls are MACs; gate activations and state updates are FLOPs.

inputs: x [T, N, I] (sequence first) for every op here. attrs: hidden_size,
num_layers, bidirectional, bias_vectors (how many bias vectors each gate adds:
2 in PyTorch and ONNX (input and recurrent), 1 in Keras LSTM, 2 in Keras GRU with
reset_after), nonlinearity (RNN only: "tanh" or "relu").
"""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula
from .activation import activation_flops_per_element


def _layers(spec: OpSpec, gates: int, elementwise_per_hidden: int) -> Cost:
    steps, batch, features = spec.inputs[0]
    hidden = spec.int_attr("hidden_size", 1)
    directions = 2 if spec.flag("bidirectional") else 1
    bias_vectors = spec.int_attr("bias_vectors", 2)
    total = Cost()
    width = features
    for _ in range(spec.int_attr("num_layers", 1)):
        # [W_ih W_hh] @ [x; h]: one dot product of length I + H per gate unit.
        macs = gates * hidden * (width + hidden)
        step = Cost.contraction(
            macs * batch,
            chains=gates * hidden * batch,
            bias_flops=bias_vectors * gates * hidden * batch,
            extra_flops=elementwise_per_hidden * hidden * batch,
        )
        total = total + step.times(steps * directions)
        width = hidden * directions
    return total


_SIGMOID = activation_flops_per_element("sigmoid")
_TANH = activation_flops_per_element("tanh")


@formula("lstm", category="recurrent")
def lstm(spec: OpSpec) -> Cost:
    """4H(I+H) MACs per step; 3 sigmoids, 2 tanh, c = f*c + i*g (3), h = o*tanh(c) (1) per unit."""
    return _layers(spec, 4, 3 * _SIGMOID + 2 * _TANH + 3 + 1)


@formula("gru", category="recurrent")
def gru(spec: OpSpec) -> Cost:
    """3H(I+H) MACs per step; 2 sigmoids, r*(W_hn h) (1), + (1), tanh, h = (1-z)*n + z*h (4) per unit."""
    return _layers(spec, 3, 2 * _SIGMOID + 1 + 1 + _TANH + 4)


@formula("rnn", category="recurrent")
def rnn(spec: OpSpec) -> Cost:
    """H(I+H) MACs per step; 1 activation (tanh or relu: 1 FLOP) per unit."""
    nonlinearity = str(spec.attr("nonlinearity", "tanh"))
    return _layers(spec, 1, activation_flops_per_element(nonlinearity))
