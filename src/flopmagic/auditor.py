"""Auditing published compute claims: "ResNet-50: 4.1 GFLOPs" -- what is that number?

The measured model gives a set of hypotheses (MACs, FLOPs = 2 x MACs, all-op
FLOPs, what each tool reports, conv-only, ...), each a concrete number. The claim
is compared with each, read with decimal and with binary prefixes, within the
precision the claim was written with. A factor near 2 between the word and the
matching quantity is a MAC/FLOP confusion; a few percent never is: a claim that
matches nothing gets a ``mismatch`` verdict with its closest hypothesis and the
likely causes (architecture variant, resolution, batch size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .display import Displayable
from .schema import ModelProfile
from .units import ParsedQuantity, format_count, parse_quantity

__all__ = ["DEFAULT_TOLERANCE", "Hypothesis", "ParamsVerdict", "Verdict", "VerdictKind", "audit", "hypotheses"]

VerdictKind = Literal["consistent", "macs-as-flops", "flops-as-macs", "binary-prefix", "other-scope", "mismatch"]
Family = Literal["macs", "flops"]

# Tools and papers differ by bias, normalisation and pooling terms: about 1% on CNNs.
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One reading of what a published number could be, measured on the model.

    ``scope`` is ``"full"`` for the whole model's MACs or FLOPs (however bias and
    norms are counted) and ``"partial"`` for a subset (conv only, attention left out).
    """

    name: str
    family: Family
    scope: Literal["full", "partial"]
    value: int
    description: str


@dataclass(frozen=True, slots=True)
class Reading:
    """The claim read as one hypothesis: how far it is from that measured number."""

    hypothesis: Hypothesis
    binary: bool
    relative_error: float  # claim / hypothesis - 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "hypothesis": self.hypothesis.name,
            "quantity": self.hypothesis.family,
            "value": self.hypothesis.value,
            "binary_prefix": self.binary,
            "relative_error": self.relative_error,
        }


@dataclass(frozen=True, slots=True)
class ParamsVerdict:
    claim: ParsedQuantity
    measured: int
    matched: str | None
    binary: bool
    relative_error: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim.text,
            "measured": self.measured,
            "matched": self.matched,
            "binary_prefix": self.binary,
            "relative_error": self.relative_error,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Verdict(Displayable):
    """The audit of one claim against one measured model."""

    model: str
    claim: ParsedQuantity
    kind: VerdictKind
    matched: Family | None
    hypothesis: str | None
    relative_error: float
    tolerance: float
    message: str
    comparisons: tuple[Reading, ...]
    causes: tuple[str, ...] = ()
    params: ParamsVerdict | None = None
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    _render_kind: ClassVar[str] = "verdict"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "claim": self.claim.text,
            "claim_value": self.claim.value,
            "claim_word": self.claim.word,
            "verdict": self.kind,
            "matched": self.matched,
            "hypothesis": self.hypothesis,
            "relative_error": self.relative_error,
            "tolerance": self.tolerance,
            "message": self.message,
            "causes": list(self.causes),
            "params": self.params.to_dict() if self.params else None,
            "source": self.source,
            "hypotheses": [c.to_dict() for c in self.comparisons],
        }

    def __str__(self) -> str:
        return self.render("text")


