"""Mixture of experts from the trace: executed expert MACs, per-expert load, active params."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ProfilingError

__all__ = ["MoE", "moe"]


@dataclass(frozen=True)
class MoE:
    """What the router did in one traced forward.

    ``expert_macs``: MACs of the expert matmuls actually executed (rows routed to each
    expert, summed: the trace prices the grouped/indexed matmuls the kernels run).
    ``load``: per MoE layer scope, tokens routed to each expert (empty on the meta device,
    where the router has no values: the routed row count, hence ``expert_macs``, is still exact).
    ``params``: all parameters; ``active_params``: per token, the non-expert parameters
    plus ``top_k`` of each MoE layer's experts.
    """

    expert_macs: int
    total_macs: int
    load: tuple[tuple[str, tuple[int, ...]], ...]
    params: int
    expert_params: int
    active_params: int
    top_k: int
    experts: int


def moe(model: Any, inputs: Any) -> MoE:
    """Trace ``model(**inputs)`` (a Hugging Face MoE model whose expert modules are called
    as ``experts(hidden, top_k_index, top_k_weights)``) and read the router's choices.

    Raises:
        ProfilingError: no expert modules were called.
    """
    from ..api import profile

    calls: dict[str, list[int]] = {}
    modules = {n: m for n, m in model.named_modules() if n.endswith(".experts")}
    if not modules:
        raise ProfilingError(f"moe: {type(model).__name__} has no '.experts' modules")
    experts = int(getattr(model.config, "num_local_experts", 0) or getattr(model.config, "num_experts", 0))
    top_k = int(getattr(model.config, "num_experts_per_tok", 0))

    def hook(name: str) -> Any:
        def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            index = args[1] if len(args) > 1 else kwargs["top_k_index"]
            if index.device.type == "meta":  # no values: the routed row count is known, the split is not
                calls.setdefault(name, [])
                return
            counts = index.reshape(-1).bincount(minlength=experts).tolist()
            previous = calls.get(name, [0] * len(counts))
            calls[name] = [a + b for a, b in zip(previous or [0] * len(counts), counts, strict=True)]

        return record

    handles = [m.register_forward_pre_hook(hook(n), with_kwargs=True) for n, m in modules.items()]
    try:
        result = profile(model, inputs=inputs)
    finally:
        for h in handles:
            h.remove()
    if not calls:
        raise ProfilingError("moe: the expert modules were not called")
    expert_macs = sum(r.macs for r in result.records if r.scope.endswith(".experts") or ".experts." in r.scope)
    expert_params = sum(p.numel() for m in modules.values() for p in m.parameters())
    active = result.params - expert_params + (expert_params * top_k // experts if experts else 0)
    return MoE(
        expert_macs=expert_macs,
        total_macs=result.totals.macs,
        load=tuple((n, tuple(c)) for n, c in sorted(calls.items())),
        params=result.params,
        expert_params=expert_params,
        active_params=active,
        top_k=top_k,
        experts=experts,
    )
