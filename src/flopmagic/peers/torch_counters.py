"""fvcore's ``FlopCountAnalysis`` and ``torch.utils.flop_counter.FlopCounterMode`` as backends.

Their results are normalised into the schema with their convention stated:
fvcore's numbers are MACs (it counts "one fused multiply-add as one flop"),
FlopCounterMode's are FLOPs (2 per MAC, matmul/conv/attention kernels only).
They report per-module totals by op, not shapes, so their records are
``native`` records that cannot be re-priced under another convention.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from ..adapters.torch.run_module import make_inputs, split_inputs, torch_versions
from ..adapters.torch.state import ModelStateGuard
from ..engine import assemble
from ..errors import ProfilingError
from ..schema import ModelProfile, OpRecord

__all__ = ["profile_flop_counter_mode", "profile_fvcore"]


def _self_counts(cumulative: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Per-module totals that include children -> each module's own counts."""
    own: dict[str, dict[str, int]] = {}
    for scope, counts in cumulative.items():
        own[scope] = dict(counts)
    for scope, counts in cumulative.items():
        if scope == "":
            continue
        parent = scope.rsplit(".", 1)[0] if "." in scope else ""
        while parent not in cumulative and parent != "":
            parent = parent.rsplit(".", 1)[0] if "." in parent else ""
        if parent in own:
            for op, value in counts.items():
                own[parent][op] = own[parent].get(op, 0) - value
    return own


def _native_records(own: Mapping[str, Mapping[str, int]], *, reports: str, tool: str) -> list[OpRecord]:
    records = []
    for scope, counts in own.items():
        for op, value in counts.items():
            if value == 0:
                continue
            macs, flops = (value, 2 * value) if reports == "macs" else (value // 2, value)
            records.append(
                OpRecord(
                    name=f"{scope or '(root)'}/{op}",
                    op=op,
                    native=f"{tool}:{op}",
                    scope=scope,
                    macs=macs,
                    flops=flops,
                    method="native",
                )
            )
    return records


def _prepare(model: torch.nn.Module, inputs: Any, input_shape: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not isinstance(model, torch.nn.Module):
        raise ProfilingError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if inputs is None:
        if input_shape is None:
            raise ProfilingError("pass inputs=... or input_shape=... so the model can be run once")
        return make_inputs(model, input_shape), {}
    return split_inputs(inputs)


def _finish(
    model: torch.nn.Module,
    name: str,
    backend: str,
    convention: str,
    records: list[OpRecord],
    notes: list[str],
    training: bool,
) -> ModelProfile:
    params = list(model.parameters())
    return assemble(
        model=name,
        framework="torch",
        backend=backend,
        convention=convention,
        records=records,
        params=sum(p.numel() for p in params),
        param_counts={
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "buffers": sum(b.numel() for b in model.buffers()),
        },
        versions=torch_versions(),
        notes=tuple(notes),
        training=training,
    )


def profile_fvcore(
    model: torch.nn.Module,
    inputs: Any = None,
    *,
    input_shape: Any = None,
    training: bool = False,
    name: str | None = None,
) -> ModelProfile:
    """fvcore FlopCountAnalysis (JIT trace, eval mode). Its numbers are MACs."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError as error:
        raise ProfilingError("backend 'fvcore' needs fvcore: pip install fvcore") from error
    if training:
        raise ProfilingError("backend 'fvcore' counts inference only; use backend='flopmagic' or 'torch' for training")
    args, kwargs = _prepare(model, inputs, input_shape)
    if kwargs:
        raise ProfilingError("backend 'fvcore' takes positional inputs only (a tensor or a tuple)")
    guard = ModelStateGuard(model)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    try:
        model.eval()
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, args)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            cumulative = {k: dict(v) for k, v in analysis.by_module_and_operator().items()}
            unsupported = dict(analysis.unsupported_ops())
    except Exception as error:
        raise ProfilingError(
            f"fvcore could not count {type(model).__name__}: {type(error).__name__}: {error}"
        ) from error
    finally:
        guard.restore()
    records = _native_records(_self_counts(cumulative), reports="macs", tool="fvcore")
    for op, count in unsupported.items():
        records.append(
            OpRecord(
                name=f"(root)/{op}",
                op=op,
                native=f"fvcore:{op}",
                scope="",
                macs=0,
                flops=0,
                method="unsupported",
                count=count,
            )
        )
    notes = [
        "fvcore counts one fused multiply-add as one flop: its 'flops' are MACs (shown as MACs here; FLOPs = 2 x MACs).",
        "fvcore skips ops it has no handle for (listed as unsupported), e.g. activations, max pooling, attention kernels.",
    ]
    return _finish(model, name or type(model).__name__, "fvcore", "fvcore", records, notes, False)


def _strip_root(key: str, root: str) -> str:
    if key == root:
        return ""
    return key[len(root) + 1 :] if key.startswith(root + ".") else key


def profile_flop_counter_mode(
    model: torch.nn.Module,
    inputs: Any = None,
    *,
    input_shape: Any = None,
    training: bool = False,
    name: str | None = None,
) -> ModelProfile:
    """torch.utils.flop_counter.FlopCounterMode. Its numbers are FLOPs (2 per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    args, kwargs = _prepare(model, inputs, input_shape)
    guard = ModelStateGuard(model)
    try:
        model.train(training)
        counter = FlopCounterMode(display=False)
        if training:
            with torch.enable_grad(), counter:
                from torch.utils._pytree import tree_leaves

                out = model(*args, **kwargs)
                leaves = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]
                loss = torch.stack([t.sum() for t in leaves]).sum()
                wrt = [p for p in model.parameters() if p.requires_grad]
                torch.autograd.grad(loss, wrt, allow_unused=True)
        else:
            with torch.no_grad(), counter:
                model(*args, **kwargs)
        counts = counter.get_flop_counts()
    except Exception as error:
        raise ProfilingError(
            f"FlopCounterMode could not count {type(model).__name__}: {type(error).__name__}: {error}"
        ) from error
    finally:
        guard.restore()
    root = type(model).__name__
    cumulative = {
        _strip_root(k, root): {str(op): int(v) for op, v in ops.items()} for k, ops in counts.items() if k != "Global"
    }
    if "" not in cumulative:
        cumulative[""] = {str(op): int(v) for op, v in counts.get("Global", {}).items()}
    records = _native_records(_self_counts(cumulative), reports="flops", tool="torch")
    notes = [
        "FlopCounterMode counts true FLOPs (2 per MAC) of matmul, convolution and the SDPA kernels in its "
        "registry only; bias, norms, activations, pooling, the CPU flash-attention kernel and "
        "nn.MultiheadAttention's fast path count 0. MACs here are its FLOPs / 2.",
    ]
    return _finish(model, name or type(model).__name__, "torch", "torch", records, notes, training)
