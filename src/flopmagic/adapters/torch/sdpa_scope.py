"""Mark the ops ``F.scaled_dot_product_attention`` issues, so presets can price the call as one.

On CPU, scaled dot-product attention runs one fused kernel unless it falls back to its
decomposed math path (``dropout_p > 0``, a value head dim other than the query's, a
non-contiguous last dim, ...). The recorder then sees the decomposition's ``bmm``'s,
softmax and scaling, which the default convention and the ``torch`` preset price as
FlopCounterMode does. Tools that trace the Python call instead (fvcore's JIT trace) see
one ``aten::scaled_dot_product_attention`` node whatever path runs; to reproduce them a
preset must know which records came from inside the call.

While a profile records, :func:`marked` replaces ``torch.nn.functional.scaled_dot_product_attention``
with a wrapper (installed once for all threads, reference-counted, restored on every
exit path). On a thread with an active recorder, the wrapper notes how many calls the
recorder holds, calls the original, then labels the calls noted meanwhile
``within = "scaled_dot_product_attention"`` (:meth:`Recorder.mark`).
The cost is per attention call, never per op: the recorder's hot path is untouched.

Limits: code holding its own reference to the function from before the profile started
(``from torch.nn.functional import scaled_dot_product_attention`` at import time) calls
the original, and its records are not marked. TorchScript still compiles the wrapper as
the builtin op; while compiling (``torch.compile``) the wrapper is a plain pass-through.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .recorder import _local

__all__ = ["SDPA", "marked"]

SDPA = "scaled_dot_product_attention"


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def scaled_dot_product_attention(*args: Any, **kwargs: Any) -> Any:
        if torch.compiler.is_compiling():  # first: a compiler tracing this sees the original only
            return original(*args, **kwargs)
        stack = getattr(_local, "recorders", None)
        if not stack:
            return original(*args, **kwargs)
        recorder = stack[-1]
        start = recorder.pending()
        try:
            return original(*args, **kwargs)
        finally:  # also when the call raises: what it recorded is still its own
            recorder.mark(start, SDPA)

    return scaled_dot_product_attention


class _Wrapper:
    """Installs the wrapper while at least one profile (any thread) records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._installed: tuple[Callable[..., Any], Callable[..., Any]] | None = None  # (original, wrapper)
        # one wrapper per function wrapped, kept for the process: TorchScript's builtin table
        # holds the wrapper's id, which must never be reused by another object
        self._wrappers: dict[Callable[..., Any], Callable[..., Any]] = {}

    def acquire(self) -> None:
        with self._lock:
            if self._installed is None:
                functional = torch.nn.functional
                original = functional.scaled_dot_product_attention
                wrapper = self._wrappers.get(original)
                if wrapper is None:
                    wrapper = self._wrappers[original] = _wrap(original)
                    # TorchScript resolves a Python function to an aten op by identity: the
                    # wrapper compiles as the builtin it stands for.
                    torch.jit._builtins._register_builtin(wrapper, f"aten::{SDPA}")  # type: ignore[no-untyped-call]
                functional.scaled_dot_product_attention = wrapper
                self._installed = (original, wrapper)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0 and self._installed is not None:
                original, wrapper = self._installed
                functional = torch.nn.functional
                # Someone who patched it meanwhile keeps their patch (ours below it passes through).
                if functional.__dict__.get(SDPA) is wrapper:
                    functional.scaled_dot_product_attention = original
                self._installed = None
                self._users = 0

    @property
    def installed(self) -> bool:
        return self._installed is not None


_WRAPPER = _Wrapper()


@contextlib.contextmanager
def marked() -> Iterator[None]:
    """Mark the records of every ``F.scaled_dot_product_attention`` call in this block
    (on any thread with an active recorder); restored on exit, also on error or Ctrl-C."""
    _WRAPPER.acquire()
    try:
        yield
    finally:
        _WRAPPER.release()
