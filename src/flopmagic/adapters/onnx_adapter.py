"""The ONNX adapter's registration: ``ModelProto``s, ``.onnx`` files and bytes; the
exact counter; ``%%profile`` notes ONNX Runtime sessions the cell runs.

The graph walker (``adapters/onnx``) imports onnx at module level, so it is imported
only when a model is profiled; ONNX Runtime is watched without onnx installed.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from ..schema import ModelProfile
from . import register_adapter
from .base import Adapter, Backend, Found, NameOf, RunRequest, patched, shape_of

__all__ = ["ONNX"]


def _recognises(model: Any) -> bool:
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        return True
    if isinstance(model, (bytes, bytearray)):
        return True
    if isinstance(model, str) and model.lower().endswith(".onnx"):
        return True
    return hasattr(model, "__fspath__") and str(model).lower().endswith(".onnx")


def _exact(model: Any, run: RunRequest) -> ModelProfile:
    from .onnx import profile_onnx

    return profile_onnx(model, input_shape=run.input_shape, dims=run.dims, overrides=run.overrides, name=run.name)


class OnnxRuntimeWatcher:
    """Notes each ``InferenceSession.run`` of the cell (session and input shapes)."""

    def __init__(self) -> None:
        self.runs: dict[int, tuple[Any, dict[str, tuple[int, ...]]]] = {}

    def watching(self) -> contextlib.AbstractContextManager[None]:
        import onnxruntime

        runs = self.runs

        def wrap(original: Any) -> Any:
            def run(session: Any, output_names: Any, input_feed: Any, *args: Any, **kwargs: Any) -> Any:
                if id(session) not in runs:
                    shapes = {k: s for k, v in dict(input_feed).items() if (s := shape_of(v)) is not None}
                    runs[id(session)] = (session, shapes)
                return original(session, output_names, input_feed, *args, **kwargs)

            return run

        return patched(onnxruntime.InferenceSession, "run", wrap)

    def found(self, name_of: NameOf, *, backend: str, training: bool, convention: str | None = None) -> Iterator[Found]:
        for session, shapes in self.runs.values():
            source = getattr(session, "_model_path", None) or getattr(session, "_model_bytes", None)
            name = name_of(session, "onnx session")
            if source is None:
                yield Found(name, note=f"{name}: ONNX Runtime session without a model path or bytes: not profiled")
                continue
            yield Found(name, model=source, input_shape=shapes)


ONNX = register_adapter(
    Adapter(
        name="onnx",
        title="ONNX",
        recognises=_recognises,
        backends=(Backend("flopmagic", _exact),),
        spec_help=("a path to an .onnx file",),
        file_suffixes=(".onnx",),
        reads_other_files=True,
        watch_packages=("onnxruntime",),
        watch_module="onnxruntime",
        watcher=OnnxRuntimeWatcher,
    )
)
