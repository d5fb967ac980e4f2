"""Training-compute and utilisation (MFU/HFU) claims, audited against a traced training step.

Training compute ("GPT-3 175B: 3.14e23 FLOPs", "3640 PF-days") is compared with the
readings a paper could have used: ``6nd`` (6 x parameters x tokens, Kaplan et al. 2020),
the traced forward + backward FLOPs per token x tokens, its MACs (a MAC/FLOP slip),
forward only (``2nd``), and with activation recomputation (``8nd``: hardware FLOPs).
The verdict names the reading and, next to it, how the traced count differs from
6ND term by term (attention, dense layers, head, embeddings, elementwise).

Utilisation ("46.2% MFU") is recomputed from the stated throughput, device count and
peak: MFU = model FLOPs per token x global tokens/s / (devices x peak FLOP/s). The
readings tested are the slips that change the figure: the 2:4-sparsity peak instead of
the dense one (halves it), per-device throughput taken as global or the reverse (a
factor of the device count), hardware FLOPs (with recomputation) reported as model
FLOPs, and 6N against the traced count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from .auditor import (
    CONTRACTIONS,
    DEFAULT_TOLERANCE,
    ClaimError,
    Family,
    Hypothesis,
    Quantity,
    Reading,
    Verdict,
    VerdictKind,
    _nearest,
    _pick,
    _precision,
    describe_reading,
    distance,
    head_layer,
    parse_claim,
    quote,
)
from .schema import ModelProfile
from .units import ParsedQuantity, format_count

__all__ = [
    "PF_DAY_FLOPS",
    "audit_training",
    "audit_utilisation",
    "parse_fraction",
    "parse_rate",
    "parse_training_claim",
    "training_terms",
]

# One petaFLOP/s sustained for a day: 10^15 x 86,400 s = 8.64e19 FLOPs (Brown et al. 2020, Table D.1).
PF_DAY_FLOPS = 10**15 * 86_400
_PF_DAYS = re.compile(
    r"^\s*(?P<num>\d[\d,_]*(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(?:pf-?days?|pfs?-days?|petaflop(?:/s)?-days?)\s*$",
    re.IGNORECASE,
)
_RATE_SUFFIX = re.compile(
    r"\s*(?:tokens?|samples?|images?|sequences?|seqs?)?\s*(?:/|per)\s*(?:s|sec|second)\b.*$", re.IGNORECASE
)
ATTENTION_OPS = frozenset(
    {"attention", "attention_backward", "multi_head_attention", "softmax", "softmax_backward", "log_softmax"}
)
RATE_FORMS = "a finite number above zero, e.g. '238.3K tokens/s', '2.383e5', '1,000 samples/s'"


def _flops(value: float) -> str:
    """Training totals are beyond SI prefixes people read: 3.143e+23 FLOPs."""
    return f"{value:.4g} FLOPs" if value >= 1e18 else format_count(value, "FLOPs")


def parse_training_claim(text: object) -> ParsedQuantity:
    """``"3.14e23 FLOPs"``, ``"3640 PF-days"`` (x 8.64e19 FLOPs), ``"314 ZFLOPs"``-style counts.

    Raises:
        ClaimError: not a finite count above zero, or a parameter count.
    """
    if isinstance(text, str):
        match = _PF_DAYS.match(text)
        if match is not None:
            days = float(match["num"].replace(",", "").replace("_", ""))
            value = days * PF_DAY_FLOPS
            if not math.isfinite(value) or value <= 0:
                raise ClaimError(f"training-compute claim {quote(text)} is not a finite amount above zero")
            return ParsedQuantity(text, value, "PF-days", "flops", "", False)
    parsed = parse_claim(text, what="training-compute claim")
    if parsed.kind == "params":
        raise ClaimError(f"training-compute claim {quote(text)} is a parameter count; write e.g. '3.14e23 FLOPs'")
    return parsed


def parse_rate(text: object, what: str = "throughput") -> float:
    """A count or rate: ``"238.3K tokens/s"``, ``"300e9"``, ``"300B"``, ``"6144"``.

    Raises:
        ClaimError: not a finite number above zero.
    """
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        raise ClaimError(f"{what} {quote(text)} is not a number; write {RATE_FORMS}")
    cleaned = _RATE_SUFFIX.sub("", str(text)).strip()
    cleaned = re.sub(r"\s*(?:tokens?|samples?|images?|devices?|gpus?|chips?|epochs?)$", "", cleaned, flags=re.I)
    try:
        return parse_claim(cleaned, what=what).value
    except ClaimError:
        raise ClaimError(f"cannot read {what} {quote(text)}; write {RATE_FORMS}") from None


def parse_fraction(text: object, what: str = "MFU") -> ParsedQuantity:
    """``"46.2%"`` -> 0.462; ``"0.462"`` -> 0.462 (a bare number must be at most 1).

    Raises:
        ClaimError: not a percentage or a fraction above zero.
    """
    form = "write a percentage such as '46.2%' or a fraction such as '0.462'"
    if not isinstance(text, str) or len(text) > 200:
        raise ClaimError(f"cannot read {what} claim {quote(text)}; {form}")
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw.rstrip("%").strip()
    number = re.sub(r"\s*(?:mfu|hfu)$", "", number, flags=re.I)
    try:
        value = float(number.replace(",", ""))
    except ValueError:
        raise ClaimError(f"cannot read {what} claim {quote(text)}; {form}") from None
    value = value / 100 if percent else value
    if not math.isfinite(value) or value <= 0 or (not percent and value > 1):
        raise ClaimError(f"{what} claim {quote(text)} is not a utilisation above zero; {form}")
    return ParsedQuantity(text, value, what, None, "", False)


def _units_per_step(profile: ModelProfile, unit: Literal["token", "sample"]) -> int:
    if not profile.inputs or not profile.inputs[0].shape:
        raise ClaimError(f"{profile.model}: the profile has no input shape to count {unit}s per step")
    shape = profile.inputs[0].shape
    if unit == "sample":
        return int(shape[0])
    if not profile.inputs[0].dtype.startswith(("int", "uint")):
        raise ClaimError(
            f"{profile.model}: tokens need a model that takes token ids (a transformers: spec); "
            "for a vision model give samples (and epochs)"
        )
    return math.prod(shape)


def _forward_flops(profile: ModelProfile) -> int:
    return sum(r.flops for r in profile.records if r.phase == "forward")


def training_terms(profile: ModelProfile, per_step: int) -> dict[str, float]:
    """How the traced training FLOPs per token differ from 6N, term by term.

    The terms add up exactly to ``traced per token - 6N``: attention (score and
    value matmuls, softmax; forward and backward: not in 6N), dense layers (their
    traced FLOPs - 6 x their parameters), the head (the same for the output layer),
    norms/activations/elementwise (not in 6N), and the parameters no matmul reads
    (embeddings, norms: 6N counts 6 FLOPs for each, a lookup computes nothing).
    """
    forward = [r for r in profile.records if r.phase == "forward"]
    weight_params: dict[str, int] = {}
    for r in forward:
        if r.op in CONTRACTIONS and r.params > 0:
            weight_params[r.scope] = max(weight_params.get(r.scope, 0), r.params)
    head_scope, _, head_params = head_layer(profile)
    buckets = {"attention": 0, "dense": 0, "head": 0, "other": 0}
    for r in profile.records:
        if r.op in CONTRACTIONS and r.scope == head_scope and head_scope:
            buckets["head"] += r.flops
        elif r.op in CONTRACTIONS and r.scope in weight_params:
            buckets["dense"] += r.flops
        elif r.op in CONTRACTIONS or r.op in ATTENTION_OPS:
            buckets["attention"] += r.flops
        else:
            buckets["other"] += r.flops
    dense_params = sum(v for k, v in weight_params.items() if k != head_scope)
    rest_params = profile.params - dense_params - head_params
    return {
        "attention": buckets["attention"] / per_step,
        "dense layers": buckets["dense"] / per_step - 6 * dense_params,
        "head": buckets["head"] / per_step - 6 * head_params,
        "norms, activations, elementwise": buckets["other"] / per_step,
        "embeddings and other parameters outside matmuls": -6.0 * rest_params,
    }


def _choose(
    parsed: ParsedQuantity, tiers: list[list[Hypothesis]], tolerance: float
) -> tuple[Reading | None, list[Reading]]:
    precision = _precision(parsed)
    limit = max(tolerance, precision)
    every = [h for tier in tiers for h in tier]
    order = {h.name: i for i, h in enumerate(every)}
    comparisons = [Reading(h, False, parsed.value / h.value - 1) for h in every if h.value > 0]
    for tier in tiers:
        names = {h.name for h in tier}
        fitting = [c for c in comparisons if c.hypothesis.name in names and abs(c.relative_error) <= limit]
        if fitting:
            return _pick(fitting, precision, order), comparisons
    return None, comparisons


def audit_training(
    profile: ModelProfile,
    claim: str,
    *,
    tokens: str | float | None = None,
    samples: str | float | None = None,
    epochs: str | float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    source: str = "",
    label: str | None = None,
) -> Verdict:
    """Audit a training-compute claim against a traced training step (``training=True``).

    ``tokens`` (language models: tokens trained on) or ``samples`` x ``epochs``
    (vision). The per-token (per-sample) traced count is the profile's FLOPs divided
    by the tokens (samples) in its input.

    Raises:
        ClaimError: not a training profile, or a claim/token count that cannot be read.
    """
    if not profile.training:
        raise ClaimError(f"{profile.model}: a training-compute claim needs a training profile (training=True)")
    parsed = parse_training_claim(claim)
    name = label or profile.model
    traced, forward, macs = profile.flops, _forward_flops(profile), profile.macs
    if tokens is not None and str(tokens).strip():
        unit: Literal["token", "sample"] = "token"
        total = parse_rate(tokens, "tokens")
    elif samples is not None and str(samples).strip():
        unit = "sample"
        total = parse_rate(samples, "samples") * (parse_rate(epochs, "epochs") if epochs else 1.0)
    else:
        raise ClaimError("a training-compute claim needs tokens (or samples and epochs) to scale the traced step")
    per_step = _units_per_step(profile, unit)
    if traced <= 0:
        raise ClaimError(f"{profile.model}: the traced training step has no counted compute (0 FLOPs)")
    n = profile.params
    scale = total / per_step
    details: dict[str, float] = {
        f"{unit}s": total,
        f"{unit}s_per_step": per_step,
        f"traced_flops_per_{unit}": traced / per_step,
        "traced_flops": traced * scale,
        "params": n,
    }
    if unit == "token":
        nonembedding = n - sum(
            max((r.params for r in profile.records if r.scope == s and r.op == "embedding"), default=0)
            for s in {r.scope for r in profile.records if r.op == "embedding"}
        )
        full = [
            Hypothesis("6nd", "flops", "full", 6 * n * total, "6ND: 6 x parameters x tokens (Kaplan et al. 2020)"),
            Hypothesis("traced", "flops", "full", traced * scale, "traced forward + backward FLOPs per token x tokens"),
            Hypothesis(
                "6nd non-embedding", "flops", "full", 6 * nonembedding * total, "6ND with non-embedding parameters"
            ),
            Hypothesis(
                "traced macs", "macs", "full", macs * scale, "traced forward + backward MACs per token x tokens"
            ),
        ]
        other = [
            Hypothesis("2nd forward only", "flops", "partial", 2 * n * total, "2ND: the forward pass only"),
            Hypothesis("traced forward only", "flops", "partial", forward * scale, "traced forward FLOPs x tokens"),
            Hypothesis(
                "8nd recompute", "flops", "partial", 8 * n * total, "8ND: 6ND + a recomputed forward (hardware FLOPs)"
            ),
            Hypothesis(
                "traced + recompute",
                "flops",
                "partial",
                (traced + forward) * scale,
                "traced training FLOPs + a recomputed forward (hardware FLOPs)",
            ),
        ]
        terms = training_terms(profile, per_step)
        details["6n_flops_per_token"] = 6 * n
        details["traced_vs_6nd"] = traced / per_step / (6 * n) - 1
        details.update({f"term: {k}": v for k, v in terms.items()})
    else:
        full = [
            Hypothesis(
                "traced", "flops", "full", traced * scale, "traced forward + backward FLOPs per sample x samples"
            ),
            Hypothesis(
                "3x forward",
                "flops",
                "full",
                3 * forward * scale,
                "3 x forward FLOPs (the usual forward + backward estimate)",
            ),
            Hypothesis("traced macs", "macs", "full", macs * scale, "traced forward + backward MACs x samples"),
        ]
        other = [
            Hypothesis("traced forward only", "flops", "partial", forward * scale, "forward FLOPs only x samples"),
            Hypothesis(
                "traced + recompute",
                "flops",
                "partial",
                (traced + forward) * scale,
                "traced training FLOPs + a recomputed forward (hardware FLOPs)",
            ),
        ]
        terms = {}
    best, comparisons = _choose(parsed, [full, other], tolerance)
    nearest = tuple(_nearest(comparisons))
    traced_text = _flops(traced * scale)
    if best is None:
        kind: VerdictKind = "mismatch"
        best = min(comparisons, key=lambda c: distance(c.relative_error))
        head = f"mismatch: no reading explains {parsed.text!r}; nearest readings: " + "; ".join(
            describe_reading(c) for c in nearest
        )
    else:
        h = best.hypothesis
        if "recompute" in h.name:
            kind = "hardware-flops"
        elif h.scope == "partial":
            kind = "other-scope"
        elif h.family == "macs" and parsed.kind == "flops":
            kind = "macs-as-flops"
        else:
            kind = "consistent"
        head = f"{kind}: the claim used {h.name} ({h.description}: {_flops(h.value)}, {best.relative_error:+.2%})"
    if unit == "token":
        six = 6 * n * total
        parts = ", ".join(f"{k} {v / (6 * n):+.2%}" for k, v in terms.items() if abs(v) / (6 * n) >= 0.00005)
        head += (
            f"; traced forward + backward: {traced_text} ({traced * scale / six - 1:+.1%} vs 6ND "
            f"{_flops(six)}; per term vs 6N: {parts}); the claim is "
            f"{parsed.value / six - 1:+.1%} from 6ND and {parsed.value / (traced * scale) - 1:+.1%} from the traced count"
        )
    else:
        head += f"; traced forward + backward: {traced_text} ({parsed.value / (traced * scale) - 1:+.1%} vs the claim)"
    return _verdict(
        name,
        parsed,
        kind,
        best.hypothesis.family,
        best,
        tolerance,
        head,
        comparisons,
        source,
        "training",
        nearest,
        details,
    )


def _verdict(
    model: str,
    parsed: ParsedQuantity,
    kind: VerdictKind,
    family: Family,
    best: Reading,
    tolerance: float,
    message: str,
    comparisons: list[Reading],
    source: str,
    quantity: Quantity,
    nearest: tuple[Reading, ...],
    details: Mapping[str, float],
) -> Verdict:
    """The verdict on a training-FLOPs or utilisation claim: ``best`` the reading it
    matched (or the nearest one for a mismatch, when ``nearest`` are listed)."""
    return Verdict(
        model=model,
        claim=parsed,
        kind=kind,
        matched=family if kind != "mismatch" else None,
        hypothesis=best.hypothesis.name,
        relative_error=best.relative_error,
        tolerance=max(tolerance, _precision(parsed)),
        message=message,
        comparisons=tuple(comparisons),
        source=source,
        quantity=quantity,
        nearest=nearest if kind == "mismatch" else (),
        details=details,
    )


def _peaks(
    device: str | None, dtype: str | None, peak_tflops: str | float | None, sparse_peak_tflops: str | float | None
) -> tuple[float, float | None, str]:
    """(dense FLOP/s, sparse FLOP/s or None, where they came from)."""
    if peak_tflops is not None and str(peak_tflops).strip():
        dense = parse_rate(peak_tflops, "peak TFLOPS") * 1e12
        sparse = (
            parse_rate(sparse_peak_tflops, "sparse peak TFLOPS") * 1e12
            if sparse_peak_tflops is not None and str(sparse_peak_tflops).strip()
            else None
        )
        return dense, sparse, "stated peak"
    if not device:
        raise ClaimError("a utilisation claim needs the peak: a device and dtype, or peak TFLOPS (--peak-tflops)")
    try:
        from . import hardware  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        raise ClaimError(
            f"device {quote(device)}: this flopmagic has no device catalogue; give the peak (--peak-tflops)"
        ) from None
    entry = hardware.get_device(device)
    if not dtype:
        raise ClaimError(f"device {quote(device)}: give the dtype the claim was measured in (e.g. bf16)")
    peaks: Mapping[str, float] = entry.peak_flops
    key = dtype.strip().lower()
    if key not in peaks:
        raise ClaimError(f"{entry.name} has no {quote(dtype)} peak; it has {', '.join(sorted(peaks))}")
    sparse_peaks: Mapping[str, float] = entry.sparse_peak_flops
    return float(peaks[key]), (float(sparse_peaks[key]) if key in sparse_peaks else None), f"{entry.name} {key}"


def audit_utilisation(
    profile: ModelProfile | None,
    *,
    mfu: str | None = None,
    hfu: str | None = None,
    throughput: str | float | None = None,
    throughput_per: str | None = None,
    devices: str | float | None = None,
    device: str | None = None,
    dtype: str | None = None,
    peak_tflops: str | float | None = None,
    sparse_peak_tflops: str | float | None = None,
    params: str | float | None = None,
    layers: str | float | None = None,
    attention_width: str | float | None = None,
    seq_len: str | float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    source: str = "",
    label: str | None = None,
) -> Verdict:
    """Recompute an MFU (or HFU) claim and say which reading it used.

    ``profile`` is a training profile (``training=True``) of the model, or ``None``
    when the source states the model instead: ``params`` (N) and, for the attention
    term of PaLM's formula (6N + 12 L H Q T, Chowdhery et al. 2022, App. B),
    ``layers``, ``attention_width`` (H x Q) and ``seq_len``.

    Raises:
        ClaimError: a missing or unreadable input (throughput, devices, peak).
    """
    if (mfu is None) == (hfu is None):
        raise ClaimError("give exactly one of an MFU claim and an HFU claim")
    which = "MFU" if mfu is not None else "HFU"
    parsed = parse_fraction(mfu if mfu is not None else hfu, which)
    if throughput is None or not str(throughput).strip():
        raise ClaimError(f"an {which} claim needs the throughput (tokens or samples per second)")
    rate = parse_rate(throughput)
    per = (throughput_per or "global").strip().lower().replace("per-", "").replace("per ", "")
    if per in ("gpu", "chip", "device", "accelerator", "tpu"):
        per = "device"
    if per not in ("device", "global"):
        raise ClaimError(f"throughput_per must be 'device' or 'global', got {quote(throughput_per)}")
    count = parse_rate(devices, "devices") if devices is not None and str(devices).strip() else 1.0
    if count != int(count):
        raise ClaimError(f"devices must be a whole number, got {quote(devices)}")
    dense, sparse, peak_source = _peaks(device, dtype, peak_tflops, sparse_peak_tflops)
    unit: Literal["token", "sample"] = "token"
    if profile is not None:
        if not profile.training:
            raise ClaimError(f"{profile.model}: a utilisation claim needs a training profile (training=True)")
        if not profile.inputs:
            raise ClaimError(f"{profile.model}: the profile has no input to count tokens or samples per step")
        unit = "token" if profile.inputs[0].dtype.startswith(("int", "uint")) else "sample"
        per_step = _units_per_step(profile, unit)
        n = float(profile.params)
    else:
        if params is None or not str(params).strip():
            raise ClaimError(f"an {which} claim without a model needs its parameter count (params)")
        n = parse_rate(params, "params")
        per_step = 0
    model_bases: dict[str, tuple[float, str]] = {}
    hardware_bases: dict[str, tuple[float, str]] = {}
    if unit == "token":  # 6N per token holds for language models, not for convolutions over samples
        model_bases["6n"] = (6 * n, "6N FLOPs per token")
        hardware_bases["8n"] = (8 * n, "8N: 6N + a recomputed forward (hardware FLOPs)")
    if layers and attention_width and seq_len:
        attention = (
            12
            * parse_rate(layers, "layers")
            * parse_rate(attention_width, "attention width")
            * parse_rate(seq_len, "sequence length")
        )
        model_bases["6n+attention"] = (6 * n + attention, "6N + 12 L H Q T (PaLM's model FLOPs per token)")
        hardware_bases["8n+attention"] = (8 * n + attention * 4 / 3, "6N + 12LHQT + a recomputed forward")
    if profile is not None and per_step:
        traced = profile.flops / per_step
        forward = _forward_flops(profile) / per_step
        model_bases["traced"] = (traced, f"traced training FLOPs per {unit}")
        hardware_bases["traced + recompute"] = (traced + forward, "traced training FLOPs + a recomputed forward")
    canonical_bases, other_bases = (model_bases, hardware_bases) if which == "MFU" else (hardware_bases, model_bases)
    global_rate = rate * count if per == "device" else rate
    misread_rate = rate if per == "device" else rate * count
    misread = "per-device throughput taken as global" if per == "device" else "global throughput taken as per-device"
    peaks = [("dense", dense)] + ([("sparse", sparse)] if sparse else [])
    canonical: list[Hypothesis] = []
    rest: list[Hypothesis] = []
    for bases, is_canonical in ((canonical_bases, True), (other_bases, False)):
        for basis, (flops_per_token, what) in bases.items():
            for peak_name, peak in peaks:
                for rate_name, used in (("", global_rate), (misread, misread_rate)):
                    if rate_name and count == 1:
                        continue
                    value = flops_per_token * used / (count * peak)
                    reading = f"{basis}, {peak_name} peak" + (f", {rate_name}" if rate_name else "")
                    description = f"{what} x {format_count(used)} {unit}s/s / ({count:g} x {peak / 1e12:,.1f} TFLOP/s)"
                    scope: Literal["full", "partial"] = "full"
                    h = Hypothesis(reading, "flops", scope, value, description)
                    (canonical if is_canonical and peak_name == "dense" and not rate_name else rest).append(h)
    best, comparisons = _choose(parsed, [canonical, rest], tolerance)
    details: dict[str, float] = {
        "dense_peak_flops": dense,
        "global_throughput": global_rate,
        "devices": count,
        **{f"{which.lower()}_{h.name.split(',')[0]}": h.value for h in canonical},
    }
    if sparse:
        details["sparse_peak_flops"] = sparse
    recomputed = ", ".join(f"{h.name.split(',')[0]} {h.value:.1%}" for h in canonical)
    nearest = tuple(_nearest(comparisons))
    if best is None:
        kind: VerdictKind = "mismatch"
        best = min(comparisons, key=lambda c: distance(c.relative_error))
        message = f"mismatch: no reading gives {parsed.text!r}; nearest readings: " + "; ".join(
            f"{c.hypothesis.name}: {c.hypothesis.value:.1%} ({c.relative_error:+.1%})" for c in nearest
        )
    else:
        name = best.hypothesis.name
        if ", sparse peak" in name:
            kind = "sparse-peak"
        elif "taken as" in name:
            kind = "throughput-scope"
        elif best.hypothesis not in canonical:
            kind = "hardware-flops" if which == "MFU" else "other-scope"
        else:
            kind = "consistent"
        what = {
            "consistent": f"the claim is the recomputed {which}",
            "sparse-peak": "the claim divides by the 2:4-sparsity peak, half the dense peak a dense model can use",
            "throughput-scope": f"the claim takes the throughput at the wrong scope ({misread})",
            "hardware-flops": "the claim counts hardware FLOPs (with recomputation): that is HFU, not MFU",
            "other-scope": "the claim counts model FLOPs only: that is MFU, not HFU",
        }[kind]
        message = (
            f"{kind}: {what}: {name} = {best.hypothesis.value:.1%} ({best.relative_error:+.1%}); "
            f"{best.hypothesis.description}"
        )
    message += f"; recomputed {which} with the dense peak ({peak_source}): {recomputed}"
    model = label or (profile.model if profile is not None else "(stated)")
    return _verdict(
        model, parsed, kind, "flops", best, tolerance, message, comparisons, source, "utilisation", nearest, details
    )
