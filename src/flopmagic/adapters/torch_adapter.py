"""The PyTorch adapter's registration: ``nn.Module``s, the ``torchvision:`` and
``transformers:`` specs, the exact counter and the wrapped peers (fvcore,
``FlopCounterMode``), the cell watcher that records every op a cell runs, and the
measurements ``flopmagic.hardware`` asks for (timing, saved activations, calibration).
Nothing here imports PyTorch."""

from __future__ import annotations

import sys
from typing import Any

from ..schema import ModelProfile
from . import register_adapter
from .base import (
    Adapter,
    Backend,
    CalibrationTarget,
    Calibrator,
    CellWatcher,
    LoadedModel,
    MeasuredRates,
    RunRequest,
    RunTimes,
    SavedActivations,
)

__all__ = ["TORCH"]


def _recognises(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _exact(model: Any, run: RunRequest) -> ModelProfile:
    from .torch.run_module import profile_module

    return profile_module(
        model,
        run.inputs,
        input_shape=run.input_shape,
        training=run.training,
        device=run.device,
        overrides=run.overrides,
        name=run.name,
    )


def _fvcore(model: Any, run: RunRequest) -> ModelProfile:
    from ..peers.torch_counters import profile_fvcore

    return profile_fvcore(model, run.inputs, input_shape=run.input_shape, training=run.training, name=run.name)


def _flop_counter_mode(model: Any, run: RunRequest) -> ModelProfile:
    from ..peers.torch_counters import profile_flop_counter_mode

    return profile_flop_counter_mode(
        model, run.inputs, input_shape=run.input_shape, training=run.training, name=run.name
    )


def _torchvision(name: str, device: str | None) -> LoadedModel:
    from .torch.specs import load_torchvision

    return load_torchvision(name, device)


def _transformers(name: str, device: str | None) -> LoadedModel:
    from .torch.specs import load_transformers

    return load_transformers(name, device)


def _architecture_key(prefix: str, rest: str) -> tuple[Any, ...] | None:
    if prefix != "torchvision":
        return None
    from .torch.specs import architecture_key

    return architecture_key(prefix, rest)


def _torchvision_names() -> list[str]:
    from .torch.specs import torchvision_names

    return torchvision_names()


def _torchvision_metadata(rest: str) -> dict[str, Any]:
    from .torch.specs import torchvision_metadata

    return torchvision_metadata(rest)


def _make_inputs(model: Any, shape: Any) -> Any:
    from .torch.run_module import make_inputs

    return make_inputs(model, shape)


def _timer(model: Any, inputs: Any, *, training: bool, warmup: int, repeats: int, layers: bool) -> RunTimes:
    from .torch.measure import time_module

    return time_module(model, inputs, training=training, warmup=warmup, repeats=repeats, layers=layers)


def _saved_activations(model: Any, inputs: Any) -> SavedActivations:
    from .torch.measure import saved_activations

    return saved_activations(model, inputs)


def _calibration_target(accelerator: str) -> CalibrationTarget | None:
    import importlib.util

    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return None  # not installed: another calibrator (or NumPy) measures
    from .torch.measure import calibration_target

    return calibration_target(accelerator)


def _measure_rates(accelerator: str, sides: tuple[int, ...], copy_elements: int, repeats: int) -> MeasuredRates:
    from .torch.measure import measure_rates

    return measure_rates(accelerator, sides, copy_elements, repeats)


def _language_models() -> Any:
    from .torch import llm

    return llm


def _watcher() -> CellWatcher:
    from .torch.watch import TorchWatcher

    return TorchWatcher()


TORCH = register_adapter(
    Adapter(
        name="torch",
        title="PyTorch",
        recognises=_recognises,
        backends=(
            Backend("flopmagic", _exact, training=True),
            Backend("fvcore", _fvcore),
            Backend("torch", _flop_counter_mode, training=True),
        ),
        spec_prefixes={"torchvision": _torchvision, "transformers": _transformers},
        spec_help=("torchvision:NAME[@WEIGHTS]", "transformers:CLASS"),
        needs_inputs=True,
        watch_packages=("torch", "torchvision", "transformers"),
        watch_module="torch",
        watcher=_watcher,
        architecture_key=_architecture_key,
        spec_names={"torchvision": _torchvision_names},
        spec_metadata={"torchvision": _torchvision_metadata},
        make_inputs=_make_inputs,
        timer=_timer,
        saved_activation_bytes=_saved_activations,
        calibrator=Calibrator(accelerators=("cpu", "cuda"), target=_calibration_target, measure=_measure_rates),
        language_models=_language_models,
    )
)
