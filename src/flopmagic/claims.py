"""Claims files: published numbers to audit in bulk (YAML or CSV).

YAML: a list (or ``claims:`` list) of mappings; CSV: a header row. Keys: ``model``
(a spec), ``claim``, and optionally ``params_claim``, ``input_shape``, ``source``,
``expected`` and ``expected_params`` (the verdicts a curated file records).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .auditor import DEFAULT_TOLERANCE, Verdict, audit
from .errors import FlopmagicError
from .schema import ModelProfile

__all__ = ["Claim", "audit_claims", "load_claims", "shipped_claims_path"]

Progress = Callable[[int, int, "Claim"], None]


@dataclass(frozen=True, slots=True)
class Claim:
    model: str
    claim: str
    params_claim: str | None = None
    input_shape: str | None = None
    source: str = ""
    expected: str | None = None
    expected_params: str | None = None


def shipped_claims_path() -> Path:
    """The claims file that ships with flopmagic (torchvision docs and papers)."""
    return Path(str(resources.files("flopmagic") / "data" / "claims.yaml"))


def _claim(entry: Any, where: str) -> Claim:
    if not isinstance(entry, dict) or not entry.get("model") or not entry.get("claim"):
        raise FlopmagicError(f"{where}: each claim needs 'model' and 'claim', got {entry!r}")
    text = {k: (str(v) if v is not None else None) for k, v in entry.items()}
    unknown = set(text) - {f for f in Claim.__dataclass_fields__}
    if unknown:
        raise FlopmagicError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(Claim.__dataclass_fields__)}")
    return Claim(
        model=str(text["model"]),
        claim=str(text["claim"]),
        params_claim=text.get("params_claim") or None,
        input_shape=text.get("input_shape") or None,
        source=text.get("source") or "",
        expected=text.get("expected") or None,
        expected_params=text.get("expected_params") or None,
    )


def load_claims(path: str | Path) -> list[Claim]:
    """Read a YAML or CSV claims file.

    Raises:
        FlopmagicError: missing file, malformed content or missing keys, with where.
    """
    file = Path(path)
    if not file.exists():
        raise FlopmagicError(f"no such claims file: {str(path)!r}")
    if file.suffix.lower() == ".csv":
        with file.open(newline="", encoding="utf-8") as handle:
            return [
                _claim({k: v for k, v in row.items() if v}, f"{file.name} row {i + 2}")
                for i, row in enumerate(csv.DictReader(handle))
            ]
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise FlopmagicError(f"{file.name} is not valid YAML: {error}") from error
    entries = data.get("claims") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise FlopmagicError(f"{file.name}: expected a list of claims (or a 'claims:' list)")
    return [_claim(entry, f"{file.name} entry {i + 1}") for i, entry in enumerate(entries)]


def audit_claims(
    claims: Sequence[Claim],
    *,
    device: str | None = "meta",
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
) -> list[Verdict]:
    """Audit every claim; each model is profiled once (on meta tensors by default:
    no weights are needed to count). ``progress(done, total, claim)`` is called
    before each claim."""
    from .api import profile
    from .specs import architecture_key, parse_input_shape

    cache: dict[tuple[Any, ...], ModelProfile] = {}
    verdicts = []
    for index, claim in enumerate(claims):
        if progress is not None:
            progress(index, len(claims), claim)
        key = (architecture_key(claim.model), claim.input_shape)
        if key not in cache:
            shape = parse_input_shape(claim.input_shape) if claim.input_shape else None
            cache[key] = profile(claim.model, input_shape=shape, device=device)
        label = claim.model.split(":", 1)[-1]
        verdicts.append(audit(cache[key], claim.claim, claim.params_claim, tolerance, source=claim.source, label=label))
    if progress is not None:
        progress(len(claims), len(claims), claims[-1] if claims else Claim("", ""))
    return verdicts
