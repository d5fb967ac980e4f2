"""Model specs: the strings the CLI (and ``flopmagic.profile``) accept for a model.

Each adapter declares its own spec prefixes and file types (see
``flopmagic.adapters``): ``torchvision:resnet50``, ``keras:ResNet50``,
``transformers:GPT2LMHeadModel`` (config fields overridden with
``transformers:GPT2LMHeadModel(n_layer=96,n_embd=12288)``, literals only, or read from a
``config.json`` as data with ``transformers:CLASS@config.json``), a path to an ``.onnx`` file, and so on. This module
resolves a spec through the registry, and reads ``package.module:factory`` for any
callable returning a model of a registered framework.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

from ._rng import preserving_rng
from .adapters import Adapter, LoadedModel, adapters, detect_framework
from .errors import FlopmagicError, SpecError

__all__ = ["LoadedModel", "architecture_key", "is_spec", "load_spec", "parse_input_shape"]


def parse_input_shape(text: str) -> tuple[int, ...] | list[tuple[int, ...]]:
    """``"1x3x224x224"`` -> (1, 3, 224, 224); ``"1x3x8x8,1x10"`` (or ``;``) -> two shapes.

    Dimensions are joined by ``x``; shapes are separated by ``;`` or by ``,`` between
    shapes written with ``x``. A text with no ``x`` is ONE shape whose dimensions are
    separated by commas, as Python writes a tuple: ``"1,3"`` and ``"(1, 3)"`` are
    (1, 3), not two one-dimensional inputs (write those ``1;3``).

    Raises:
        SpecError: not a shape; the message shows the expected form.
    """
    cleaned = text.strip().lower().replace("*", "x")
    if ";" in cleaned:
        parts = cleaned.split(";")
    elif "x" not in cleaned:
        parts = [cleaned.strip("()[] ").replace(",", "x")]
    else:
        parts = cleaned.split(",")
    shapes = []
    for part in parts:
        dims = part.strip().strip("()[] ").split("x")
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            raise SpecError(f"bad input shape {text!r}: write dimensions joined by 'x', e.g. 1x3x224x224") from None
        if not shape or any(d <= 0 for d in shape):
            raise SpecError(f"bad input shape {text!r}: every dimension must be a positive integer, e.g. 1x3x224x224")
        shapes.append(shape)
    return shapes[0] if len(shapes) == 1 else shapes


def _factory(spec: str, device: str | None) -> LoadedModel:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SpecError(f"cannot import {module_name!r} for spec {spec!r}: {error}") from error
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise SpecError(f"{module_name} has no attribute {attr!r} (spec {spec!r})")
    model = target() if callable(target) and detect_framework(target) is None else target
    framework = detect_framework(model)
    if framework is None:
        titles = ", ".join(a.title for a in adapters())
        raise SpecError(f"{spec!r} returned {type(model).__name__}, not a model of a registered framework ({titles})")
    declared = _adapter(framework).default_input_shape
    return LoadedModel(model, framework, attr, declared(model) if declared is not None else None)


def _adapter(name: str) -> Adapter:
    return next(a for a in adapters() if a.name == name)


def _file_reader(path: str) -> Adapter | None:
    lower = path.lower()
    return next((a for a in adapters() if any(lower.endswith(s) for s in a.file_suffixes)), None)


def _prefix_loader(prefix: str) -> tuple[Adapter, Any] | None:
    for adapter in adapters():
        if prefix in adapter.spec_prefixes:
            return adapter, adapter.spec_prefixes[prefix]
    return None


def is_spec(text: str) -> bool:
    """Whether ``text`` reads as a spec (``prefix:NAME`` or a model file) rather than a variable name."""
    return ":" in text or _file_reader(text) is not None


def _spec_errors(function: Callable[..., LoadedModel]) -> Callable[..., LoadedModel]:
    """Whatever building a spec's model raises reaches the caller as a SpecError."""

    @functools.wraps(function)
    def load(spec: str, *args: Any, **kwargs: Any) -> LoadedModel:
        try:
            return function(spec, *args, **kwargs)
        except FlopmagicError:
            raise
        except Exception as error:
            shown = spec[:200] if isinstance(spec, str) else type(spec).__name__
            message = " ".join(str(error).split())[:300]
            raise SpecError(f"building the model of {shown!r} failed: {type(error).__name__}: {message}") from error

    return load


@_spec_errors
@preserving_rng
def load_spec(spec: str, *, device: str | None = None) -> LoadedModel:
    """Build the model a spec names.

    Raises:
        SpecError: unknown prefix, model or file; the message says what to write instead.
    """
    from .adapters import spec_forms

    spec = spec.strip()
    reader = _file_reader(spec)
    if reader is None and os.path.exists(spec):
        reader = next((a for a in adapters() if a.reads_other_files), None)
    if reader is not None:
        if not os.path.exists(spec):
            raise SpecError(f"no such {reader.title} file: {spec!r}")
        return LoadedModel(spec, reader.name, os.path.basename(spec), None)
    prefix, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise SpecError(f"cannot read model spec {spec!r}: use {spec_forms()}")
    found = _prefix_loader(prefix)
    if found is not None:
        loaded: LoadedModel = found[1](rest, device)
        return loaded
    if "." in prefix or prefix.isidentifier():
        return _factory(spec, device)
    prefixes = ", ".join(f"{p}:" for a in adapters() for p in a.spec_prefixes)
    raise SpecError(f"unknown spec prefix {prefix!r}; use {prefixes} or package.module:factory")


def architecture_key(spec: str) -> tuple[Any, ...]:
    """Specs that build the same architecture at the same input size share a key
    (``torchvision:resnet50@IMAGENET1K_V1`` and ``@IMAGENET1K_V2``), so callers can profile once."""
    prefix, _, rest = spec.strip().partition(":")
    for adapter in adapters():
        if adapter.architecture_key is not None:
            key = adapter.architecture_key(prefix, rest)
            if key is not None:
                return key
    return (spec,)
