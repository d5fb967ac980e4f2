"""Language-model workloads, traced: prefill and decode, KV cache, MoE, training per token.

    >>> from flopmagic import llm
    >>> g = llm.generation("transformers:LlamaForCausalLM", prefill=128, decode=16)  # doctest: +SKIP
    >>> g.prefill_step.macs, g.flops_per_token(context=1000)                          # doctest: +SKIP

Importing this package imports no framework.
"""

from __future__ import annotations

from .generation import Generation, Step, generation, trace_generate
from .kv import MemoryBounds, kv_bytes_per_token, kv_config, memory_bounds
from .moe import MoE, moe
from .training import TokenFormulas, TrainingCount, optimizer_step_flops, token_formulas, training

__all__ = [
    "Generation",
    "MemoryBounds",
    "MoE",
    "Step",
    "TokenFormulas",
    "TrainingCount",
    "generation",
    "kv_bytes_per_token",
    "kv_config",
    "memory_bounds",
    "moe",
    "optimizer_step_flops",
    "token_formulas",
    "trace_generate",
    "training",
]
