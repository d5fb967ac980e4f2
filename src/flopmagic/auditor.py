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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .display import Displayable
from .errors import FlopmagicError
from .schema import ModelProfile
from .units import ParsedQuantity, QuantityParseError, format_count, parse_quantity

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_TOLERANCE",
    "ClaimError",
    "Hypothesis",
    "ParamsVerdict",
    "Verdict",
    "VerdictKind",
    "audit",
    "hypotheses",
    "parse_claim",
]

VerdictKind = Literal[
    "consistent",
    "macs-as-flops",
    "flops-as-macs",
    "binary-prefix",
    "other-scope",
    "mismatch",
    "no-compute",
    "sparse-peak",
    "throughput-scope",
    "hardware-flops",
]
# What a verdict is about: a compute count, a parameter count, a training-compute
# total or a utilisation (MFU/HFU) figure.
Quantity = Literal["compute", "params", "training", "utilisation"]
Family = Literal["macs", "flops"]
# Verdicts that explain the claim (the summary's "ok"); the rest are mismatches.
EXPLAINED: frozenset[str] = frozenset(
    {
        "consistent",
        "macs-as-flops",
        "flops-as-macs",
        "binary-prefix",
        "other-scope",
        "sparse-peak",
        "throughput-scope",
        "hardware-flops",
    }
)
ACCEPTED_FORMS = (
    "a finite count above zero, e.g. '4.1 GFLOPs', '300M MAdds', '3.8 x 10^9 FLOPs', '1.8e9', '25.6M', "
    "'3.86 FLOPs(G)'; training compute also '3640 PF-days'; utilisation '46.2%' or '0.462'"
)
# A claim is a short string; anything longer is quoted only this far in errors.
QUOTE_CHARS = 200
# Claimed counts outside this range are not counts of anything (and would over- or
# underflow when read with a binary prefix or compared).
MIN_CLAIM, MAX_CLAIM = 1e-3, 1e300


class ClaimError(FlopmagicError):
    """A claim (or one row of a claims file or table) that cannot be read or audited."""


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, on one line (reprlib-bounded,
    so a huge value is never fully formatted)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 8
    short.maxlevel = 3
    text = short.repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_claim(text: object, *, binary: bool = False, what: str = "claim") -> ParsedQuantity:
    """Parse a claimed count: a finite quantity above zero, or a one-line :class:`ClaimError`.

    Raises:
        ClaimError: not text, not a count, zero, negative, infinite or NaN; the
            message quotes the claim (at most 200 characters) and names the accepted forms.
    """
    if not isinstance(text, str):
        raise ClaimError(f"{what} {quote(text)} is not text; accepted forms: {ACCEPTED_FORMS}")
    if len(text) > QUOTE_CHARS:
        raise ClaimError(
            f"{what} {quote(text)} is longer than {QUOTE_CHARS} characters; accepted forms: {ACCEPTED_FORMS}"
        )
    try:
        parsed = parse_quantity(text, binary=binary)
    except (QuantityParseError, ValueError, OverflowError):
        raise ClaimError(f"cannot read {what} {quote(text)}; accepted forms: {ACCEPTED_FORMS}") from None
    if not math.isfinite(parsed.value) or parsed.value <= 0:
        raise ClaimError(f"{what} {quote(text)} is not a finite count above zero; accepted forms: {ACCEPTED_FORMS}")
    if not MIN_CLAIM <= parsed.value <= MAX_CLAIM:
        raise ClaimError(
            f"{what} {quote(text)} is outside {MIN_CLAIM:g} to {MAX_CLAIM:g}: not a count of anything; "
            f"accepted forms: {ACCEPTED_FORMS}"
        )
    return parsed


def distance(relative_error: float) -> float:
    """How far a reading is, as |log(claim / reading)| (inf when the ratio is not positive)."""
    ratio = 1 + relative_error
    return abs(math.log(ratio)) if ratio > 0 and math.isfinite(ratio) else math.inf


