"""Tables of published numbers (Markdown, CSV or pasted text) read as claims.

A survey table in a paper or a README -- rows of model, input size, params, FLOPs,
accuracy -- becomes one claim per row: columns are found by their header, model
names are resolved to specs (``ResNet-50`` -> ``torchvision:resnet50``,
``EfficientNet-B3`` -> ``torchvision:efficientnet_b3``, at the row's resolution),
and a name that resolves to no model, or to several, is an error for that row that
asks for a mapping (``--map "Name=spec"``). Nothing in a table is run: it is text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .auditor import DEFAULT_TOLERANCE, ClaimError, quote
from .claims import MAX_CLAIMS_BYTES, AuditResults, AuditRow, Claim, ClaimsFileError, Progress, audit_claims

__all__ = ["TableRow", "audit_table", "claims_from_table", "parse_table", "read_table", "resolve_model_name"]

# Header words (lower-cased, punctuation removed) -> the column they denote.
_MODEL = ("model", "models", "network", "architecture", "arch", "name", "method", "backbone")
# Not a bare "size": Keras' table has "Size (MB)", and a model size read as a resolution
# would be a silently wrong input shape.
_RESOLUTION = (
    "resolution",
    "input size",
    "inputsize",
    "input resolution",
    "image size",
    "img size",
    "image resolution",
    "res",
    "test size",
    "test resolution",
)
_PARAMS = ("params", "param", "parameters", "#params", "# params", "num params", "#param")
_COMPUTE = ("flops", "flop", "macs", "mac", "madds", "madd", "mult-adds", "multadds", "gflops", "gmacs", "ops")
_ACCURACY = ("top-1", "top1", "top-1 acc", "accuracy", "acc", "top-1 acc.", "top1 acc")


@dataclass(frozen=True, slots=True)
class TableRow:
    """One data row of a table, by column role (cells as written)."""

    line: int
    name: str
    resolution: str | None
    params: str | None
    compute: str | None
    accuracy: str | None


def _cells_markdown(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|"):
        text = text[:-1]
    return [c.strip() for c in text.split("|")]


def _split_lines(text: str) -> list[tuple[int, list[str]]]:
    """Rows of cells with their 1-based line numbers, for Markdown, CSV/TSV or whitespace text.
    HTML comments (``<!-- ... -->``) are skipped, keeping line numbers."""
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        return []
    if sum(1 for _, line in lines if line.count("|") >= 2) >= len(lines) / 2:
        rows = []
        for number, line in lines:
            if "|" not in line:
                continue  # prose around the table
            cells = _cells_markdown(line)
            if all(re.fullmatch(r":?-{2,}:?", c.replace(" ", "")) or not c for c in cells):
                continue  # the |---|---| rule
            rows.append((number, cells))
        return rows
    sample = "\n".join(line for _, line in lines[:5])
    if "\t" in sample or "," in sample.split("\n")[0]:
        delimiter = "\t" if "\t" in sample else ","
        reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter)
        try:
            return [(number, [c.strip() for c in cells]) for (number, _), cells in zip(lines, reader)]
        except csv.Error as error:
            raise ClaimsFileError(f"cannot read the table as CSV: {quote(str(error))}") from None
    # pasted text: columns separated by two or more spaces (or one space if the header has no such gap)
    gap = re.compile(r"\s{2,}") if re.search(r"\S\s{2,}\S", lines[0][1]) else re.compile(r"\s+")
    return [(number, [c.strip() for c in gap.split(line.strip())]) for number, line in lines]


def _role(header: str) -> str | None:
    text = re.sub(r"\(.*?\)|\[.*?\]", "", header).strip().lower().replace("_", " ")
    text = text.rstrip(".:").strip()
    bare = text.lstrip("#").strip()
    if text in _MODEL or bare in _MODEL:
        return "model"
    if text in _RESOLUTION or bare in _RESOLUTION:
        return "resolution"
    if text in _PARAMS or bare in _PARAMS or bare.startswith("param"):
        return "params"
    words = re.findall(r"[a-z0-9\-]+", bare)
    if any(w in _COMPUTE or w.lstrip("gmbtk") in ("flops", "macs", "madds") for w in words):
        return "compute"
    if text in _ACCURACY or bare.startswith(("top-1", "top1", "acc")):
        return "accuracy"
    return None


def _header_unit(header: str) -> tuple[str, str]:
    """``"FLOPs (B)"`` -> ("B", "FLOPs"); ``"GFLOPs"`` -> ("G", "FLOPs"); ``"#Params (M)"`` -> ("M", "")."""
    prefix = ""
    paren = re.search(r"\(\s*([KMGBT])\s*\)|\[\s*([KMGBT])\s*\]", header)
    if paren:
        prefix = paren.group(1) or paren.group(2) or ""
    word = ""
    for token in re.findall(r"[A-Za-z\-]+", re.sub(r"\(.*?\)|\[.*?\]", "", header)):
        lowered = token.lower()
        for name in ("flops", "flop", "macs", "mac", "madds", "mult-adds", "multadds", "ops"):
            if lowered.endswith(name):
                lead = token[: len(token) - len(name)]
                word = token[len(lead) :]
                if lead in ("K", "M", "G", "B", "T") and not prefix:
                    prefix = lead
                break
    return prefix, word


def parse_table(text: str) -> tuple[list[TableRow], dict[str, str]]:
    """Rows by column role, and the header of each role found.

    Raises:
        ClaimsFileError: too large, no header with a model column, or no
            params/compute column.
    """
    if len(text) > MAX_CLAIMS_BYTES:
        raise ClaimsFileError(f"the table is larger than {MAX_CLAIMS_BYTES} bytes")
    rows = _split_lines(text)
    if not rows:
        raise ClaimsFileError("the table is empty")
    header_line, header = rows[0]
    roles: dict[str, int] = {}
    for index, text in enumerate(header):
        role = _role(text)
        if role is not None and role not in roles:
            roles[role] = index
    if "model" not in roles:
        raise ClaimsFileError(f"line {header_line}: no model column in the header {quote(header)}; name it 'Model'")
    if "params" not in roles and "compute" not in roles:
        raise ClaimsFileError(
            f"line {header_line}: no params or FLOPs/MACs column in the header {quote(header)}; "
            "name them e.g. '#Params' and '#FLOPs'"
        )
    headers = {role: header[i] for role, i in roles.items()}

    def cell(cells: list[str], role: str) -> str | None:
        index = roles.get(role)
        if index is None or index >= len(cells):
            return None
        return cells[index].strip() or None

    out = []
    for number, cells in rows[1:]:
        name = cell(cells, "model")
        if not name:
            continue
        out.append(
            TableRow(
                number,
                name,
                cell(cells, "resolution"),
                cell(cells, "params"),
                cell(cells, "compute"),
                cell(cells, "accuracy"),
            )
        )
    return out, headers


def _with_unit(value: str | None, header: str | None, default_word: str) -> str | None:
    """A cell read with its header's unit: "0.39" under "#FLOPs (B)" -> "0.39 B FLOPs"."""
    if value is None or header is None:
        return value
    value = value.replace("\u2009", "").replace("\xa0", " ").strip()
    value = re.sub(r"[\*\u2020\u2021\u00a7\u00b9\u00b2\u00b3]+$", "", value).strip()  # footnote marks
    if value in ("-", "--", "\u2013", "n/a", "N/A", "?"):
        return None
    prefix, word = _header_unit(header)
    has_prefix = bool(re.search(r"\d\s*[KMGBT]i?\b", value, re.IGNORECASE)) or bool(
        re.search(r"(thousand|million|billion|trillion)", value, re.IGNORECASE)
    )
    has_word = bool(re.search(r"[A-Za-z]{2,}", re.sub(r"(thousand|million|billion|trillion)", "", value, flags=re.I)))
    parts = [value]
    if not has_prefix and prefix:
        parts.append(prefix)
    if not has_word and (word or default_word):
        parts.append(word or default_word)
    return " ".join(parts)


