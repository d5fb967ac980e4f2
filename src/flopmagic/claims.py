"""Claims files: published numbers to audit in bulk (YAML or CSV), read as data.

YAML: a list (or ``claims:`` list) of mappings; CSV: a header row. Keys:

- ``model`` (a spec), ``claim`` (a compute count) and/or ``params_claim``,
  optionally ``input_shape``, ``source``, ``expected`` and ``expected_params``
  (the verdicts a curated file records);
- training compute: ``claim`` ("3.14e23 FLOPs", "3640 PF-days") with ``tokens``
  (or ``samples`` and ``epochs``) and ``training: true``;
- utilisation: ``mfu`` or ``hfu`` ("46.2%") with ``throughput`` (tokens or samples
  per second), ``throughput_per`` (``device`` or ``global``), ``devices``, and the
  peak: ``device`` + ``dtype`` (the hardware catalogue) or ``peak_tflops``
  (``sparse_peak_tflops`` too); without a ``model``: ``params`` (N) and, for the
  attention term, ``layers``, ``attention_width`` (heads x head size), ``seq_len``.

A claims file is data that people download and share, so reading one never runs
anything: the YAML is read with a safe loader that refuses anchors and aliases
(no expansion bombs) within a size cap, every value must be a scalar, and a model
may only be named by a data spec (``torchvision:``, ``keras:``, ``transformers:``,
an ``.onnx`` path relative to the file). ``package.module:factory`` entries, which
import and call code, are refused unless the caller opts in (``allow_code=True``,
``--allow-code``). Errors are one line and quote at most 200 characters.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .auditor import DEFAULT_TOLERANCE, ClaimError, Verdict, audit, quote
from .display import Displayable
from .errors import FlopmagicError
from .schema import ModelProfile

if TYPE_CHECKING:
    pass

__all__ = [
    "DATA_SPEC_PREFIXES",
    "MAX_CLAIMS_BYTES",
    "AuditResults",
    "AuditRow",
    "Claim",
    "ClaimsFileError",
    "audit_claims",
    "is_data_spec",
    "load_claims",
    "parse_claims_text",
    "shipped_claims_path",
]

Progress = Callable[[int, int, "Claim"], None]
Status = Literal["ok", "mismatch", "error"]

# A claims file is small text; anything larger is refused before it is parsed.
MAX_CLAIMS_BYTES = 4 << 20
# Spec prefixes that name a model by data only: building one runs no code the spec names.
DATA_SPEC_PREFIXES = ("torchvision", "keras", "transformers")


def is_data_spec(spec: str) -> bool:
    """Whether ``spec`` names a model by data only (``torchvision:``, ``keras:``,
    ``transformers:`` with config overrides, an ``.onnx`` path), as opposed to
    ``package.module:factory``, which imports and calls code."""
    text = spec.strip()
    if text.lower().endswith(".onnx"):
        return True
    prefix, sep, rest = text.partition(":")
    return bool(sep and rest) and prefix in DATA_SPEC_PREFIXES


class ClaimsFileError(ClaimError):
    """A claims file that cannot be read as data, or that names code without the opt-in."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One published claim (every value as written: text, parsed when audited)."""

    model: str
    claim: str | None = None
    params_claim: str | None = None
    input_shape: str | None = None
    source: str = ""
    expected: str | None = None
    expected_params: str | None = None
    # training compute
    training: str | None = None
    tokens: str | None = None
    samples: str | None = None
    epochs: str | None = None
    # utilisation (MFU / HFU)
    mfu: str | None = None
    hfu: str | None = None
    throughput: str | None = None
    throughput_per: str | None = None
    devices: str | None = None
    device: str | None = None
    dtype: str | None = None
    peak_tflops: str | None = None
    sparse_peak_tflops: str | None = None
    params: str | None = None
    layers: str | None = None
    attention_width: str | None = None
    seq_len: str | None = None
    # where it came from: the entry or row number in its file or table (1-based)
    row: int | None = None

    @property
    def kind(self) -> Literal["compute", "params", "training", "utilisation"]:
        """What the claim is about, from the fields it has."""
        if self.mfu or self.hfu:
            return "utilisation"
        if self.tokens or self.samples or _truthy(self.training):
            return "training"
        if self.claim:
            return "compute"
        return "params"

    @property
    def text(self) -> str:
        """The claimed number(s) as written, for tables and progress lines."""
        parts = [p for p in (self.claim, self.mfu and f"MFU {self.mfu}", self.hfu and f"HFU {self.hfu}") if p]
        if self.params_claim:
            parts.append(f"params {self.params_claim}")
        return ", ".join(parts)


