"""``%%profile``'s watcher for PyTorch: records every op the cell runs, module by module.

Global module hooks and a dispatch mode (nothing on the user's modules changes); the
autograd engine tells a forward op from a backward one, so a training step the cell
runs itself is captured too. Work PyTorch does while compiling or exporting is not.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ...schema import ModelProfile
from ..base import Found, NameOf
from . import sdpa_scope
from .recorder import Recorder
from .run_module import build_profile, loose_profile, signature

__all__ = ["TorchWatcher"]


_LOSSES: tuple[str, ...] = ("nll_loss", "log_softmax", "cross_entropy", "mse_loss", "l1_loss", "smooth_l1")
_LOSSES += ("huber_loss", "binary_cross_entropy", "kl_div", "margin_ranking", "soft_margin", "hinge_embedding")


def _phased(calls: list[Any]) -> list[Any]:
    """The cell's own calls outside any model, profiler markers dropped, each labelled:
    ``optimizer`` inside an ``Optimizer.step`` span, ``loss`` for loss functions (forward)."""
    kept, depth = [], 0
    for call in calls:
        if call.native.startswith("profiler._record_function_enter"):
            depth += 1
            continue
        if call.native.startswith("profiler._record_function_exit"):
            depth = max(0, depth - 1)
            continue
        if call.native.startswith("profiler."):
            continue
        if depth:
            call = replace(call, phase="optimizer")
        elif call.phase == "forward" and any(name in call.native for name in _LOSSES):
            call = replace(call, phase="loss")
        kept.append(call)
    return kept


class TorchWatcher:
    """Records the cell's PyTorch ops; each top-level module called becomes one profile."""

    def __init__(self) -> None:
        self.recorder = Recorder(track_backward=True, ignore_compiling=True)
        self.recorder.phase = None  # forward/backward told apart by the autograd engine
        self.generations: list[tuple[Any, Any]] = []  # (model, TracedForwards) per generate call
        self.notes: list[str] = []
        self._generating = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        with self.recorder.hooks(), sdpa_scope.marked(), self.recorder.active(), self._generate_traced():
            yield

    @contextlib.contextmanager
    def _generate_traced(self) -> Iterator[None]:
        """While the cell runs, a Hugging Face ``generate`` call (transformers already
        imported) is traced step by step (:func:`flopmagic.llm.trace_generate`): one
        prefill and its decode steps instead of N unrelated forwards. The wrapper sits on
        ``GenerationMixin.generate`` and is removed afterwards, also when the cell raises."""
        if "transformers" not in sys.modules:
            yield
            return
        try:
            from transformers.generation.utils import GenerationMixin
        except ImportError:  # a transformers without generation: nothing to wrap
            yield
            return
        original = GenerationMixin.__dict__["generate"]
        watcher = self

        def generate(model: Any, *args: Any, **kwargs: Any) -> Any:
            if watcher._generating:  # generate calling generate (assisted decoding): the outer traces
                return original(model, *args, **kwargs)
            from ...errors import FlopmagicError
            from ...llm.generation import measure_generate

            returned: list[Any] = []

            def call() -> Any:
                returned.append(original(model, *args, **kwargs))
                return returned[-1]

            watcher._generating = True
            # the cell's recorder steps aside: the trace profiles each forward itself, and
            # generate's own tensor code (sampling, concatenation) is not the model's work
            aside = Recorder()
            try:
                with aside.hooks():
                    traced, out = measure_generate(model, call)
            except FlopmagicError as error:
                if not returned:
                    raise
                watcher.notes.append(f"{type(model).__name__}.generate: not traced: {error}")
                return returned[-1]
            finally:
                watcher._generating = False
            watcher.generations.append((model, traced))
            return out

        generate.__doc__ = getattr(original, "__doc__", None)
        setattr(GenerationMixin, "generate", generate)  # noqa: B010 (typed as the real generate)
        try:
            yield
        finally:
            setattr(GenerationMixin, "generate", original)  # noqa: B010

    def found(self, name_of: NameOf, *, backend: str, training: bool, convention: str | None = None) -> Iterator[Found]:
        for note in self.notes:
            yield Found(note.split(".generate", 1)[0], note=note)
        for model, traced in self.generations:
            name = name_of(model, traced.name)
            yield Found(name, extra=replace(traced.generation(convention), model=name))
        for root in self.recorder.roots.values():
            module = root.module
            name = name_of(module, type(module).__name__)
            if root.first_call is None:
                continue
            args, kwargs = root.first_call
            if backend != "flopmagic" or training:
                # re-run the first call under the asked backend (or as a training step)
                inputs: Any = kwargs if kwargs and not args else args
                yield Found(name, model=module, inputs=inputs, backend=backend, training=training)
                continue
            notes = (
                [f"called {root.runs} times in the cell: the counts are the totals of all calls"]
                if root.runs > 1
                else []
            )

            def build(
                r: Any = root, n: str = name, extra: list[str] = notes, a: Any = args, k: Any = kwargs
            ) -> ModelProfile:
                result = build_profile(
                    r,
                    name=n,
                    inputs=signature(a, k),
                    params=list(r.module.parameters()),
                    buffers=list(r.module.buffers()),
                    training=False,
                    overrides=None,
                    notes=extra,
                )
                if any(rec.phase == "backward" for rec in result.records):
                    result = replace(result, training=True)
                return result

            yield Found(name, build=build)
        # torch.profiler's record_function markers (optimizer.step() wraps itself in one) are
        # bookkeeping, not ops; the marked span is the optimizer's step
        loose = loose_profile(_phased(self.recorder.loose))
        if loose is not None:
            yield Found(loose.model, build=lambda: loose)
