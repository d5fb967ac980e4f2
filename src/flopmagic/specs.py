"""Model specs: the strings the CLI (and ``flopmagic.profile``) accept for a model.

- ``torchvision:resnet50`` (any classification builder; ``torchvision:vit_b_16@IMAGENET1K_SWAG_E2E_V1``
  builds the architecture those weights need and uses their resolution, without
  downloading anything: weights are random);
- ``keras:ResNet50`` (any ``keras.applications`` name, ``weights=None``);
- ``transformers:GPT2LMHeadModel`` (default config, random weights, ``input_ids`` of shape 1x128);
- a path to an ``.onnx`` file;
- ``package.module:factory`` for any callable returning a model.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._rng import preserving_rng
from .adapters import Framework, detect_framework
from .errors import FlopmagicError, SpecError

__all__ = ["LoadedModel", "architecture_key", "load_spec", "parse_input_shape"]

InputMaker = Callable[[Any], Any]


@dataclass(frozen=True)
class LoadedModel:
    """A model built from a spec, with the inputs it expects by default.

    ``make_inputs(shape)`` turns an input shape into the model's inputs (for
    transformers: ``{"input_ids": ...}`` of integer token ids).
    """

    model: Any
    framework: Framework
    name: str
    input_shape: tuple[int, ...] | None
    make_inputs: InputMaker | None = None
    input_dtype: str | None = None


def parse_input_shape(text: str) -> tuple[int, ...] | list[tuple[int, ...]]:
    """``"1x3x224x224"`` -> (1, 3, 224, 224); ``"1x3x8x8,1x10"`` -> two shapes.

    Raises:
        SpecError: not a shape; the message shows the expected form.
    """
    shapes = []
    for part in text.split(","):
        dims = part.strip().lower().replace("*", "x").split("x")
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            raise SpecError(f"bad input shape {text!r}: write dimensions joined by 'x', e.g. 1x3x224x224") from None
        if not shape or any(d <= 0 for d in shape):
            raise SpecError(f"bad input shape {text!r}: every dimension must be a positive integer, e.g. 1x3x224x224")
        shapes.append(shape)
    return shapes[0] if len(shapes) == 1 else shapes


def _torchvision(name: str, device: str | None) -> LoadedModel:
    import torchvision
    from torchvision.models import get_model_builder, list_models

    model_name, _, weights_name = name.partition("@")
    if model_name not in list_models(module=torchvision.models):
        close = [m for m in list_models(module=torchvision.models) if model_name[:4] in m][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SpecError(f"unknown torchvision model {model_name!r}{hint}; see torchvision.models.list_models()")
    builder = get_model_builder(model_name)
    kwargs, resolution = torchvision_build_args(model_name, weights_name or None)
    model = build_torch_model(lambda: builder(weights=None, **kwargs), device)
    label = f"{model_name}@{weights_name}" if weights_name else model_name
    return LoadedModel(model, "torch", label, (1, 3, resolution, resolution))


def torchvision_build_args(model_name: str, weights_name: str | None) -> tuple[dict[str, Any], int]:
    """Constructor arguments and input resolution for a torchvision classifier.

    With ``weights_name`` they are what the builder would set for those weights
    (class count, ViT image size, Inception's aux head off and input transform on),
    but the weights themselves are never loaded. Without, the builder's defaults
    and the resolution of its default weights (a ViT keeps its default image size).
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(model_name)
    # Only the ViT family bakes the input size into its parameters (position embeddings).
    takes_image_size = model_name.startswith("vit_")
    if weights_name is None:
        if takes_image_size:
            return {}, 224
        return {}, int(enum.DEFAULT.transforms().crop_size[0])
    try:
        weights = enum[weights_name]
    except KeyError:
        known = ", ".join(w.name for w in enum)
        raise SpecError(f"{model_name} has no weights {weights_name!r}; choose one of: {known}") from None
    categories = weights.meta.get("categories")
    kwargs: dict[str, Any] = {"num_classes": len(categories)} if categories else {}
    if takes_image_size:
        kwargs["image_size"] = weights.meta["min_size"][0]
    if model_name == "inception_v3":
        # Its weights carry the auxiliary head (counted in num_params); eval never runs it.
        kwargs.update(aux_logits=True, transform_input=True, init_weights=False)
    if model_name == "googlenet":
        kwargs.update(aux_logits=False, transform_input=True, init_weights=False)
    return kwargs, int(weights.transforms().crop_size[0])


def build_torch_model(build: Callable[[], Any], device: str | None) -> Any:
    """Call a PyTorch model constructor, on the meta device when asked.

    Some constructors compute layer sizes with tensor ops and ``.tolist()``
    (torchvision's RegNet), which a meta default device cannot run; for those,
    each parameter and buffer is moved to meta as it is registered, so their
    (slow, large) random initialisation runs on meta tensors.
    """
    import torch

    if device != "meta":
        return build()
    try:
        with torch.device("meta"):
            return build()
    except (NotImplementedError, RuntimeError):
        pass
    module_cls = torch.nn.Module
    register_parameter = module_cls.register_parameter
    register_buffer = module_cls.register_buffer

    def parameter_on_meta(self: Any, name: str, param: Any) -> None:
        if param is not None and param.device.type != "meta":
            param = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer_on_meta(self: Any, name: str, tensor: Any, persistent: bool = True) -> None:
        register_buffer(self, name, tensor.to("meta") if tensor is not None else None, persistent)

    module_cls.register_parameter = parameter_on_meta  # type: ignore[method-assign]
    module_cls.register_buffer = buffer_on_meta  # type: ignore[method-assign]
    try:
        return build()
    finally:
        module_cls.register_parameter = register_parameter  # type: ignore[method-assign]
        module_cls.register_buffer = register_buffer  # type: ignore[method-assign]


def _transformers(name: str, device: str | None) -> LoadedModel:
    import torch

    try:
        import transformers
    except ImportError as error:
        raise SpecError("transformers: specs need the transformers package: pip install transformers") from error
    cls = getattr(transformers, name, None)
    if cls is None or not hasattr(cls, "config_class"):
        raise SpecError(
            f"transformers has no model class {name!r}; use a class name such as BertModel or GPT2LMHeadModel"
        )
    config = cls.config_class()
    model = build_torch_model(lambda: cls(config), device)
    model.eval()

    def make(shape: Any) -> Any:
        return {"input_ids": torch.zeros(tuple(shape), dtype=torch.long, device=device or "cpu")}

    return LoadedModel(model, "torch", name, (1, 128), make, "int64")


def _keras(name: str, device: str | None) -> LoadedModel:
    from .adapters import import_tensorflow

    try:
        import_tensorflow()
        import keras
    except ImportError as error:
        raise SpecError("keras: specs need TensorFlow/Keras: pip install 'flopmagic[tensorflow]'") from error
    builder = getattr(keras.applications, name, None)
    if builder is None or not callable(builder):
        raise SpecError(f"keras.applications has no model {name!r}; use a name such as ResNet50 or MobileNetV2")
    model = builder(weights=None)
    shape = tuple(int(d) if d is not None else 1 for d in model.input_shape)
    return LoadedModel(model, "tensorflow", name, shape)


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
        raise SpecError(f"{spec!r} returned {type(model).__name__}, not a PyTorch, Keras or ONNX model")
    shape = None
    if framework == "tensorflow" and getattr(model, "inputs", None):
        shape = tuple(int(d) if d is not None else 1 for d in model.inputs[0].shape)
    return LoadedModel(model, framework, attr, shape)


_PREFIXES: dict[str, Callable[[str, str | None], LoadedModel]] = {
    "torchvision": _torchvision,
    "transformers": _transformers,
    "keras": _keras,
}


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
    spec = spec.strip()
    if spec.lower().endswith(".onnx") or os.path.exists(spec):
        if not os.path.exists(spec):
            raise SpecError(f"no such ONNX file: {spec!r}")
        return LoadedModel(spec, "onnx", os.path.basename(spec), None)
    prefix, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise SpecError(
            f"cannot read model spec {spec!r}: use torchvision:NAME, keras:NAME, transformers:CLASS, "
            "a path to an .onnx file, or package.module:factory"
        )
    handler = _PREFIXES.get(prefix)
    if handler is not None:
        return handler(rest, device)
    if "." in prefix or prefix.isidentifier():
        return _factory(spec, device)
    raise SpecError(
        f"unknown spec prefix {prefix!r}; use torchvision:, keras:, transformers:, or package.module:factory"
    )


def architecture_key(spec: str) -> tuple[Any, ...]:
    """Specs that build the same architecture at the same input size share a key
    (``resnet50@IMAGENET1K_V1`` and ``@IMAGENET1K_V2``), so callers can profile once."""
    prefix, _, rest = spec.strip().partition(":")
    if prefix == "torchvision" and rest:
        name, _, weights = rest.partition("@")
        try:
            kwargs, resolution = torchvision_build_args(name, weights or None)
        except Exception:  # unknown name or weights: let load_spec report it
            return (spec,)
        return ("torchvision", name, tuple(sorted(kwargs.items())), resolution)
    return (spec,)
