"""The PyTorch adapter's helpers that timing and estimates reuse (inputs, loss), in one place.

The adapter's module that runs a model has been renamed (``profiler`` -> ``run_module``,
``_split_inputs`` -> ``split_inputs``); this finds them under either name, so the hardware
package does not depend on the names.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["make_inputs", "split_inputs", "surrogate_loss"]


def _runner() -> Any:
    for name in ("run_module", "profiler"):
        try:
            return importlib.import_module(f"flopmagic.adapters.torch.{name}")
        except ModuleNotFoundError:
            continue
    raise ImportError("flopmagic's PyTorch adapter has no module that runs models")  # pragma: no cover


def _function(*names: str) -> Any:
    runner = _runner()
    for name in names:
        found = getattr(runner, name, None)
        if found is not None:
            return found
    raise ImportError(f"flopmagic's PyTorch adapter has none of {names}")  # pragma: no cover


def make_inputs(model: Any, shape: Any) -> Any:
    """Random tensors of ``shape`` on the model's device, in its dtype."""
    return _function("make_inputs")(model, shape)


def split_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A tensor, tuple or dict of inputs -> (args, kwargs)."""
    args, kwargs = _function("split_inputs", "_split_inputs")(inputs)
    return tuple(args), dict(kwargs)


def surrogate_loss(output: Any) -> Any:
    """The scalar flopmagic differentiates for a training step: the sum of every output."""
    return _function("surrogate_loss", "_surrogate_loss")(output)