_KEYS = tuple(f.name for f in fields(Claim) if f.name != "row")


def _truthy(value: str | None) -> bool:
    return bool(value) and str(value).strip().lower() in ("1", "true", "yes", "y", "on")


def shipped_claims_path() -> Path:
    """The claims file that ships with flopmagic (torchvision docs and papers)."""
    return Path(str(resources.files("flopmagic") / "data" / "claims.yaml"))


def _resolve_paths(spec: str, base: Path | None) -> str:
    """An ``.onnx`` path or a ``transformers:CLASS@config.json`` path relative to the
    claims file is read from the file's folder."""
    if base is None:
        return spec
    text = spec.strip()
    if text.lower().endswith(".onnx") and not os.path.isabs(text):
        return str(base / text)
    if text.startswith("transformers:") and "@" in text.partition("(")[0]:
        head, paren, rest = text.partition("(")
        cls, _, config = head.partition("@")
        if config and not os.path.isabs(config.strip()):
            return f"{cls}@{base / config.strip()}{paren}{rest}"
    return spec


def _claim(entry: Any, where: str, *, allow_code: bool, base: Path | None, row: int) -> Claim:
    if not isinstance(entry, dict):
        raise ClaimsFileError(f"{where}: each claim is a mapping of keys to values, got {quote(entry)}")
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise ClaimsFileError(f"{where}: unknown keys {quote(unknown)}; allowed: {list(_KEYS)}")
    text: dict[str, str | None] = {}
    for key, value in entry.items():
        if isinstance(value, (dict, list, tuple, set)):
            raise ClaimsFileError(f"{where}: {key} must be a single value, got {quote(value)}")
        text[key] = str(value).strip() if value is not None and str(value).strip() else None
    model = text.get("model")
    if not model and not ((text.get("mfu") or text.get("hfu")) and text.get("params")):
        raise ClaimsFileError(f"{where}: each claim needs 'model' (or, for MFU, 'params'), got {quote(entry)}")
    if not any(text.get(k) for k in ("claim", "params_claim", "mfu", "hfu")):
        raise ClaimsFileError(f"{where}: each claim needs 'claim', 'params_claim', 'mfu' or 'hfu', got {quote(entry)}")
    if model and not allow_code and not is_data_spec(model):
        raise ClaimsFileError(
            f"{where}: model {quote(model)} is not a data spec (torchvision:, keras:, transformers:, a .onnx path); "
            "a claims file may not name code to import and run unless you opt in (--allow-code, allow_code=True)"
        )
    values: dict[str, Any] = {k: v for k, v in text.items() if k != "source"}
    values["model"] = _resolve_paths(model, base) if model else ""
    values["source"] = text.get("source") or ""
    return Claim(row=row, **values)


class _DataLoader:
    """Builds PyYAML's safe loader with anchors and aliases refused (lazily: no yaml import at module load)."""

    cls: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.cls is None:
            import yaml

            class Loader(yaml.SafeLoader):  # type: ignore[misc]
                def compose_node(self, parent: Any, index: Any) -> Any:
                    event = self.peek_event()
                    if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                        line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                        raise ClaimsFileError(
                            f"line {line}: YAML anchors and aliases ('&name', '*name') are not allowed in a claims "
                            "file (they can expand without bound); write each value out"
                        )
                    return super().compose_node(parent, index)

            cls.cls = Loader
        return cls.cls


def parse_claims_text(
    data: str, name: str = "claims", *, csv_format: bool = False, allow_code: bool = False, base: Path | None = None
) -> list[Claim]:
    """Claims from YAML (or CSV) text; see :func:`load_claims`."""
    if len(data) > MAX_CLAIMS_BYTES:
        raise ClaimsFileError(f"{name} is larger than {MAX_CLAIMS_BYTES} bytes; a claims file is small text")
    if csv_format:
        reader = csv.DictReader(io.StringIO(data))
        rows: list[tuple[int, dict[str, Any]]] = []
        try:
            for row in reader:  # a claim's row number is its line in the file (the header is line 1)
                rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None and v}))
        except csv.Error as error:
            raise ClaimsFileError(f"{name} is not valid CSV: {quote(str(error))}") from None
        return [
            _claim(entry, f"{name} line {line}", allow_code=allow_code, base=base, row=line) for line, entry in rows
        ]
    import yaml

    try:
        document = yaml.load(data, Loader=_DataLoader.get())  # a SafeLoader subclass
    except ClaimsFileError as error:
        raise ClaimsFileError(f"{name}: {error}") from None
    except yaml.YAMLError as error:
        raise ClaimsFileError(f"{name} is not valid YAML: {quote(' '.join(str(error).split()), 300)}") from None
    except RecursionError:
        raise ClaimsFileError(f"{name} is nested too deeply to be a claims file") from None
    except Exception as error:  # a value PyYAML's constructors reject (a date like 2001-02-30, ...)
        detail = " ".join(str(error).split())
        raise ClaimsFileError(f"{name} is not valid YAML: {type(error).__name__}: {quote(detail, 300)}") from None
    entries = document.get("claims") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ClaimsFileError(f"{name}: expected a list of claims (or a 'claims:' list)")
    return [
        _claim(entry, f"{name} entry {i + 1}", allow_code=allow_code, base=base, row=i + 1)
        for i, entry in enumerate(entries)
    ]


