"""The TensorFlow/Keras adapter's registration: Keras models and ``tf.function``s, the
``keras:NAME`` spec, the exact counter and TensorFlow's own profiler, and the cell
watcher for Keras model calls. Nothing here imports TensorFlow."""

from __future__ import annotations

import sys
from typing import Any

from ..schema import ModelProfile
from . import import_tensorflow, register_adapter
from .base import Adapter, Backend, CellWatcher, LoadedModel, RunRequest

__all__ = ["TENSORFLOW"]


def _recognises(model: Any) -> bool:
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return True
    tf = sys.modules.get("tensorflow")
    return tf is not None and (isinstance(model, tf.Module) or hasattr(model, "get_concrete_function"))


def _backend(name: str) -> Backend:
    def run(model: Any, request: RunRequest) -> ModelProfile:
        from .tensorflow import profile_keras

        return profile_keras(
            model,
            request.inputs,
            input_shape=request.input_shape,
            backend=name,
            overrides=request.overrides,
            name=request.name,
        )

    return Backend(name, run)


def _keras(name: str, device: str | None) -> LoadedModel:
    from .tensorflow.specs import load_keras

    return load_keras(name, device)


def _declared_shape(model: Any) -> tuple[int, ...] | None:
    from .tensorflow.specs import declared_input_shape

    return declared_input_shape(model)


def _keras_names() -> list[str]:
    from .tensorflow.specs import keras_names

    return keras_names()


def _watcher() -> CellWatcher:
    from .tensorflow.watch import KerasWatcher

    return KerasWatcher()


def _import(package: str) -> Any:
    import importlib

    import_tensorflow()
    return importlib.import_module(package)


TENSORFLOW = register_adapter(
    Adapter(
        name="tensorflow",
        title="TensorFlow/Keras",
        recognises=_recognises,
        backends=(_backend("flopmagic"), _backend("tf-profiler")),
        spec_prefixes={"keras": _keras},
        spec_help=("keras:NAME",),
        default_input_shape=_declared_shape,
        watch_packages=("keras", "tensorflow"),
        watch_module="keras",
        watcher=_watcher,
        import_package=_import,
        spec_names={"keras": _keras_names},
    )
)
