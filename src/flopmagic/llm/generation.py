"""Generation accounting from the real model's trace: one prefill forward, decode forwards.

A Hugging Face causal LM runs with a real ``DynamicCache`` (meta tensors on the meta
device, so a 70B model needs no weights). The prefill step is one traced forward of
``prefill`` tokens; decode steps are traced forwards of one token per sequence at chosen
positions. Position convention: decode step ``i`` (0-based) processes the token at
position ``p = prefill + i``, with ``p`` tokens already in the cache, and attends to
``p + 1`` keys. Where the per-step MACs and FLOPs are affine in ``p`` (checked exactly,
in integers, on three measured positions) the other steps are extrapolated exactly;
otherwise every step is measured. The result says which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..display import Displayable
from ..errors import ProfilingError
from ..schema import ModelProfile
from .kv import MemoryBounds, memory_bounds

__all__ = ["Generation", "Step", "TracedForwards", "generation", "measure_generate", "trace_generate"]

LmHead = Literal["all", "last"]
_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
_DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


@dataclass(frozen=True)
class Step:
    """One forward of generation.

    ``position``: the first position it processes; ``tokens``: new tokens per sequence;
    ``context``: sequence length after the step (``position + tokens``: the keys its last
    token attends, unless a sliding window dropped some).
    ``bytes``: weight bytes + KV-cache bytes after the step (each read once: the least
    memory traffic of the step). ``measured``: traced, or extrapolated from the affine fit.
    """

    phase: Literal["prefill", "decode"]
    position: int
    tokens: int
    context: int
    macs: int
    flops: int
    bytes: int
    kv_cache_bytes: int
    measured: bool


@dataclass(frozen=True)
class Generation(Displayable):
    """Prefill + decode work of one generation, per step and in total (batch included)."""

    model: str
    prefill: int
    decode: int
    batch: int
    dtype: str
    convention: str
    lm_head: str
    steps: tuple[Step, ...]
    affine: bool
    affinity: str
    causal: str
    params: int
    weight_bytes: int
    kv_bytes_per_token: int
    decode_macs_per_position: int
    decode_flops_per_position: int
    bounds: MemoryBounds | None = None
    _render_kind: ClassVar[str] = "llm-generation"

    @property
    def prefill_step(self) -> Step:
        return self.steps[0]

    @property
    def decode_steps(self) -> tuple[Step, ...]:
        return self.steps[1:]

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.steps)

    @property
    def flops(self) -> int:
        return sum(s.flops for s in self.steps)

    @property
    def decode_flops(self) -> int:
        return sum(s.flops for s in self.decode_steps)

    def flops_per_token(self, context: int) -> int:
        """FLOPs of one generated token (per sequence) whose position is ``context``
        (``context`` tokens already cached): exact on the affine fit. With ``batch`` > 1 it
        is the step's FLOPs // batch (work done once for the batch, such as rotary tables,
        shared evenly); the steps themselves hold the batch's exact counts.

        Raises:
            ProfilingError: the per-step cost was not affine in position.
        """
        if not self.affine or not self.decode_steps:
            raise ProfilingError("flops_per_token: the decode cost was not affine in position (see .steps)")
        first = self.decode_steps[0]
        per_batch = first.flops + self.decode_flops_per_position * (context - first.position)
        return per_batch // self.batch

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _runtime(model: Any) -> Any:
    """The framework's LLM runtime (``Adapter.language_models``), through the registry."""
    from ..adapters import detect_framework, get_adapter

    framework = detect_framework(model)
    factory = get_adapter(framework).language_models if framework is not None else None
    if factory is None:
        raise ProfilingError(f"generation: no language-model runtime for a {type(model).__name__}")
    return factory()


def _affine(points: Sequence[tuple[int, int]]) -> int | None:
    """The integer slope through all (x, y) points, or None when they are not on one line."""
    (x0, y0), (x1, y1) = points[0], points[-1]
    if x1 == x0 or (y1 - y0) % (x1 - x0):
        return None
    slope = (y1 - y0) // (x1 - x0)
    if all(y == y0 + slope * (x - x0) for x, y in points):
        return slope
    return None


