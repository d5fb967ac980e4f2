"""``%%profile``'s watcher for Keras: notes each model the cell calls (or predicts with)
and the shape of its input, through wrappers on ``keras.Model.__call__``/``predict``
that are removed after the cell. The models are profiled after the cell."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..base import Found, NameOf, first_shape, patched, shape_of

__all__ = ["KerasWatcher"]


def _symbolic(data: Any, keras: Any) -> bool:
    """Whether a call's input is a symbolic KerasTensor (a functional model being built)."""
    kind = getattr(keras, "KerasTensor", None)
    first = data[0] if isinstance(data, (list, tuple)) and data else data
    return kind is not None and isinstance(first, kind)


class KerasWatcher:
    def __init__(self) -> None:
        self.calls: dict[int, tuple[Any, tuple[int, ...] | None]] = {}
        self.batches: dict[int, tuple[str, int]] = {}  # predict/fit: the method and its batch

    def watching(self) -> contextlib.ExitStack[bool | None]:
        import keras

        calls = self.calls
        batches = self.batches
        depth = [0]

        def note(model: Any, data: Any) -> None:
            if not isinstance(model, keras.Model) or _symbolic(data, keras):
                return  # a layer alone, or a model being built on symbolic inputs: no run
            shape = first_shape(data)
            known = calls.get(id(model))
            if known is None or (known[1] is None and shape is not None):
                calls[id(model)] = (model, shape)

        def wrap_call(original: Any) -> Any:
            def __call__(model: Any, *args: Any, **kwargs: Any) -> Any:
                if depth[0] == 0:
                    note(model, args[0] if args else next(iter(kwargs.values()), None))
                depth[0] += 1
                try:
                    return original(model, *args, **kwargs)
                finally:
                    depth[0] -= 1

            return __call__

        def wrap_predict(original: Any) -> Any:
            def predict(model: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
                shape = shape_of(x[0] if isinstance(x, (list, tuple)) else x)
                if shape is not None:
                    calls[id(model)] = (model, (1, *shape[1:]))  # counted per sample
                    batches[id(model)] = (original.__name__, int(shape[0]) if shape else 1)
                depth[0] += 1
                try:
                    return original(model, x, *args, **kwargs)
                finally:
                    depth[0] -= 1

            return predict

        stack = contextlib.ExitStack()
        stack.enter_context(
            patched(keras.Model, "__call__", wrap_call)
            if "__call__" in keras.Model.__dict__
            else patched(keras.Layer, "__call__", wrap_call)
        )
        stack.enter_context(patched(keras.Model, "predict", wrap_predict))
        stack.enter_context(patched(keras.Model, "fit", wrap_predict))  # its forward, per sample
        return stack

    def found(self, name_of: NameOf, *, backend: str, training: bool, convention: str | None = None) -> Iterator[Found]:
        for model, shape in self.calls.values():
            name = name_of(model, getattr(model, "name", type(model).__name__))
            said = self.batches.get(id(model))
            notes = (f"{said[0]} on {said[1]} samples: counted per sample (batch 1)",) if said else ()
            yield Found(name, model=model, input_shape=shape, backend=backend, notes=notes)
