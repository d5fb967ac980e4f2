"""Adapters: read a model from one framework into the schema.

Each adapter imports its framework lazily, inside the functions that need it, so
``import flopmagic`` imports no framework.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Literal

__all__ = ["Framework", "detect_framework", "import_tensorflow"]

Framework = Literal["torch", "tensorflow", "onnx"]


def detect_framework(model: Any) -> Framework | None:
    """Which framework an object belongs to, importing none that is not loaded already."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return "tensorflow"
    tf = sys.modules.get("tensorflow")
    if tf is not None and (isinstance(model, tf.Module) or hasattr(model, "get_concrete_function")):
        return "tensorflow"
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        return "onnx"
    if isinstance(model, (bytes, bytearray)):
        return "onnx"
    if isinstance(model, str) and model.lower().endswith(".onnx"):
        return "onnx"
    if hasattr(model, "__fspath__") and str(model).lower().endswith(".onnx"):
        return "onnx"
    return None


def import_tensorflow() -> Any:
    """Import TensorFlow safely next to PyTorch.

    Triton (which CUDA builds of PyTorch bring along and import lazily) crashes the
    process with a segmentation fault when its native library loads after
    TensorFlow's. Loading it first avoids that, at a cost of about half a second.
    """
    import importlib.util
    import os

    if (
        "tensorflow" not in sys.modules
        and "triton" not in sys.modules
        and importlib.util.find_spec("triton") is not None
    ):
        with contextlib.suppress(Exception):  # a broken triton install must not stop TensorFlow users
            import triton  # noqa: F401
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    return tensorflow
