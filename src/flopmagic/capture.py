"""Capture what a block of code computes: PyTorch forwards, Keras model calls, ONNX Runtime runs.

PyTorch is recorded op by op while the block runs (global module hooks and a
dispatch mode: nothing on the user's modules changes). Keras and ONNX Runtime
calls are noted (model and input shapes) through wrappers put on
``keras.Model.__call__``/``predict`` and ``onnxruntime.InferenceSession.run`` for
the duration of the block and removed afterwards; those models are profiled
after the block. Only frameworks already imported when the block starts can be
watched: :func:`imports_of` tells the caller which ones a block imports.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .schema import ModelProfile

__all__ = ["WATCHED", "Captured", "CellCapture", "imports_of"]

# top-level packages whose models a block's calls can be captured from
WATCHED = ("torch", "torchvision", "transformers", "keras", "tensorflow", "onnxruntime")


def imports_of(source: str) -> list[str]:
    """Packages from ``WATCHED`` that ``source`` imports (by its AST), PyTorch's first:
    TensorFlow must come after it (see :func:`flopmagic.adapters.import_tensorflow`)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return [name for name in WATCHED if name in found]


@dataclass
class Captured:
    """Profiles of what ran, and notes on what could not be profiled."""

    profiles: list[ModelProfile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) if d is not None else 1 for d in shape)
    except TypeError:
        return None


