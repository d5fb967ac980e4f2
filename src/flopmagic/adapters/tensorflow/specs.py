"""Keras model specs: ``keras:NAME`` (any ``keras.applications`` builder, ``weights=None``)."""

from __future__ import annotations

from typing import Any

from ...errors import SpecError
from ..base import LoadedModel

__all__ = ["declared_input_shape", "load_keras"]


def load_keras(name: str, device: str | None) -> LoadedModel:
    from .. import import_tensorflow

    try:
        import_tensorflow()
        import keras
    except ImportError as error:
        raise SpecError("keras: specs need TensorFlow/Keras: pip install 'flopmagic[tensorflow]'") from error
    builder = getattr(keras.applications, name, None)
    if builder is None or not callable(builder):
        raise SpecError(f"keras.applications has no model {name!r}; use a name such as ResNet50 or MobileNetV2")
    model = builder(weights=None)
    shape = tuple(int(d) if d is not None else 1 for d in model.input_shape)
    return LoadedModel(model, "tensorflow", name, shape)


def declared_input_shape(model: Any) -> tuple[int, ...] | None:
    """The shape a built Keras model declares for its first input (unknown sizes as 1)."""
    if not getattr(model, "inputs", None):
        return None
    return tuple(int(d) if d is not None else 1 for d in model.inputs[0].shape)


def keras_names() -> list[str]:
    """The model constructors in ``keras.applications``."""
    from .. import import_tensorflow

    import_tensorflow()
    import keras

    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))
