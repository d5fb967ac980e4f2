"""PyTorch model specs: ``torchvision:NAME[@WEIGHTS]`` and ``transformers:CLASS``.

``torchvision:vit_b_16@IMAGENET1K_SWAG_E2E_V1`` builds the architecture those weights
need and uses their resolution, without downloading anything: weights are random.
``transformers:GPT2LMHeadModel`` builds the default config with random weights and
takes ``input_ids`` of shape 1x128.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import SpecError
from ..base import LoadedModel

__all__ = ["architecture_key", "build_torch_model", "load_torchvision", "load_transformers", "torchvision_build_args"]


def load_torchvision(name: str, device: str | None) -> LoadedModel:
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


def load_transformers(name: str, device: str | None) -> LoadedModel:
    """``CLASS``, ``CLASS(key=value,...)`` (config fields as literals) or ``CLASS@config.json``
    (a Hugging Face config read as data): random weights, ``input_ids`` of shape 1x128."""
    import torch

    from ...model_config import split_transformers_spec, transformers_config

    cls_name, config_path, overrides = split_transformers_spec(name)
    try:
        import transformers
    except ImportError as error:
        raise SpecError("transformers: specs need the transformers package: pip install transformers") from error
    cls = getattr(transformers, cls_name, None)
    if cls is None or not hasattr(cls, "config_class"):
        raise SpecError(
            f"transformers has no model class {cls_name!r}; use a class name such as BertModel or GPT2LMHeadModel"
        )
    config = transformers_config(cls, config_path, overrides)
    try:
        model = build_torch_model(lambda: cls(config), device)
    except (ValueError, TypeError, AttributeError, AssertionError) as error:
        raise SpecError(f"cannot build {cls_name} with this config: {str(error)[:200]}") from None
    model.eval()
    label = cls_name if not (overrides or config_path) else name

    def make(shape: Any) -> Any:
        return {"input_ids": torch.zeros(tuple(shape), dtype=torch.long, device=device or "cpu")}

    return LoadedModel(model, "torch", label, (1, 128), make)


def architecture_key(prefix: str, rest: str) -> tuple[Any, ...] | None:
    """Specs that build the same architecture at the same input size share a key
    (``resnet50@IMAGENET1K_V1`` and ``@IMAGENET1K_V2``), so callers can profile once."""
    if prefix != "torchvision" or not rest:
        return None
    name, _, weights = rest.partition("@")
    try:
        kwargs, resolution = torchvision_build_args(name, weights or None)
    except Exception:  # unknown name or weights: let load_spec report it
        return None
    return ("torchvision", name, tuple(sorted(kwargs.items())), resolution)


def torchvision_names() -> list[str]:
    """Every classification, detection, ... model torchvision's registry builds."""
    import torchvision
    from torchvision.models import list_models

    return list(list_models(module=torchvision.models))


def torchvision_metadata(rest: str) -> dict[str, Any]:
    """Weights name, ImageNet-1K top-1/top-5 accuracy and torchvision's ``_ops`` (GMACs)
    for ``NAME[@WEIGHTS]``, read from the installed package's weights metadata (nothing
    is downloaded)."""
    from torchvision.models import get_model_weights

    name, _, weights_name = rest.partition("@")
    enum = get_model_weights(name)
    weights = enum[weights_name] if weights_name else enum.DEFAULT
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    ops = weights.meta.get("_ops")
    return {
        "weights": weights.name,
        "acc1_percent": float(metrics["acc@1"]) if "acc@1" in metrics else None,
        "acc5_percent": float(metrics["acc@5"]) if "acc@5" in metrics else None,
        "published_gmacs": float(ops) if ops is not None else None,
    }