class CellCapture:
    """``with CellCapture(namespace) as capture: <run code>``; then ``capture.results(...)``.

    ``namespace`` is where model names are looked up for display (the user's namespace).
    """

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace
        self.recorder: Any = None
        self.keras_calls: dict[int, tuple[Any, tuple[int, ...] | None]] = {}
        self.ort_runs: dict[int, tuple[Any, dict[str, tuple[int, ...]]]] = {}
        self._stack = contextlib.ExitStack()

    # -- watching -------------------------------------------------------------------------
    def __enter__(self) -> CellCapture:
        try:
            if "torch" in sys.modules:
                from .adapters.torch.recorder import Recorder

                self.recorder = Recorder(track_backward=True, ignore_compiling=True)
                self.recorder.phase = None  # forward/backward told apart by the autograd engine
                self._stack.enter_context(self.recorder.hooks())
                self._stack.enter_context(self.recorder.active())
            if "keras" in sys.modules:
                self._stack.enter_context(self._watch_keras())
            if "onnxruntime" in sys.modules:
                self._stack.enter_context(self._watch_onnxruntime())
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def _patched(self, owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
        """Wrap ``owner.name`` for the block; afterwards the class is as it was (an
        attribute inherited from a base class is removed again, not copied down)."""
        own = name in owner.__dict__
        original = owner.__dict__[name] if own else getattr(owner, name)
        setattr(owner, name, make(original))
        try:
            yield
        finally:
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)

    def _watch_keras(self) -> contextlib.ExitStack[bool | None]:
        import keras

        calls = self.keras_calls
        depth = [0]

        def note(model: Any, data: Any) -> None:
            first = data[0] if isinstance(data, (list, tuple)) and data else data
            shape = _shape(first)
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
                shape = _shape(x[0] if isinstance(x, (list, tuple)) else x)
                if shape is not None:
                    calls[id(model)] = (model, (1, *shape[1:]))  # counted per sample
                depth[0] += 1
                try:
                    return original(model, x, *args, **kwargs)
                finally:
                    depth[0] -= 1

            return predict

        stack = contextlib.ExitStack()
        stack.enter_context(
            self._patched(keras.Model, "__call__", wrap_call)
            if "__call__" in keras.Model.__dict__
            else self._patched(keras.Layer, "__call__", wrap_call)
        )
        stack.enter_context(self._patched(keras.Model, "predict", wrap_predict))
        return stack

    def _watch_onnxruntime(self) -> contextlib.AbstractContextManager[None]:
        import onnxruntime

        runs = self.ort_runs

        def wrap(original: Any) -> Any:
            def run(session: Any, output_names: Any, input_feed: Any, *args: Any, **kwargs: Any) -> Any:
                if id(session) not in runs:
                    shapes = {k: s for k, v in dict(input_feed).items() if (s := _shape(v)) is not None}
                    runs[id(session)] = (session, shapes)
                return original(session, output_names, input_feed, *args, **kwargs)

            return run

        return self._patched(onnxruntime.InferenceSession, "run", wrap)

    # -- results ----------------------------------------------------------------------------
    def _name(self, obj: Any, fallback: str) -> str:
        for key, value in self.namespace.items():
            if value is obj and not key.startswith("_"):
                return key
        return fallback

    def results(self, *, backend: str = "flopmagic", training: bool = False, convention: str | None = None) -> Captured:
        """Profile everything that ran. Errors profiling one model become notes."""
        from .api import profile
        from .errors import FlopmagicError

        captured = Captured()

        def add(make: Callable[[], ModelProfile], label: str) -> None:
            try:
                result = make()
                if convention is not None and result.convention != convention:
                    result = result.under(convention)
                captured.profiles.append(result)
            except (FlopmagicError, ValueError) as error:
                captured.notes.append(f"{label}: not profiled: {error}")

        if self.recorder is not None:
            self._torch_results(add, backend, training)
            loose = self._loose_profile()
            if loose is not None:
                captured.profiles.append(loose)
        for model, shape in self.keras_calls.values():
            name = self._name(model, getattr(model, "name", type(model).__name__))

            def keras_profile(m: Any = model, s: Any = shape, n: str = name) -> ModelProfile:
                return profile(m, input_shape=s, backend=backend, name=n)

            add(keras_profile, name)
        for session, shapes in self.ort_runs.values():
            source = getattr(session, "_model_path", None) or getattr(session, "_model_bytes", None)
            name = self._name(session, "onnx session")
            if source is None:
                captured.notes.append(f"{name}: ONNX Runtime session without a model path or bytes: not profiled")
                continue

            def onnx_profile(src: Any = source, s: Any = shapes, n: str = name) -> ModelProfile:
                return profile(src, input_shape=s, name=n)

            add(onnx_profile, name)
        return captured

    def _torch_results(
        self, add: Callable[[Callable[[], ModelProfile], str], None], backend: str, training: bool
    ) -> None:
        from .adapters.torch.run_module import _signature, build_profile
        from .api import profile

        recorder = self.recorder
        for root in recorder.roots.values():
            module = root.module
            name = self._name(module, type(module).__name__)
            if root.first_call is None:
                continue
            args, kwargs = root.first_call
            if backend != "flopmagic" or training:
                inputs: Any = kwargs if kwargs and not args else args

                def rerun(m: Any = module, i: Any = inputs, n: str = name) -> ModelProfile:
                    return profile(m, i, backend=backend, training=training, name=n)

                add(rerun, name)
                continue
            notes = (
                [f"called {root.runs} times in the cell: the counts are the totals of all calls"]
                if root.runs > 1
                else []
            )
            params = list(module.parameters())

            def build(
                r: Any = root,
                n: str = name,
                p: list[Any] = params,
                extra: list[str] = notes,
                a: Any = args,
                k: Any = kwargs,
            ) -> ModelProfile:
                result = build_profile(
                    r,
                    name=n,
                    inputs=_signature(a, k),
                    params=p,
                    buffers=list(r.module.buffers()),
                    training=False,
                    overrides=None,
                    notes=extra,
                )
                if any(rec.phase == "backward" for rec in result.records):
                    from dataclasses import replace

                    result = replace(result, training=True)
                return result

            add(build, name)

    def _loose_profile(self) -> ModelProfile | None:
        """Torch ops the block ran outside any nn.Module, as their own profile when they computed anything."""
        from .adapters.torch.run_module import _price, torch_versions
        from .pricing import NameCounter

        name = NameCounter()
        records = [_price(call, None, name, {}) for call in self.recorder.loose]
        if not any(r.macs or r.flops or r.method == "unsupported" for r in records):
            return None
        return ModelProfile(
            model="(ops outside modules)",
            framework="torch",
            backend="flopmagic",
            convention="flopmagic",
            records=tuple(records),
            params=0,
            versions=torch_versions(),
            notes=("torch ops the cell ran outside any nn.Module (tensor code of its own)",),
        )