_NAME_CACHE: dict[str, dict[str, list[str]]] = {}


def _registry_keys(prefix: str, names: Callable[[], Sequence[str]]) -> dict[str, list[str]]:
    """One model registry's specs (``prefix:NAME``) by their name without separators and
    case; empty when the registry's package is not installed."""
    if prefix not in _NAME_CACHE:
        keys: dict[str, list[str]] = {}
        try:
            listed = names()
        except ImportError:
            listed = []
        for name in listed:
            keys.setdefault(re.sub(r"[^a-z0-9]", "", name.lower()), []).append(f"{prefix}:{name}")
        _NAME_CACHE[prefix] = keys
    return _NAME_CACHE[prefix]


def _specs_named(key: str) -> list[str]:
    """The specs a separator- and case-free name matches in the first model registry that
    knows it: the adapters' ``spec_names`` in registry order (PyTorch's torchvision
    classifiers first), a later registry listed only when no earlier one knows the name."""
    from . import adapters

    for adapter in adapters.adapters():
        for prefix, names in adapter.spec_names.items():
            found = _registry_keys(prefix, names).get(key)
            if found:
                return found
    return []


def resolve_model_name(name: str, mapping: Mapping[str, str] | None = None) -> str:
    """A model name as a table writes it -> a flopmagic spec.

    The mapping wins (exact name, then case-insensitively); a name with a ``:`` is
    already a spec; otherwise the model whose name matches without separators and case
    (``ResNet-50``, ``resnet_50``, ``RESNET50`` -> ``torchvision:resnet50``) in the first
    model registry the adapters list (``spec_names``, in registry order: torchvision's
    classifiers, then Keras applications) that knows it.

    Raises:
        ClaimError: no model or several; the message asks for ``--map "Name=spec"``.
    """
    mapping = mapping or {}
    if name in mapping:
        return mapping[name]
    lowered = {k.lower(): v for k, v in mapping.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    clean = re.sub(r"\s*[\*\u2020\u2021\u00a7]+\s*$", "", name).strip()  # footnote marks
    if ":" in clean:
        return clean
    key = re.sub(r"[^a-z0-9]", "", clean.lower())
    found = _specs_named(key)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ClaimError(
            f'model name {quote(name)} is ambiguous ({", ".join(found)}); map it: --map "{name}=torchvision:..."'
        )
    raise ClaimError(f'no model for the name {quote(name)}; map it to a spec: --map "{name}=torchvision:..."')


def _resolution(text: str | None) -> int | None:
    if not text:
        return None
    numbers = re.findall(r"\d+", text)
    if not numbers:
        raise ClaimError(f"cannot read the resolution {quote(text)}: write e.g. 224 or 224x224")
    sides = {int(n) for n in numbers[:2]}
    if len(sides) != 1:
        raise ClaimError(f"resolution {quote(text)} is not square; give the input shape with a mapping instead")
    side = sides.pop()
    if not 1 <= side <= 16384:
        raise ClaimError(f"resolution {quote(text)} is out of range")
    return side


def claims_from_table(
    text: str, mapping: Mapping[str, str] | None = None, *, source: str = ""
) -> tuple[list[Claim], list[tuple[int, str, str]]]:
    """Claims from a table's text, and the rows that could not become claims.

    Returns ``(claims, errors)``; each error is ``(line, model name, reason)``. A
    claim's ``row`` is its line number in the table.
    """
    rows, headers = parse_table(text)
    claims: list[Claim] = []
    errors: list[tuple[int, str, str]] = []
    for row in rows:
        try:
            spec = resolve_model_name(row.name, mapping)
            side = _resolution(row.resolution)
            shape = f"1x3x{side}x{side}" if side is not None else None
            compute = _with_unit(row.compute, headers.get("compute"), "FLOPs")
            params = _with_unit(row.params, headers.get("params"), "")
            if not compute and not params:
                raise ClaimError("the row has neither a FLOPs/MACs nor a params value")
            note = f"{source}, " if source else ""
            claims.append(
                Claim(
                    model=spec,
                    claim=compute,
                    params_claim=params.strip() if params else None,
                    input_shape=shape,
                    source=f"{note}line {row.line}: {row.name}" + (f" (top-1 {row.accuracy})" if row.accuracy else ""),
                    row=row.line,
                )
            )
        except ClaimError as error:
            errors.append((row.line, row.name, str(error)))
    return claims, errors


def read_table(path: str | Path) -> str:
    """The text of a table file, within the claims size cap.

    Raises:
        ClaimsFileError: missing, too large or not text.
    """
    file = Path(path)
    if not file.is_file():
        raise ClaimsFileError(f"no such table file: {quote(str(path))}")
    if file.stat().st_size > MAX_CLAIMS_BYTES:
        raise ClaimsFileError(f"{file.name} is larger than {MAX_CLAIMS_BYTES} bytes")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ClaimsFileError(f"cannot read {file.name}: {quote(str(error))}") from None


def audit_table(
    table: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    device: str | None = "meta",
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
    source: str = "",
) -> AuditResults:
    """Audit every row of a table (its text, or a path to a ``.md``/``.csv``/``.txt`` file).

    Every row is reported: a verdict, or an error (an unknown model name, an
    unreadable cell) with its line number. Display the result in a notebook (HTML
    table) or ``.render("markdown" | "csv" | "json" | "table")``.
    """
    if isinstance(table, Path) or (isinstance(table, str) and "\n" not in table and Path(table).suffix):
        name = Path(table).name
        text = read_table(table)
        source = source or name
    else:
        text = str(table)
    claims, errors = claims_from_table(text, mapping, source=source)
    results = audit_claims(claims, device=device, tolerance=tolerance, progress=progress)
    rows = list(results.rows) + [AuditRow(line, Claim(name, row=line), None, reason) for line, name, reason in errors]
    rows.sort(key=lambda r: r.row)
    return AuditResults(tuple(rows), title=source or "table audit")