# Tools and papers differ by bias, normalisation and pooling terms: about 1% on CNNs.
DEFAULT_TOLERANCE = 0.01
# However coarsely a claim is written, a reading further than this never matches it.
MAX_PRECISION = 0.10


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One reading of what a published number could be, measured on the model.

    ``scope`` is ``"full"`` for the whole model's MACs or FLOPs (however bias and
    norms are counted) and ``"partial"`` for a subset (conv only, attention left out).
    """

    name: str
    family: Family
    scope: Literal["full", "partial"]
    value: float
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
    nearest: tuple[Reading, ...] = ()

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
    quantity: Quantity = "compute"
    nearest: tuple[Reading, ...] = ()
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def explained(self) -> bool:
        """Whether a reading explains the claim (any verdict but mismatch/no-compute)."""
        return self.kind in EXPLAINED

    @property
    def measured_vs_claim(self) -> float | None:
        """The matched (or nearest) reading relative to the claim: measured / claim - 1."""
        ratio = 1 + self.relative_error
        if self.kind == "no-compute" or self.hypothesis is None or not ratio > 0 or not math.isfinite(ratio):
            return None
        return 1 / ratio - 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "quantity": self.quantity,
            "claim": self.claim.text,
            "claim_value": self.claim.value,
            "claim_word": self.claim.word,
            "verdict": self.kind,
            "matched": self.matched,
            "hypothesis": self.hypothesis,
            "relative_error": self.relative_error if self.kind != "no-compute" else None,
            "measured_vs_claim": self.measured_vs_claim,
            "tolerance": self.tolerance,
            "message": self.message,
            "causes": list(self.causes),
            "params": self.params.to_dict() if self.params else None,
            "source": self.source,
            "nearest": [c.to_dict() for c in self.nearest],
            "details": dict(self.details),
            "hypotheses": [c.to_dict() for c in self.comparisons],
        }

    def __str__(self) -> str:
        return self.render("text")


def hypotheses(profile: ModelProfile) -> tuple[Hypothesis, ...]:
    """Everything a published number for this model could plausibly be."""
    if any(r.method == "native" for r in profile.records):
        raise ClaimError("audit needs a profile from backend='flopmagic' (a wrapped tool's profile has no shapes)")
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
    for name in ("fvcore", "thop", "ptflops", "torch", "tf-profiler", "calflops", "torchprofile"):
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
    head_scope, head_macs, _ = head_layer(base)
    if head_macs and head_macs < macs:
        rest = macs - head_macs
        found.append(
            Hypothesis("macs excluding the head", "macs", "partial", rest, f"MACs without the head ({head_scope})")
        )
        found.append(
            Hypothesis(
                "flops excluding the head",
                "flops",
                "partial",
                2 * rest,
                f"FLOPs (2 x MACs) without the head ({head_scope})",
            )
        )
    return tuple(h for h in found if h.value > 0)


CONTRACTIONS = frozenset({"linear", "matmul", "conv", "conv_transpose", "einsum"})


def head_layer(profile: ModelProfile) -> tuple[str, int, int]:
    """The model's output layer: the scope of the last forward contraction that
    reads parameters (a classifier or LM head), its forward MACs and its parameters."""
    forward = [r for r in profile.records if r.phase == "forward"]
    last = next((r for r in reversed(forward) if r.op in CONTRACTIONS and r.params > 0), None)
    if last is None or not last.scope:
        return "", 0, 0
    in_scope = [r for r in forward if r.scope == last.scope and r.op in CONTRACTIONS]
    return last.scope, sum(r.macs for r in in_scope), max(r.params for r in in_scope)


def _precision(claim: ParsedQuantity, units: float = 1.0) -> float:
    """``units`` units in the last written digit, relative to the number: "3.6" with
    one unit is 3.6 +- 0.1 (2.8%). Published figures are rounded or cut off (the
    ResNet paper's 3.6 G for ResNet-34 is 3.664 G), so a compute claim gets one unit.
    A number written with one significant digit ("3 GFLOPs": one unit is 33%) is
    still held to :data:`MAX_PRECISION` (10%), so a 17% gap is never "consistent"."""
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
    return min(units * 10.0 ** (-decimals) / mantissa, MAX_PRECISION)


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
    return (
        f"mismatch: {abs(best.relative_error):.1%} {'above' if factor > 1 else 'below'} the closest reading, "
        f"{closest}: the model measures {1 / factor - 1:+.1%} against the claim; {confusion}"
    )


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
    return min(rows, key=lambda c: (round(distance(c.relative_error), 6), order[c.hypothesis.name]))


def _param_readings(profile: ModelProfile) -> dict[str, int]:
    readings = {"params": profile.params}
    for name, value in profile.param_counts.items():
        if name in ("trainable", "framework_weights") and value and value != profile.params:
            readings[name] = value
    if profile.param_counts.get("buffers"):
        readings["params + buffers"] = profile.params + profile.param_counts["buffers"]
    head_scope, _, head_params = head_layer(profile)
    if head_params and head_params < profile.params:
        readings[f"params excluding the head ({head_scope})"] = profile.params - head_params
    embedding = sum(
        max(
            (r.params for r in profile.records if r.scope == scope and r.op in ("embedding", "embedding_bag")),
            default=0,
        )
        for scope in {
            r.scope for r in profile.records if r.op in ("embedding", "embedding_bag") and r.phase == "forward"
        }
    )
    if embedding and embedding < profile.params:
        readings["non-embedding params"] = profile.params - embedding
    return readings


def _audit_params(claim_text: str, profile: ModelProfile, tolerance: float) -> ParamsVerdict:
    claim = parse_claim(claim_text, what="params claim")
    readings = _param_readings(profile)
    order = {name: i for i, name in enumerate(readings)}
    precision = _precision(claim)
    limit = max(tolerance, precision)
    if profile.params <= 0:
        message = "the model has no parameters to compare the claim with"
        return ParamsVerdict(claim, 0, None, False, 0.0, message)
    decimal = [
        Reading(Hypothesis(name, "macs", "full", value, name), False, claim.value / value - 1)
        for name, value in readings.items()
        if value > 0
    ]
    binary_all = [
        Reading(c.hypothesis, True, claim.value * _binary_factor(claim) / c.hypothesis.value - 1) for c in decimal
    ]
    nearest = tuple(sorted(decimal + binary_all, key=lambda c: distance(c.relative_error))[:3])
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
    name, measured, error = best.hypothesis.name, int(best.hypothesis.value), best.relative_error
    if best.binary or abs(error) <= limit:
        how = " with a binary prefix (1 M = 2^20)" if best.binary else ""
        message = f"matches the model's {name} ({measured:,}){how}, {error:+.2%}"
        return ParamsVerdict(claim, measured, name, best.binary, error, message, nearest)
    near = "; ".join(
        f"{c.hypothesis.name}{' read with a binary prefix' if c.binary else ''} ({int(c.hypothesis.value):,}) {c.relative_error:+.1%}"
        for c in nearest
    )
    message = f"does not match: closest is {name} ({measured:,}), {error:+.1%}; nearest readings: {near}"
    return ParamsVerdict(claim, measured, None, False, error, message, nearest)


def _params_only_verdict(params: ParamsVerdict, label: str, source: str, tolerance: float) -> Verdict:
    if params.matched is None:
        kind: VerdictKind = "mismatch"
    elif params.binary:
        kind = "binary-prefix"
    elif params.matched == "params":
        kind = "consistent"
    else:
        kind = "other-scope"
    hypothesis = params.matched or (params.nearest[0].hypothesis.name if params.nearest else None)
    message = ("consistent: " if kind == "consistent" else f"{kind}: ") + params.message
    return Verdict(
        model=label,
        claim=params.claim,
        kind=kind,
        matched=None,
        hypothesis=hypothesis,
        relative_error=params.relative_error,
        tolerance=max(tolerance, _precision(params.claim)),
        message=message,
        comparisons=params.nearest,
        params=params,
        source=source,
        quantity="params",
        nearest=params.nearest,
    )


def _nearest(comparisons: Sequence[Reading], count: int = 3) -> tuple[Reading, ...]:
    ranked = sorted(comparisons, key=lambda c: distance(c.relative_error))
    return tuple(ranked[:count])


def describe_reading(comparison: Reading) -> str:
    """``"MACs with a binary prefix (what thop reports: 4.134 GMACs) +0.3%"``."""
    h = comparison.hypothesis
    measured = format_count(h.value, "MACs" if h.family == "macs" else "FLOPs")
    binary = " read with a binary prefix (1 G = 2^30)" if comparison.binary else ""
    return f"{h.name}{binary}: {h.description}, {measured}, {comparison.relative_error:+.1%}"


def audit(
    profile: ModelProfile,
    claim: str | None,
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
            ``"3.86 FLOPs(G)"``, ``"1.8 x 10^9 FLOPs (multiply-adds)"``; ``None``
            to audit ``params_claim`` alone.
        params_claim: the published parameter count, e.g. ``"25.6M"``.
        tolerance: how far (relative) counting differences may move a matching
            number, on top of the precision the claim was written with.
        binary: read the claim's prefix as a power of 2 (1 G = 2^30).
        label: the model's name in the verdict (default: the profile's).

    Every claim gets a verdict or a one-line :class:`ClaimError`: a claim that is
    not a finite count above zero is an error, a model with no counted compute is
    the verdict ``no-compute``. On a mismatch, ``nearest`` holds the closest
    readings (any scope, either prefix) with their errors.

    Raises:
        ClaimError: no claim given, or a claim that cannot be read.
    """
    if not (0 <= tolerance < 1) or not math.isfinite(tolerance):
        raise ClaimError(f"tolerance must be a fraction in [0, 1), got {quote(tolerance)}")
    name = label or profile.model
    if claim is None:
        if params_claim is None:
            raise ClaimError("nothing to audit: give a claim (e.g. '4.1 GFLOPs') and/or a params claim (e.g. '25.6M')")
        return _params_only_verdict(_audit_params(params_claim, profile, tolerance), name, source, tolerance)
    parsed = parse_claim(claim, binary=binary)
    if parsed.kind == "params" and params_claim is None:  # "25.6M params" given as the claim
        return _params_only_verdict(_audit_params(claim, profile, tolerance), name, source, tolerance)
    params = _audit_params(params_claim, profile, tolerance) if params_claim else None
    found = hypotheses(profile)
    if not found:
        unsupported = profile.unsupported() if hasattr(profile, "unsupported") else {}
        why = (
            f"; {len(unsupported)} op types have no formula: {', '.join(sorted(unsupported)[:5])}"
            if unsupported
            else ""
        )
        return Verdict(
            model=name,
            claim=parsed,
            kind="no-compute",
            matched=None,
            hypothesis=None,
            relative_error=0.0,
            tolerance=tolerance,
            message=(
                f"no-compute: the model has no counted compute (0 MACs, 0 FLOPs){why}; nothing to compare "
                f"{parsed.text!r} with (check the input shape, or price unsupported ops with overrides=)"
            ),
            comparisons=(),
            params=params,
            source=source,
        )
    order = {h.name: i for i, h in enumerate(found)}
    comparisons = _compare(parsed, found)
    precision = _precision(parsed)
    limit = max(tolerance, precision)
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
    nearest: tuple[Reading, ...] = ()
    if best is None:
        # explain a mismatch against the nearest whole-model reading, as written
        best = _pick(reading(parsed.binary, "full") or list(comparisons), 0.0, order)
        kind: VerdictKind = "mismatch"
        causes = _causes(parsed.value, best, profile)
        nearest = _nearest(comparisons)
    else:
        kind = "binary-prefix" if parsed.binary else _classify(parsed, best)
    declared = parsed.declared_kind if parsed.declared_kind in ("macs", "flops") else None
    message = _message(kind, parsed, best, declared)  # type: ignore[arg-type]
    if nearest:
        message += "; nearest readings: " + "; ".join(describe_reading(c) for c in nearest)
        if nearest[0].binary and not binary_evidence:
            message += (
                " (a binary prefix would explain it; a parameter count that matches only with a binary "
                "prefix confirms it: give the params claim)"
            )
    return Verdict(
        model=name,
        claim=parsed,
        kind=kind,
        matched=best.hypothesis.family if kind != "mismatch" else None,
        hypothesis=best.hypothesis.name,
        relative_error=best.relative_error,
        tolerance=limit,
        message=message,
        comparisons=tuple(comparisons),
        causes=causes,
        params=params,
        source=source,
        nearest=nearest,
    )
