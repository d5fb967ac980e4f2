"""Adapters: the registry of frameworks, one :class:`~flopmagic.adapters.base.Adapter` each.

A framework is added by one module that declares its ``Adapter`` and calls
:func:`register_adapter`. The built-in ones (PyTorch, TensorFlow/Keras, ONNX) are
registered when the registry is first asked; then plugins: modules named in the
``flopmagic.adapters`` entry-point group of installed packages, and modules listed
in the ``FLOPMAGIC_PLUGINS`` environment variable (comma-separated), which register
their adapters when imported. The API, CLI, magic and cell capture only ask the
registry; none of them names a framework.

Each adapter imports its framework lazily, inside the functions that need it, so
``import flopmagic`` imports no framework.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import FlopmagicError
from .base import (
    Adapter,
    Backend,
    CalibrationTarget,
    Calibrator,
    CellWatcher,
    Found,
    LoadedModel,
    MeasuredRates,
    RunRequest,
    RunTimes,
    SavedActivations,
    Timer,
)

__all__ = [
    "PLUGINS_VARIABLE",
    "Adapter",
    "Backend",
    "CalibrationTarget",
    "Calibrator",
    "CellWatcher",
    "Found",
    "Framework",
    "LoadedModel",
    "MeasuredRates",
    "PluginError",
    "RunRequest",
    "RunTimes",
    "SavedActivations",
    "Timer",
    "adapters",
    "backends",
    "detect_framework",
    "get_adapter",
    "import_tensorflow",
    "register_adapter",
    "spec_forms",
    "spec_metadata",
    "spec_names",
]

Framework = str  # the name of a registered framework ("torch", "tensorflow", "onnx", a plugin's)

ENTRY_POINT_GROUP = "flopmagic.adapters"
PLUGINS_VARIABLE = "FLOPMAGIC_PLUGINS"
# the built-in adapters, in the order objects are tried (PyTorch's first: TensorFlow is
# imported after it, see import_tensorflow)
_BUILTIN = (
    "flopmagic.adapters.torch_adapter",
    "flopmagic.adapters.tensorflow_adapter",
    "flopmagic.adapters.onnx_adapter",
)

_BUILTIN_NAMES = ("torch", "tensorflow", "onnx")

_ADAPTERS: dict[str, Adapter] = {}
_loaded = False


class PluginError(FlopmagicError):
    """A plugin named in the entry points or ``FLOPMAGIC_PLUGINS`` could not be loaded."""


def register_adapter(adapter: Adapter) -> Adapter:
    """Add a framework. Registering a name twice is an error (one registration per framework)."""
    if adapter.name in _ADAPTERS:
        if _ADAPTERS[adapter.name] is adapter:
            return adapter
        raise ValueError(f"an adapter named {adapter.name!r} is registered already")
    if not adapter.backends or adapter.backends[0].name != "flopmagic":
        raise ValueError(f"adapter {adapter.name!r}: its first backend must be the exact 'flopmagic' counter")
    _ADAPTERS[adapter.name] = adapter
    return adapter


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN:
        importlib.import_module(module)
    plugins: list[tuple[str, Any]] = []
    with contextlib.suppress(Exception):  # no metadata for entry points: nothing to load
        from importlib.metadata import entry_points

        plugins.extend((f"entry point {ep.name!r}", ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP))
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        plugins.append((f"{PLUGINS_VARIABLE} module {name!r}", lambda n=name: importlib.import_module(n)))
    for label, load in plugins:
        try:
            loaded = load()
        except Exception as error:
            raise PluginError(f"cannot load flopmagic plugin ({label}): {type(error).__name__}: {error}") from error
        if isinstance(loaded, Adapter):
            register_adapter(loaded)


def adapters() -> tuple[Adapter, ...]:
    """Every registered framework: the built-ins first (in their order), then plugins
    in the order they registered."""
    _load()
    builtin = [_ADAPTERS[n] for n in _BUILTIN_NAMES if n in _ADAPTERS]
    return (*builtin, *(a for a in _ADAPTERS.values() if a.name not in _BUILTIN_NAMES))


def get_adapter(name: str) -> Adapter:
    """The adapter of framework ``name``.

    Raises:
        FlopmagicError: no such framework; the message lists the registered ones.
    """
    _load()
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise FlopmagicError(f"no adapter for {name!r}; registered: {', '.join(_ADAPTERS)}") from None


def detect_framework(model: Any) -> str | None:
    """Which framework an object belongs to, importing none that is not loaded already."""
    return next((a.name for a in adapters() if a.recognises(model)), None)


class _Backends(Mapping[str, tuple[str, ...]]):
    """backend -> the frameworks it can count, read from the registry when asked."""

    def _table(self) -> dict[str, tuple[str, ...]]:
        table: dict[str, list[str]] = {}
        for adapter in adapters():
            for backend in adapter.backends:
                table.setdefault(backend.name, []).append(adapter.name)
        return {k: tuple(v) for k, v in table.items()}

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(self._table())


BACKENDS: Mapping[str, tuple[str, ...]] = _Backends()


def backends() -> Mapping[str, tuple[str, ...]]:
    """backend -> the frameworks it counts (``{"flopmagic": ("torch", "tensorflow", "onnx"), ...}``)."""
    return BACKENDS


def spec_names(prefix: str) -> list[str] | None:
    """The model names the registry behind spec prefix ``prefix`` knows (for globs), or
    None when no adapter lists that prefix's models."""
    for adapter in adapters():
        names = adapter.spec_names.get(prefix)
        if names is not None:
            return list(names())
    return None


def spec_metadata(spec: str) -> Mapping[str, Any]:
    """What the installed package ships offline about a spec's published weights
    (weights name, accuracy, published GMACs); empty when nothing is known."""
    prefix, _, rest = spec.partition(":")
    for adapter in adapters():
        read = adapter.spec_metadata.get(prefix)
        if read is not None:
            return read(rest)
    return {}


def spec_forms() -> str:
    """The model specs the registered adapters load, in words (for help texts)."""
    forms = [form for a in adapters() for form in a.spec_help]
    return ", ".join([*forms, "package.module:factory"])


def import_tensorflow() -> Any:
    """Import TensorFlow safely next to PyTorch.

    Triton (which CUDA builds of PyTorch bring along and import lazily) crashes the
    process with a segmentation fault when its native library loads after
    TensorFlow's. Loading it first avoids that, at a cost of about half a second.
    """
    import importlib.util

    if (
        "tensorflow" not in sys.modules
        and "triton" not in sys.modules
        and importlib.util.find_spec("triton") is not None
    ):
        with contextlib.suppress(Exception):  # a broken triton install must not stop TensorFlow users
            import triton  # noqa: F401
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    return tensorflow
