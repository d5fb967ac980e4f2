"""Upsampling and interpolation. Interpolation weights applied per element are FLOPs, not MACs."""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel
from .pooling import adaptive_avg_pool

# A linear interpolation a + w * (b - a) is 3 FLOPs; d-linear needs 2^d - 1 of them.
_LERP_FLOPS = 3
# Bicubic (2-D): 4 rows of 4 taps (4 multiplies + 3 adds = 7 each) then 1 column of 4 taps: 5 * 7.
_BICUBIC_FLOPS = 35


@formula("resize", category="resize")
def resize(spec: OpSpec) -> Cost:
    """nearest: 0 (a copy); linear/bilinear/trilinear: 3 per lerp, 2^d - 1 lerps per output; bicubic: 35.

    inputs: x [N, C, *spatial]; outputs: y [N, C, *out]; attrs: mode
    ("nearest", "linear", "bilinear", "trilinear", "bicubic", "area").
    Computing the source coordinates is per output position, not per element, and not counted.
    """
    mode = str(spec.attr("mode", "nearest"))
    y = spec.outputs[0]
    spatial = len(y) - 2
    if mode.startswith("nearest"):
        return Cost()
    if mode in ("linear", "bilinear", "trilinear"):
        return Cost.elementwise(numel(y) * _LERP_FLOPS * (2**spatial - 1))
    if mode == "bicubic":
        return Cost.elementwise(numel(y) * _BICUBIC_FLOPS)
    if mode == "area":
        return adaptive_avg_pool(spec)
    raise ValueError(f"resize: unknown mode {mode!r}")
