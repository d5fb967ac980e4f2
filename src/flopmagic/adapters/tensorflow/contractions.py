"""TensorFlow's contraction ops, listed once.

The graph walker folds a ``BiasAdd`` into the contraction that feeds it, and the
TensorFlow profiler peer counts 2 FLOPs per MAC for these (so its MACs are its FLOPs / 2).
``tests/test_drift.py`` checks the list against the installed TensorFlow's ops.
"""

from __future__ import annotations

__all__ = ["CONTRACTIONS"]

CONTRACTIONS = frozenset(
    {
        "Conv2D",
        "Conv3D",
        "DepthwiseConv2dNative",
        "MatMul",
        "BatchMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Conv2DBackpropInput",
        "Conv3DBackpropInputV2",
    }
)
