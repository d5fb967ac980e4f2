"""Leave the user's random number generators as they were.

Profiling runs forwards flopmagic chose (random inputs from ``input_shape``,
dropout in a training count) and builds models from specs (weight
initialisation): each draws from the process's global generators. A seeded
training run must not change because someone looked at its FLOPs, so
:func:`preserved_rng` saves every global generator a framework already imported
has, and puts each back afterwards, also when profiling fails or is
interrupted:

- Python's ``random`` (Keras draws its initialisers' default seeds from it);
- NumPy's global ``RandomState`` (``numpy.random.*``);
- PyTorch's CPU generator and, when CUDA is initialised, every CUDA device's
  (CUDA is never initialised just to save its state: a process that has not
  initialised it has drawn nothing from it). PyTorch imported during the block
  (a spec built its model) is reseeded to its initial seed, as a fresh import is;
- TensorFlow's global generator (``tf.random.get_global_generator``, only if
  one exists), the op-seed sequence of ``tf.random.set_seed``, and Keras's global
  seed generator (removed again if the block created it).

Only generators that exist globally are covered: a ``numpy.random.Generator``
or ``torch.Generator`` the user created is theirs and is never touched.

This module imports no framework: it reads the frameworks the process has already
imported from ``sys.modules`` (a framework not imported yet has drawn nothing).
"""

from __future__ import annotations

import contextlib
import functools
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["preserved_rng", "preserving_rng"]

F = TypeVar("F", bound=Callable[..., Any])

_KERAS_SEED_GENERATOR = "global_seed_generator"


def _save() -> list[Callable[[], None]]:
    """Restorers for every global generator that exists now."""
    restorers: list[Callable[[], None]] = []
    python_state = random.getstate()
    restorers.append(lambda: random.setstate(python_state))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy_state = numpy.random.get_state()
        restorers.append(lambda: numpy.random.set_state(numpy_state))
    torch = sys.modules.get("torch")
    if torch is not None:
        restorers.append(_save_torch(torch))
    else:
        restorers.append(_reseed_torch_if_imported)
    if "tensorflow" in sys.modules:
        restorers.extend(_save_tensorflow())
    if "keras" in sys.modules:
        restorers.extend(_save_keras())
    return restorers


def _save_torch(torch: Any) -> Callable[[], None]:
    cpu = torch.get_rng_state()
    cuda: list[Any] = []
    if torch.cuda.is_initialized():
        cuda = [torch.cuda.get_rng_state(index) for index in range(torch.cuda.device_count())]

    def restore() -> None:
        torch.set_rng_state(cpu)
        for index, state in enumerate(cuda):
            torch.cuda.set_rng_state(state, index)

    return restore


def _reseed_torch_if_imported() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:  # imported inside the block: leave it as a fresh import would be
        torch.manual_seed(torch.initial_seed())


def _save_tensorflow() -> list[Callable[[], None]]:
    restorers: list[Callable[[], None]] = []
    # both are imported by ``import tensorflow``; absent in a TensorFlow laid out otherwise
    stateful = sys.modules.get("tensorflow.python.ops.stateful_random_ops")
    context = sys.modules.get("tensorflow.python.eager.context")
    generator = getattr(stateful, "global_generator", None)
    if generator is not None:
        state = generator.state.numpy()
        restorers.append(lambda: generator.state.assign(state))
    op_seeds = getattr(context.context(), "_rng", None) if context is not None else None
    if op_seeds is not None:  # tf.random.set_seed(...) was called: its op-seed sequence
        op_state = op_seeds.getstate()
        restorers.append(lambda: op_seeds.setstate(op_state))
    return restorers


def _save_keras() -> list[Callable[[], None]]:
    global_state = sys.modules.get("keras.src.backend.common.global_state")
    if global_state is None:  # another Keras layout
        return []
    generator = global_state.get_global_attribute(_KERAS_SEED_GENERATOR)
    if generator is None:
        return [lambda: global_state.set_global_attribute(_KERAS_SEED_GENERATOR, None)]
    state = generator.state.numpy()
    return [lambda: generator.state.assign(state)]


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Every global random generator is in the same state after the block as before."""
    restorers = _save()
    try:
        yield
    finally:
        for restore in restorers:
            restore()


def preserving_rng(function: F) -> F:
    """Decorator form of :func:`preserved_rng`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with preserved_rng():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