def hypotheses(profile: ModelProfile) -> tuple[Hypothesis, ...]:
    """Everything a published number for this model could plausibly be."""
    if any(r.method == "native" for r in profile.records):
        raise ValueError("audit needs a profile from backend='flopmagic' (a wrapped tool's profile has no shapes)")
    from .conventions import get_convention

    base = profile.under("flopmagic") if profile.convention != "flopmagic" else profile
    macs = base.macs
    conv = sum(r.macs for r in base.records if r.op in ("conv", "conv_transpose"))
    bias = macs + sum(
        max(r.flops - 2 * r.macs, 0)
        for r in base.records
        if r.macs and r.op in ("conv", "conv_transpose", "linear", "matmul")
    )
    found = [
        Hypothesis("macs", "macs", "full", macs, "multiply-accumulates of conv, linear, attention (the paper count)"),
        Hypothesis("flops", "flops", "full", 2 * macs, "FLOPs = 2 x MACs"),
        Hypothesis(
            "all-op flops",
            "flops",
            "full",
            base.flops,
            "FLOPs of every op: 2 per MAC + bias, norms, activations, pooling",
        ),
        Hypothesis(
            "strict flops", "flops", "full", base.under("strict").flops, "every op, 2K - 1 FLOPs per dot product"
        ),
        Hypothesis("macs with bias", "macs", "full", bias, "MACs with bias adds counted as MACs"),
    ]
    for name in ("fvcore", "thop", "ptflops", "torch", "tf-profiler"):
        convention = get_convention(name)
        value = getattr(base.under(name).totals, convention.reports)
        family: Family = "macs" if convention.reports == "macs" else "flops"
        # A tool that leaves out a large part of the model (attention kernels, say) is a partial count.
        scale = value / (macs if family == "macs" else 2 * macs) if macs else 1.0
        scope: Literal["full", "partial"] = "full" if abs(scale - 1) < 0.05 else "partial"
        found.append(Hypothesis(name, family, scope, value, f"what {convention.title} reports"))
    if conv and conv != macs:
        found.append(Hypothesis("conv-only macs", "macs", "partial", conv, "MACs of convolutions only"))
        found.append(
            Hypothesis("conv-only flops", "flops", "partial", 2 * conv, "FLOPs of convolutions only (2 x MACs)")
        )
    return tuple(h for h in found if h.value > 0)


def _precision(claim: ParsedQuantity, units: float = 1.0) -> float:
    """``units`` units in the last written digit, relative to the number: "3.6" with
    one unit is 3.6 +- 0.1 (2.8%). Published figures are rounded or cut off (the
    ResNet paper's 3.6 G for ResNet-34 is 3.664 G), so a compute claim gets one unit."""
    text = claim.text.strip()
    digits = ""
    for char in text:
        if char.isdigit() or char in ".,":
            digits += char
        elif digits:
            break
    digits = digits.replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    mantissa = float(digits) if digits else 0.0
    if mantissa == 0:
        return 0.0
    return units * 10.0 ** (-decimals) / mantissa


