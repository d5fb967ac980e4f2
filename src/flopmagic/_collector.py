"""Keep Python's cyclic garbage collector out of a profiling call, and put the user's
setting back exactly.

A full collection costs ~100 ms on a large process and would land inside the call (a
PyTorch forward, a 100,000-node ONNX walk); the call's temporaries are freed by
reference counting either way. Calls on several threads (and of several adapters) share
one count: the first in records ``gc.isenabled()``, the last out restores it, so a user
who had disabled the collector finds it disabled, and one who had it enabled finds it
enabled, whatever order the calls end in.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["collector_paused"]

_LOCK = threading.Lock()
_users = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector is off inside the block and as the user had it after."""
    global _users, _was_enabled
    with _LOCK:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _LOCK:
            _users -= 1
            if _users == 0 and _was_enabled:
                gc.enable()
