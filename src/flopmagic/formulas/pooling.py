"""Pooling: compares (max) and adds plus one divide (average). FLOPs only."""

from __future__ import annotations

import math

from ._registry import Cost, OpSpec, Shape, formula, numel


def kernel_area(spec: OpSpec) -> int:
    """Elements in a pooling window (the ``kernel`` attribute's product)."""
    kernel = spec.attr("kernel")
    if not isinstance(kernel, tuple):
        raise TypeError(f"{spec.op}: attribute 'kernel' must be a tuple of ints")
    return numel(tuple(int(k) for k in kernel if isinstance(k, (int, float))))


@formula("max_pool", category="pooling")
def max_pool(spec: OpSpec) -> Cost:
    """kernel - 1 compares per output element.

    inputs: x [N, C, *spatial]; outputs: y [N, C, *out]; attrs: kernel (tuple).
    Windows that overlap padding are priced as full windows.
    """
    return Cost.elementwise(numel(spec.outputs[0]) * (kernel_area(spec) - 1))


@formula("avg_pool", category="pooling")
def avg_pool(spec: OpSpec) -> Cost:
    """kernel per output element: kernel - 1 adds and 1 divide.

    inputs: x [N, C, *spatial]; outputs: y [N, C, *out]; attrs: kernel (tuple).
    """
    return Cost.elementwise(numel(spec.outputs[0]) * kernel_area(spec))


def adaptive_window_total(size_in: int, size_out: int) -> int:
    """Sum of the window lengths of adaptive pooling along one dimension.

    PyTorch, TensorFlow and ONNX use start = floor(i*in/out), end = ceil((i+1)*in/out),
    i = 0..out-1. The sum has a closed form, so any size prices in constant time:
    sum(floor(i*a/n), i<n) = ((a-1)(n-1) + g - 1)/2 with g = gcd(a, n), and
    ceil(j*a/n) = floor(j*a/n) + 1 except for the g values of j in 1..n where n divides
    j*a; the two sums differ by a + n - g.
    """
    if size_in <= 0 or size_out <= 0:
        return 0
    return size_in + size_out - math.gcd(size_in, size_out)


def _adaptive_window_elements(x: Shape, y: Shape) -> int:
    spatial = len(y) - 2
    windows = 1
    for size_in, size_out in zip(x[-spatial:], y[-spatial:]):
        windows *= adaptive_window_total(size_in, size_out)
    return numel(y[:2]) * windows


@formula("adaptive_avg_pool", category="pooling")
def adaptive_avg_pool(spec: OpSpec) -> Cost:
    """The exact window sizes: window - 1 adds + 1 divide per output (global pooling: numel(x)).

    inputs: x [N, C, *spatial]; outputs: y [N, C, *out].
    """
    return Cost.elementwise(_adaptive_window_elements(spec.inputs[0], spec.outputs[0]))


@formula("adaptive_max_pool", category="pooling")
def adaptive_max_pool(spec: OpSpec) -> Cost:
    """The exact window sizes: window - 1 compares per output.

    inputs: x [N, C, *spatial]; outputs: y [N, C, *out].
    """
    y = spec.outputs[0]
    return Cost.elementwise(_adaptive_window_elements(spec.inputs[0], y) - numel(y))
