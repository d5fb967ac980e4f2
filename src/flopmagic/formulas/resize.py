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


# grid_sample's interpolation_mode integer (aten.grid_sampler_2d/3d) and its name.
GRID_SAMPLE_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}


@formula("grid_sample", category="resize")
def grid_sample(spec: OpSpec) -> Cost:
    """Sampling at grid points: as ``resize`` per output element, by the spatial rank.

    inputs: x [N, C, *spatial], grid [N, *out, d]; outputs: y [N, C, *out];
    attrs: mode ("bilinear", "nearest", "bicubic"). bilinear on a 2-D grid is 3 lerps
    (9 FLOPs), on a 3-D grid (PyTorch calls it bilinear too) 7 lerps (21 FLOPs);
    nearest 0; bicubic 35. Unnormalising the grid coordinates is per output position
    and not counted (as for resize). fvcore prices ``aten::grid_sampler`` as
    ``elementwise_flop_counter(0, 4)``, "assume bilinear": 4 per output element
    (fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS); its preset does that.
    """
    mode = str(spec.attr("mode", "bilinear"))
    y = spec.outputs[0]
    spatial = len(y) - 2
    if mode == "nearest":
        return Cost()
    if mode == "bilinear":
        return Cost.elementwise(numel(y) * _LERP_FLOPS * (2**spatial - 1))
    if mode == "bicubic":
        return Cost.elementwise(numel(y) * _BICUBIC_FLOPS)
    raise ValueError(f"grid_sample: unknown mode {mode!r}")
