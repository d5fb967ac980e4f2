"""PyTorch + Hugging Face transformers runtime of :mod:`flopmagic.llm`: token ids, KV caches, casts.

Reached through the adapter registry (``Adapter.language_models``), so ``flopmagic.llm``
imports no framework.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import ProfilingError

__all__ = ["cache_bytes", "cast", "device_of", "dtype_name", "fill", "new_cache", "token_ids"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def cast(model: Any, dtype: str) -> Any:
    """``model`` with its floating parameters in ``dtype`` (``bf16``, ``fp16``, ``fp32``)."""
    return model.to(_DTYPES[dtype])


def device_of(model: Any) -> Any:
    return next(model.parameters()).device


def dtype_name(model: Any) -> str:
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def token_ids(model: Any, batch: int, tokens: int) -> Any:
    """``batch x tokens`` token ids (zeros: the cost does not depend on their values)."""
    return torch.zeros(batch, tokens, dtype=torch.long, device=device_of(model))


def new_cache(model: Any) -> Any:
    """An empty Hugging Face ``DynamicCache`` (its tensors take the model's device: meta too)."""
    try:
        from transformers import DynamicCache
    except ImportError as error:
        raise ProfilingError("flopmagic.llm needs the transformers package (pip install transformers)") from error
    try:
        return DynamicCache(config=model.config)
    except TypeError:
        return DynamicCache()


def fill(model: Any, cache: Any, batch: int, tokens: int) -> None:
    """Run ``tokens`` tokens through ``model`` into ``cache`` (not counted)."""
    if tokens <= 0:
        return
    try:
        with torch.no_grad():
            model(input_ids=token_ids(model, batch, tokens), past_key_values=cache, use_cache=True)
    except Exception as error:  # the model's own failure, as the one error type flopmagic raises
        raise ProfilingError(
            f"filling a KV cache of {tokens} tokens in {type(model).__name__} failed: {type(error).__name__}: {error}"
        ) from error


def cache_bytes(cache: Any) -> int:
    """Bytes held by a Hugging Face cache's key and value tensors (read from the tensors)."""
    tensors: list[Any] = []
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            tensors += [getattr(layer, "keys", None), getattr(layer, "values", None)]
    else:
        tensors += list(getattr(cache, "key_cache", [])) + list(getattr(cache, "value_cache", []))
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
