"""KV-cache arithmetic and the memory/time bounds of generation on a catalogued device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ProfilingError

__all__ = ["MemoryBounds", "kv_bytes_per_token", "kv_config", "memory_bounds"]


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, element_bytes: int) -> int:
    """``2 x layers x kv_heads x head_dim x element_bytes``: one key and one value vector
    per layer and KV head for each token in the cache (GQA/MQA: ``kv_heads`` < query heads)."""
    return 2 * layers * kv_heads * head_dim * element_bytes


def kv_config(config: Any) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of a Hugging Face decoder config.

    Raises:
        ProfilingError: the config does not name its layers/heads/hidden size.
    """
    try:
        layers = int(config.num_hidden_layers)
        heads = int(config.num_attention_heads)
        kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    except AttributeError as exc:
        raise ProfilingError(f"cannot read the KV-cache shape from {type(config).__name__}: {exc}") from None
    return layers, kv_heads, head_dim


@dataclass(frozen=True)
class MemoryBounds:
    """Lower bounds of generation time and the largest KV cache a device holds.

    ``prefill_seconds``: prefill FLOPs / dense matrix peak (compute-bound).
    ``decode_seconds_per_token``: (weight bytes + KV-cache bytes read) / bandwidth at the
    final context (bandwidth-bound; one decode step of the whole batch).
    ``max_cache_tokens``: (device memory - weight bytes) // KV bytes per token: the largest
    batch x context that fits (activations and workspace ignored: an upper bound).
    """

    device: str
    dtype: str
    peak_flops: float
    bandwidth: float
    memory_bytes: int
    prefill_seconds: float
    decode_seconds_per_token: float
    max_cache_tokens: int
    max_batch_at_context: int
    context: int


def memory_bounds(
    device: str,
    dtype: str,
    *,
    prefill_flops: int,
    weight_bytes: int,
    kv_bytes_per_token: int,
    context: int,
    batch: int,
) -> MemoryBounds:
    """The bounds of :class:`MemoryBounds` for ``device`` (a catalogue name).

    Raises:
        HardwareError: an unknown device or a dtype it has no peak for.
    """
    from ..hardware import get_device

    dev = get_device(device)
    peak = dev.matrix_peak(dtype)
    free = max(dev.memory_bytes - weight_bytes, 0)
    max_tokens = free // kv_bytes_per_token if kv_bytes_per_token else 0
    kv_read = kv_bytes_per_token * context * batch
    return MemoryBounds(
        device=dev.name,
        dtype=dtype,
        peak_flops=peak,
        bandwidth=dev.bandwidth,
        memory_bytes=dev.memory_bytes,
        prefill_seconds=prefill_flops / peak,
        decode_seconds_per_token=(weight_bytes + kv_read) / dev.bandwidth,
        max_cache_tokens=max_tokens,
        max_batch_at_context=max_tokens // context if context else 0,
        context=context,
    )