def _binary_factor(claim: ParsedQuantity) -> float:
    """How much larger the claim is when its prefix is read as a power of 2."""
    powers = {"K": 1, "M": 2, "G": 3, "B": 3, "T": 4, "P": 5}
    power = powers.get(claim.prefix.rstrip("i"))
    if power is None:
        # a bare number: its exponent decides the prefix a tool would have used
        power = max(0, min(5, int(math.log10(max(claim.value, 1)) // 3)))
    return (1024.0 / 1000.0) ** power


def _word_family(claim: ParsedQuantity) -> Family | None:
    kind = claim.kind
    return kind if kind in ("macs", "flops") else None


def _compare(claim: ParsedQuantity, found: Sequence[Hypothesis]) -> list[Reading]:
    decimal_value = claim.value / _binary_factor(claim) if claim.binary else claim.value
    binary_value = decimal_value * _binary_factor(claim)
    rows = []
    for hypothesis in found:
        for binary, value in ((False, decimal_value), (True, binary_value)):
            if binary and binary_value == decimal_value:
                continue
            rows.append(Reading(hypothesis, binary, value / hypothesis.value - 1))
    return rows


def _causes(claim_value: float, comparison: Reading, profile: ModelProfile) -> tuple[str, ...]:
    ratio = claim_value / comparison.hypothesis.value
    causes = [
        "an architecture variant: a different version of the model (e.g. where a stride sits), width or depth",
    ]
    spatial = [t.shape for t in profile.inputs if len(t.shape) == 4]
    if spatial:
        side = spatial[0][-1]
        implied = side * math.sqrt(ratio)
        causes.append(
            f"the input resolution: at {side}x{side} this is {format_count(comparison.hypothesis.value)}; the claim implies about {implied:.0f}x{implied:.0f}"
        )
    else:
        causes.append("the input size (sequence length or resolution) the claim was measured at")
    batch = profile.inputs[0].shape[0] if profile.inputs and profile.inputs[0].shape else 1
    if ratio > 1.5 and abs(ratio - round(ratio)) < 0.05:
        causes.append(f"the batch size: the claim is about {round(ratio)} x this batch-{batch} count")
    else:
        causes.append(f"the batch size the claim assumes (this count is for batch {batch})")
    return tuple(causes)


def _message(kind: VerdictKind, claim: ParsedQuantity, best: Reading, declared: Family | None) -> str:
    h = best.hypothesis
    error = f"{best.relative_error:+.1%}"
    measured = format_count(h.value, "MACs" if h.family == "macs" else "FLOPs")
    said = claim.word or "a bare number"
    if kind == "consistent":
        return f"consistent: the claim is the model's {h.description} ({measured}, {error})"
    if kind == "macs-as-flops":
        extra = " (the source itself defines its FLOPs as multiply-adds)" if declared == "macs" else ""
        flops = format_count(2 * h.value, "FLOPs")
        return f"MACs labelled as FLOPs{extra}: the claimed '{said}' are the model's {h.description} ({measured}, {error}); in true FLOPs that is about {flops}"
    if kind == "flops-as-macs":
        macs = format_count(h.value // 2, "MACs")
        return f"FLOPs labelled as MACs: the claimed '{said}' are the model's {h.description} ({measured}, {error}); its MACs are about {macs}"
    if kind == "binary-prefix":
        family = "MACs" if h.family == "macs" else "FLOPs"
        return f"binary prefix: read with 1 G = 2^30 the claim is the model's {family} ({h.description}: {measured}, {error}); with 1 G = 10^9 it matches nothing"
    if kind == "other-scope":
        return f"matches only a partial count: {h.description} ({measured}, {error}), not the whole model"
    closest = f"{h.description} ({measured})"
    factor = 1 + best.relative_error
    confusion = (
        "not a MAC/FLOP confusion (that would be a factor of 2)" if 0.75 < factor < 1.33 else "no reading explains it"
    )
    return f"mismatch: {abs(best.relative_error):.1%} {'above' if factor > 1 else 'below'} the closest reading, {closest}; {confusion}"


def _classify(claim: ParsedQuantity, best: Reading) -> VerdictKind:
    if best.binary:
        return "binary-prefix"
    if best.hypothesis.scope == "partial":
        return "other-scope"
    word = _word_family(claim)
    if word is None:
        return "consistent"  # a bare number or "OPs": whichever it is, it is that
    if word == "flops" and best.hypothesis.family == "macs":
        return "macs-as-flops"
    if word == "macs" and best.hypothesis.family == "flops":
        return "flops-as-macs"
    return "consistent"


def _pick(rows: Sequence[Reading], precision: float, order: dict[str, int]) -> Reading:
    """The reading a claim most likely is. Among readings inside the claim's own
    written precision the canonical one (earliest in ``hypotheses``) wins: "8.2"
    cannot tell 8.178 from 8.218. Otherwise the closest, ties by the same order."""
    inside = [c for c in rows if abs(c.relative_error) <= precision]
    if inside:
        return min(inside, key=lambda c: (order[c.hypothesis.name], c.binary))
    return min(rows, key=lambda c: (round(abs(math.log1p(c.relative_error)), 6), order[c.hypothesis.name]))


def _audit_params(claim_text: str, profile: ModelProfile, tolerance: float) -> ParamsVerdict:
    claim = parse_quantity(claim_text)
    readings = {"params": profile.params}
    for name, value in profile.param_counts.items():
        if name in ("trainable", "framework_weights") and value and value != profile.params:
            readings[name] = value
    if profile.param_counts.get("buffers"):
        readings["params + buffers"] = profile.params + profile.param_counts["buffers"]
    order = {name: i for i, name in enumerate(readings)}
    precision = _precision(claim)
    limit = max(tolerance, precision)
    decimal = [
        Reading(Hypothesis(name, "macs", "full", value, name), False, claim.value / value - 1)
        for name, value in readings.items()
    ]
    best = _pick(decimal, precision, order)
    if abs(best.relative_error) > limit:
        # A binary reading (1 M = 2^20) is evidence about the compute claim too, so it
        # must be tight: the plain parameter count, within half a unit of the last digit.
        value = profile.params
        binary = Reading(
            Hypothesis("params", "macs", "full", value, "params"), True, claim.value * _binary_factor(claim) / value - 1
        )
        if abs(binary.relative_error) <= _precision(claim, 0.5):
            best = binary
    name, measured, error = best.hypothesis.name, best.hypothesis.value, best.relative_error
    if best.binary or abs(error) <= limit:
        how = " with a binary prefix (1 M = 2^20)" if best.binary else ""
        message = f"matches the model's {name} ({measured:,}){how}, {error:+.2%}"
        return ParamsVerdict(claim, measured, name, best.binary, error, message)
    message = f"does not match: closest is {name} ({measured:,}), {error:+.1%}"
    return ParamsVerdict(claim, measured, None, False, error, message)


def audit(
    profile: ModelProfile,
    claim: str,
    params_claim: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    binary: bool = False,
    source: str = "",
    label: str | None = None,
) -> Verdict:
    """Say what a published compute number is, measured against ``profile``.

    Args:
        claim: the number as published, e.g. ``"4.1 GFLOPs"``, ``"300M MAdds"``,
            ``"3.86 FLOPs(G)"``, ``"1.8 x 10^9 FLOPs (multiply-adds)"``.
        params_claim: the published parameter count, e.g. ``"25.6M"``.
        tolerance: how far (relative) counting differences may move a matching
            number, on top of the precision the claim was written with.
        binary: read the claim's prefix as a power of 2 (1 G = 2^30).
        label: the model's name in the verdict (default: the profile's).
    """
    parsed = parse_quantity(claim, binary=binary)
    found = hypotheses(profile)
    order = {h.name: i for i, h in enumerate(found)}
    comparisons = _compare(parsed, found)
    precision = _precision(parsed)
    limit = max(tolerance, precision)
    params = _audit_params(params_claim, profile, tolerance) if params_claim else None
    # A binary reading needs evidence: the claim says so (Gi, binary=True), or its
    # parameter count only matches with a binary prefix. Without it, ResNet-50's
    # "3.8 GFLOPs" would read as 4.08 G binary and hide the v1/v1.5 difference.
    binary_evidence = parsed.binary or (params is not None and params.binary)

    def fitting(rows: list[Reading]) -> list[Reading]:
        return [c for c in rows if abs(c.relative_error) <= limit]

    def reading(binary_prefix: bool, scope: str) -> list[Reading]:
        return [c for c in comparisons if c.binary == binary_prefix and c.hypothesis.scope == scope]

    if parsed.binary:  # written with a binary prefix: that reading is the claim itself
        tiers = [reading(True, "full"), reading(True, "partial")]
    elif binary_evidence:
        tiers = [reading(True, "full"), reading(False, "full"), reading(False, "partial")]
    else:
        tiers = [reading(False, "full"), reading(False, "partial")]
    best: Reading | None = None
    for tier in tiers:
        matching = fitting(tier)
        if matching:
            best = _pick(matching, precision, order)
            break
    causes: tuple[str, ...] = ()
    if best is None:
        # explain a mismatch against the nearest whole-model reading, as written
        best = _pick(reading(parsed.binary, "full"), 0.0, order)
        kind: VerdictKind = "mismatch"
        causes = _causes(parsed.value, best, profile)
    else:
        kind = "binary-prefix" if parsed.binary else _classify(parsed, best)
    declared = parsed.declared_kind if parsed.declared_kind in ("macs", "flops") else None
    return Verdict(
        model=label or profile.model,
        claim=parsed,
        kind=kind,
        matched=best.hypothesis.family if kind != "mismatch" else None,
        hypothesis=best.hypothesis.name,
        relative_error=best.relative_error,
        tolerance=limit,
        message=_message(kind, parsed, best, declared),  # type: ignore[arg-type]
        comparisons=tuple(comparisons),
        causes=causes,
        params=params,
        source=source,
    )