def generation(
    model: Any,
    prefill: int,
    decode: int,
    batch: int = 1,
    *,
    device: str | None = "meta",
    dtype: str = "bf16",
    convention: str | None = None,
    lm_head: LmHead = "all",
    hardware: str | None = None,
    name: str | None = None,
) -> Generation:
    """Trace a causal LM's prefill of ``prefill`` tokens and ``decode`` decode steps.

    Args:
        model: a Hugging Face causal LM (``torch.nn.Module`` with a ``config``) or a spec
            such as ``"transformers:LlamaForCausalLM"`` (built on ``device``, cast to ``dtype``).
        prefill, decode, batch: prompt tokens, generated tokens, sequences.
        device: where a spec's model is built (``"meta"``: no weights); a module stays put.
        dtype: ``bf16``/``fp16``/``fp32``: a spec's weights and the bounds' peak.
        convention: re-express every step (``"flopmagic-causal"``: causal attention halved).
        lm_head: ``"all"`` (logits at every prefill position, what ``model(ids)`` does) or
            ``"last"`` (only the last, what ``generate`` needs: ``logits_to_keep=1``).
        hardware: a catalogue device name: adds prefill/decode time lower bounds and the
            largest batch x context that fits (:class:`MemoryBounds`).

    Raises:
        ProfilingError: not a causal LM, or an invalid size.
        OptionError, HardwareError, SpecError: a bad option, device or spec.
    """
    if prefill < 1 or decode < 0 or batch < 1:
        raise ProfilingError(
            f"generation: need prefill >= 1, decode >= 0, batch >= 1 (got {prefill}, {decode}, {batch})"
        )
    if dtype not in _DTYPES:
        raise ProfilingError(f"generation: dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
    if lm_head not in ("all", "last"):
        raise ProfilingError(f"generation: lm_head {lm_head!r}; use 'all' or 'last'")
    from ..api import profile
    from ..specs import load_spec

    if isinstance(model, str):
        loaded = load_spec(model, device=device)
        name = name or loaded.name
        module = _runtime(loaded.model).cast(loaded.model, dtype)
    else:
        module = model
        name = name or type(model).__name__
    if not hasattr(module, "config") or not callable(module):
        raise ProfilingError(f"generation: {name} is not a Hugging Face causal LM (no .config)")
    rt = _runtime(module)
    module.eval()

    def run(ids: Any, cache: Any, keep_last: bool) -> ModelProfile:
        inputs: dict[str, Any] = {"input_ids": ids, "past_key_values": cache, "use_cache": True}
        if keep_last:
            inputs["logits_to_keep"] = 1
        result = profile(module, inputs=inputs, name=name)
        return result.under(convention) if convention else result

    # -- prefill --------------------------------------------------------------------
    cache = rt.new_cache(module)
    first = run(rt.token_ids(module, batch, prefill), cache, lm_head == "last")
    kv_after_prefill = rt.cache_bytes(cache)
    if kv_after_prefill == 0:
        raise ProfilingError(f"generation: {name} filled no KV cache (is it a causal LM with use_cache?)")
    kv_per_token = kv_after_prefill // (batch * prefill)
    weight_bytes = sum(first.param_bytes.values()) or first.params * _DTYPE_BYTES[dtype]
    causal = _causal_note(first, convention)
    totals = first.totals
    steps: list[Step] = [
        Step(
            "prefill",
            0,
            prefill,
            prefill,
            totals.macs,
            totals.flops,
            weight_bytes + kv_after_prefill,
            kv_after_prefill,
            True,
        )
    ]

    def decode_at(position: int, cache_at: Any) -> Step:
        measured = run(rt.token_ids(module, batch, 1), cache_at, False).totals
        kv = rt.cache_bytes(cache_at)
        return Step("decode", position, 1, position + 1, measured.macs, measured.flops, weight_bytes + kv, kv, True)

    affine, note, slope_macs, slope_flops = True, "", 0, 0
    if decode:
        last = prefill + decode - 1
        chosen = sorted({prefill, (prefill + last) // 2, last})
        probes: list[Step] = [decode_at(prefill, cache)]
        for p in chosen[1:]:
            c = rt.new_cache(module)
            rt.fill(module, c, batch, p)
            probes.append(decode_at(p, c))
        fit_m = _affine([(s.position, s.macs) for s in probes])
        fit_f = _affine([(s.position, s.flops) for s in probes])
        kv_step = kv_per_token * batch
        if len(probes) >= 3 and fit_m is not None and fit_f is not None:
            slope_macs, slope_flops = fit_m, fit_f
            base = probes[0]
            measured_at = {s.position: s for s in probes}
            for p in range(prefill, last + 1):
                if p in measured_at:
                    steps.append(measured_at[p])
                    continue
                kv = kv_after_prefill + kv_step * (p - prefill + 1)
                steps.append(
                    Step(
                        "decode",
                        p,
                        1,
                        p + 1,
                        base.macs + slope_macs * (p - prefill),
                        base.flops + slope_flops * (p - prefill),
                        weight_bytes + kv,
                        kv,
                        False,
                    )
                )
            note = (
                f"affine in position: measured at positions {', '.join(map(str, chosen))}; "
                f"+{slope_macs:,} MACs and +{slope_flops:,} FLOPs per position; other steps extrapolated exactly"
            )
        else:
            affine = False
            cache = rt.new_cache(module)
            rt.fill(module, cache, batch, prefill)
            for p in range(prefill, last + 1):
                steps.append(decode_at(p, cache))
            note = (
                "not affine in position at the probes: every decode step measured"
                if len(probes) >= 3
                else f"{decode} decode step(s), too few to check affinity: every step measured"
            )
    bounds = None
    if hardware is not None:
        bounds = memory_bounds(
            hardware,
            dtype,
            prefill_flops=totals.flops,
            weight_bytes=weight_bytes,
            kv_bytes_per_token=kv_per_token,
            context=prefill + decode,
            batch=batch,
        )
    return Generation(
        model=name,
        prefill=prefill,
        decode=decode,
        batch=batch,
        dtype=dtype,
        convention=convention or first.convention,
        lm_head=lm_head,
        steps=tuple(steps),
        affine=affine,
        affinity=note,
        causal=causal,
        params=first.params,
        weight_bytes=weight_bytes,
        kv_bytes_per_token=kv_per_token,
        decode_macs_per_position=slope_macs,
        decode_flops_per_position=slope_flops,
        bounds=bounds,
    )


def _causal_note(profile: ModelProfile, convention: str | None) -> str:
    attention = [r for r in profile.records if r.op in ("attention", "multi_head_attention")]
    if not any(bool(r.attrs.get("causal")) or bool(r.attrs.get("mask")) for r in attention):
        return "no causal mask seen in the prefill attention"
    if (convention or "").endswith("causal"):
        return "causal attention detected (is_causal/mask); only unmasked query-key pairs counted (half)"
    return (
        "causal attention detected (is_causal/mask); counted in full, as the kernel computes it; "
        "convention 'flopmagic-causal' halves it"
    )


def trace_generate(
    model: Any,
    call: Callable[[], Any],
    *,
    convention: str | None = None,
    name: str | None = None,
) -> tuple[Generation, Any]:
    """Run ``call()`` (e.g. ``lambda: model.generate(ids, max_new_tokens=8)``) and trace every
    forward of ``model`` it makes: the first is the prefill, each later one a decode step.

    Returns the :class:`Generation` (every step measured) and what ``call()`` returned. The
    model's ``forward`` is wrapped for the duration of the call and restored afterwards.
    This is the hook for ``%%profile`` on a cell that calls ``generate``.

    Raises:
        ProfilingError: ``call`` made no forward of ``model``.
    """
    traced, returned = measure_generate(model, call, name=name)
    return traced.generation(convention), returned


@dataclass(frozen=True)
class TracedForwards:
    """The forwards a generate call made, each profiled under flopmagic's convention:
    (profile, batch, new tokens, cached tokens, KV-cache bytes), prefill first. What
    :func:`trace_generate` builds its :class:`Generation` from, under any convention."""

    name: str
    dtype: str
    forwards: tuple[tuple[ModelProfile, int, int, int, int], ...]

    def generation(self, convention: str | None = None) -> Generation:
        """The generation, every step re-expressed under ``convention`` (default: flopmagic's)."""
        profiles = [
            (p.under(convention) if convention else p, batch, tokens, cached, kv)
            for p, batch, tokens, cached, kv in self.forwards
        ]
        first, batch, prefill, _, _ = profiles[0]
        weight_bytes = sum(first.param_bytes.values())
        steps: list[Step] = []
        for index, (measured, _, tokens, position, kv) in enumerate(profiles):
            phase: Literal["prefill", "decode"] = "prefill" if index == 0 else "decode"
            steps.append(
                Step(
                    phase,
                    position,
                    tokens,
                    position + tokens,
                    measured.totals.macs,
                    measured.totals.flops,
                    weight_bytes + kv,
                    kv,
                    True,
                )
            )
        last = steps[-1]
        kv_per_token = last.kv_cache_bytes // (batch * last.context) if last.context else 0
        decode = tuple(steps[1:])
        points_m = [(s.position, s.macs) for s in decode]
        points_f = [(s.position, s.flops) for s in decode]
        slope_m = _affine(points_m) if len(points_m) >= 3 else None
        slope_f = _affine(points_f) if len(points_f) >= 3 else None
        affine = slope_m is not None and slope_f is not None
        return Generation(
            model=self.name,
            prefill=prefill,
            decode=len(decode),
            batch=batch,
            dtype=self.dtype,
            convention=convention or first.convention,
            lm_head="as generate ran it",
            steps=tuple(steps),
            affine=affine,
            affinity=(
                "every step traced from the generate call; "
                + ("affine in position" if affine else "not checked affine (fewer than 3 decode steps or not affine)")
            ),
            causal=_causal_note(first, convention),
            params=first.params,
            weight_bytes=weight_bytes,
            kv_bytes_per_token=kv_per_token,
            decode_macs_per_position=slope_m or 0,
            decode_flops_per_position=slope_f or 0,
        )


def measure_generate(model: Any, call: Callable[[], Any], *, name: str | None = None) -> tuple[TracedForwards, Any]:
    """Run ``call()`` and profile every forward of ``model`` it makes (see
    :func:`trace_generate`); return them, and what ``call()`` returned.

    Raises:
        ProfilingError: ``call`` made no forward of ``model``.
    """
    from ..api import profile

    name = name or type(model).__name__
    rt = _runtime(model)
    original = model.forward
    had_own = "forward" in vars(model)
    profiles: list[tuple[ModelProfile, int, int, int, int]] = []  # profile, batch, new, cached, KV bytes
    inside: list[Any] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        if inside:
            out = original(*args, **kwargs)
            inside.append(out)
            return out
        ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("past_key_values")
        cached = int(cache.get_seq_length()) if cache is not None and hasattr(cache, "get_seq_length") else 0
        inside.append(None)
        try:
            measured = profile(model, inputs={**kwargs, **({"input_ids": ids} if ids is not None else {})}, name=name)
        finally:
            out = inside[-1]
            inside.clear()
        batch, tokens = (int(ids.shape[0]), int(ids.shape[-1])) if ids is not None else (1, 1)
        kv = rt.cache_bytes(cache) if cache is not None else 0
        profiles.append((measured, batch, tokens, cached, kv))
        return out

    model.forward = forward
    try:
        returned = call()
    finally:
        if had_own:
            model.forward = original
        else:
            del model.forward
    if not profiles:
        raise ProfilingError(f"trace_generate: the call made no forward of {name}")
    return TracedForwards(name, rt.dtype_name(model), tuple(profiles)), returned