def load_claims(path: str | Path, *, allow_code: bool = False) -> list[Claim]:
    """Read a YAML or CSV claims file, as data.

    ``allow_code=True`` accepts ``package.module:factory`` model specs (which import
    and call code); by default they are refused. Relative ``.onnx`` paths are read
    from the file's folder.

    Raises:
        ClaimsFileError: missing, too large, malformed, anchors/aliases, unknown or
            missing keys, or a code spec without the opt-in; one line, naming where.
    """
    file = Path(path)
    if not file.is_file():
        raise ClaimsFileError(f"no such claims file: {quote(str(path))}")
    if file.stat().st_size > MAX_CLAIMS_BYTES:
        raise ClaimsFileError(f"{file.name} is larger than {MAX_CLAIMS_BYTES} bytes; a claims file is small text")
    try:
        data = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ClaimsFileError(f"cannot read {file.name}: {quote(str(error))}") from None
    return parse_claims_text(
        data, file.name, csv_format=file.suffix.lower() == ".csv", allow_code=allow_code, base=file.parent
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row of a bulk audit: its verdict, or the reason it could not be audited."""

    row: int
    claim: Claim
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def status(self) -> Status:
        """``ok`` (a reading explains the claim), ``mismatch`` or ``error``."""
        if self.verdict is None:
            return "error"
        return "ok" if self.verdict.explained else "mismatch"

    @property
    def as_expected(self) -> bool | None:
        """Whether the verdict is the one the file expects (None: no expectation)."""
        c, v = self.claim, self.verdict
        if not c.expected and not c.expected_params:
            return None
        if v is None:
            return False
        if c.expected and c.expected != v.kind:
            return False
        if c.expected_params and v.params is not None:
            return c.expected_params == ("match" if v.params.matched else "mismatch")
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"row": self.row, "model": self.claim.model, "claim": self.claim.text}
        data["status"] = self.status
        if self.verdict is not None:
            data.update(self.verdict.to_dict())
            data["model"] = self.claim.model
        else:
            data["error"] = self.error
        data["expected"] = self.claim.expected
        data["as_expected"] = self.as_expected
        return data


@dataclass(frozen=True, slots=True)
class AuditResults(Displayable):
    """Every row of a bulk audit, in order, with the summary counts. Drawn (text, HTML,
    Markdown, CSV, JSON) through :func:`flopmagic.render.render`, like every result.

    Exit codes of ``flopmagic audit`` (:attr:`exit_code`): 0 every claim explained
    (or as the file expects), 1 some mismatch (or a verdict other than expected),
    2 bad input (a row could not be audited; the other rows are still reported).
    """

    _render_kind: ClassVar[str] = "audit-results"

    rows: tuple[AuditRow, ...]
    title: str = "audit"

    @property
    def verdicts(self) -> list[Verdict]:
        return [r.verdict for r in self.rows if r.verdict is not None]

    @property
    def errors(self) -> list[AuditRow]:
        return [r for r in self.rows if r.verdict is None]

    @property
    def counts(self) -> dict[str, int]:
        """``{"ok": n, "mismatch": n, "error": n}``; they add up to the number of rows."""
        counts = {"ok": 0, "mismatch": 0, "error": 0}
        for row in self.rows:
            counts[row.status] += 1
        return counts

    @property
    def by_verdict(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v.kind] = counts.get(v.kind, 0) + 1
        return counts

    @property
    def differing(self) -> list[AuditRow]:
        return [r for r in self.rows if r.as_expected is False]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        if self.differing:
            return 1
        if any(r.status == "mismatch" and r.as_expected is None for r in self.rows):
            return 1
        return 0

    def summary(self) -> str:
        counts = self.counts
        line = f"{len(self.rows)} claims: {counts['ok']} ok, {counts['mismatch']} mismatch, {counts['error']} error"
        if self.by_verdict:
            line += " (" + ", ".join(f"{n} {k}" for k, n in sorted(self.by_verdict.items())) + ")"
        return line

    def to_dict(self) -> dict[str, Any]:
        """``rows`` (every row: its status, verdict or error) and ``summary``; ``verdicts``
        (the audited rows' verdicts with their expectation) is kept from earlier versions."""
        return {
            "rows": [r.to_dict() for r in self.rows],
            "verdicts": [
                r.verdict.to_dict() | {"expected": r.claim.expected} for r in self.rows if r.verdict is not None
            ],
            "summary": {
                "claims": len(self.rows),
                **self.counts,
                "by_verdict": self.by_verdict,
                "differ_from_expected": len(self.differing),
                "exit_code": self.exit_code,
            },
        }

    def __str__(self) -> str:
        return self.to_text()


def audit_claims(
    claims: Sequence[Claim],
    *,
    device: str | None = "meta",
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
    allow_code: bool = False,
    peaks: tuple[str | None, str | None] | None = None,
) -> AuditResults:
    """Audit every claim and report every row: a verdict, or the reason it could
    not be audited (with its row number); one bad row never loses the others.

    Each model is profiled once (on meta tensors by default: no weights are needed
    to count). ``progress(done, total, claim)`` is called before each claim.
    ``allow_code`` lets a claim's model be a ``package.module:factory`` spec;
    ``peaks`` (dense, sparse TFLOP/s) serve utilisation claims that state none.
    """
    from .specs import architecture_key, parse_input_shape

    cache: dict[tuple[Any, ...], ModelProfile | FlopmagicError] = {}

    def measured(claim: Claim, training: bool) -> ModelProfile:
        from .api import profile

        key = (architecture_key(claim.model), claim.input_shape, training)
        if key not in cache:
            try:
                shape = parse_input_shape(claim.input_shape) if claim.input_shape else None
                cache[key] = profile(claim.model, input_shape=shape, device=device, training=training)
            except FlopmagicError as error:
                cache[key] = error
        found = cache[key]
        if isinstance(found, FlopmagicError):
            raise found
        return found

    rows: list[AuditRow] = []
    for index, claim in enumerate(claims):
        number = claim.row or index + 1
        if progress is not None:
            progress(index, len(claims), claim)
        try:
            if claim.model and not allow_code and not is_data_spec(claim.model):
                raise ClaimsFileError(
                    f"model {quote(claim.model)} is not a data spec; opt in with --allow-code / allow_code=True"
                )
            verdict = _audit_one(claim, measured, tolerance, peaks)
            rows.append(AuditRow(number, claim, verdict))
        except FlopmagicError as error:
            rows.append(AuditRow(number, claim, None, _one_line(error)))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # never lose the other rows to one model's failure
            rows.append(AuditRow(number, claim, None, _one_line(error, internal=True)))
    if progress is not None:
        progress(len(claims), len(claims), claims[-1] if claims else Claim(""))
    return AuditResults(tuple(rows))


def _one_line(error: BaseException, internal: bool = False) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if internal:
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 300 else text[:297] + "..."


def _audit_one(claim: Claim, measured: Callable[[Claim, bool], ModelProfile], tolerance: float, peaks: Any) -> Verdict:
    label = claim.model.split(":", 1)[-1] if claim.model else "(stated)"
    kind = claim.kind
    if kind == "training":
        from .training_claims import audit_training

        return audit_training(
            measured(claim, True),
            claim.claim or "",
            tokens=claim.tokens,
            samples=claim.samples,
            epochs=claim.epochs,
            tolerance=tolerance,
            source=claim.source,
            label=label,
        )
    if kind == "utilisation":
        from .training_claims import audit_utilisation

        return audit_utilisation(
            measured(claim, True) if claim.model else None,
            mfu=claim.mfu,
            hfu=claim.hfu,
            throughput=claim.throughput,
            throughput_per=claim.throughput_per,
            devices=claim.devices,
            device=claim.device,
            dtype=claim.dtype,
            peak_tflops=claim.peak_tflops or (peaks[0] if peaks else None),
            sparse_peak_tflops=claim.sparse_peak_tflops or (peaks[1] if peaks else None),
            params=claim.params,
            layers=claim.layers,
            attention_width=claim.attention_width,
            seq_len=claim.seq_len,
            tolerance=tolerance,
            source=claim.source,
            label=label,
        )
    return audit(measured(claim, False), claim.claim, claim.params_claim, tolerance, source=claim.source, label=label)
