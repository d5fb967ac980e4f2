"""The ``flopmagic audit`` subcommand: its options (one table) and what it runs.

Exit codes: 0 every claim explained (or as the claims file expects), 1 some
mismatch (or a verdict other than the file expects), 2 bad input (the command's
arguments, an unreadable file, or a row that could not be audited: every other row
is still reported).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .errors import FlopmagicError

__all__ = ["AUDIT_OPTIONS", "AuditOption", "add_audit_arguments", "run_audit"]

AUDIT_FORMATS = ("table", "json", "markdown", "csv", "html")


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FlopmagicError(f"bad --tolerance {text[:50]!r}: write a fraction such as 0.01") from None
    if not 0 <= value < 1:
        raise FlopmagicError(f"bad --tolerance {text[:50]!r}: write a fraction in [0, 1), such as 0.01")
    return value


def _mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise FlopmagicError(
                f'bad --map {item[:100]!r}: write --map "Name=spec", e.g. "ResNet-50=torchvision:resnet50"'
            )
        mapping[name.strip()] = spec.strip()
    return mapping


@dataclass(frozen=True)
class AuditOption:
    """One option of ``flopmagic audit``, in the declaration form of the options table
    (name = the argparse dest and API keyword, help, surfaces, value type, default,
    choices, switch, flag, metavar, and ``parse``: how its text becomes the value,
    applied after argparse). ``repeat``: the flag may be given several times."""

    name: str
    help: str
    surfaces: frozenset[str] = frozenset({"audit"})
    value_type: type = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    switch: bool = False
    flag: str = ""
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    repeat: bool = False

    @property
    def spelling(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


_AUDIT = frozenset({"audit"})
AUDIT_OPTIONS: tuple[AuditOption, ...] = (
    AuditOption(
        "claim",
        "the published number: '4.1 GFLOPs', '300M MAdds', '3.86 FLOPs(G)'; training: '3.14e23 FLOPs', '3640 PF-days'",
        _AUDIT,
    ),
    AuditOption("params_claim", "the published parameter count, e.g. 25.6M (alone or with --claim)", _AUDIT),
    AuditOption(
        "claims",
        "a YAML/CSV claims file to audit ('shipped': the claims that ship with flopmagic)",
        _AUDIT,
        metavar="FILE",
    ),
    AuditOption(
        "table",
        "a table of published numbers (Markdown, CSV or pasted text) to audit row by row",
        _AUDIT,
        metavar="FILE",
    ),
    AuditOption(
        "map",
        'for --table: a model name\'s spec, e.g. --map "ResNet-50=torchvision:resnet50" (repeatable)',
        _AUDIT,
        metavar="NAME=SPEC",
        repeat=True,
    ),
    AuditOption(
        "allow_code",
        "let a claims file name package.module:factory models (imports and runs code)",
        _AUDIT,
        value_type=bool,
        default=False,
        switch=True,
    ),
    AuditOption(
        "binary",
        "read the claim's prefix as a power of 2 (1 G = 2^30)",
        _AUDIT,
        value_type=bool,
        default=False,
        switch=True,
    ),
    AuditOption(
        "tolerance",
        "relative counting tolerance on top of the claim's precision (default 0.01)",
        _AUDIT,
        value_type=float,
        parse=_tolerance,
    ),
    AuditOption("config", "a Hugging Face config.json for a transformers: spec (read as data)", _AUDIT, metavar="FILE"),
    AuditOption("tokens", "training compute: tokens trained on, e.g. 300e9 (with --training)", _AUDIT),
    AuditOption("samples", "training compute: samples per epoch (vision; with --epochs, --training)", _AUDIT),
    AuditOption("epochs", "training compute: epochs (with --samples)", _AUDIT),
    AuditOption("mfu", "utilisation: the claimed MFU, e.g. 46.2%", _AUDIT),
    AuditOption("hfu", "utilisation: the claimed HFU (hardware FLOPs, with recomputation)", _AUDIT),
    AuditOption("throughput", "utilisation: tokens (or samples) per second, e.g. 238.3K", _AUDIT),
    AuditOption(
        "throughput_per",
        "utilisation: the throughput is per device or global",
        _AUDIT,
        default="global",
        choices=("device", "global"),
    ),
    AuditOption("devices", "utilisation: number of devices (default 1)", _AUDIT),
    AuditOption("hardware", "utilisation: the device name in the hardware catalogue, e.g. h100-sxm", _AUDIT),
    AuditOption("dtype", "utilisation: the dtype of the peak, e.g. bf16", _AUDIT),
    AuditOption("peak_tflops", "utilisation: the dense peak per device, in TFLOP/s (e.g. 989.4)", _AUDIT),
    AuditOption("sparse_peak_tflops", "utilisation: the 2:4-sparsity peak per device, in TFLOP/s (e.g. 1979)", _AUDIT),
    AuditOption("format", "output format", _AUDIT, default="table", choices=AUDIT_FORMATS),
)


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the audit subcommand's own arguments (the run options are added by the caller)."""
    parser.add_argument("spec", nargs="?", help="the model the claim is about (a spec, as for profile)")
    for option in AUDIT_OPTIONS:
        if option.switch:
            parser.add_argument(
                option.spelling, dest=option.name, action="store_true", help=option.help.replace("%", "%%")
            )
        elif option.repeat:
            parser.add_argument(
                option.spelling,
                dest=option.name,
                action="append",
                metavar=option.metavar,
                help=option.help.replace("%", "%%"),
            )
        else:
            parser.add_argument(
                option.spelling,
                dest=option.name,
                choices=option.choices,
                default=option.default,
                metavar=option.metavar,
                help=option.help.replace("%", "%%"),
            )


class _Progress:
    """Progress on stderr: a bar redrawn in place on a terminal, a line per step in logs."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, done: int, total: int, claim: Any) -> None:
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            label = "done" if done == total else claim.model
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
            if done == total:
                self.stream.write("\n")
        elif done < total:
            self.stream.write(f"auditing {done + 1}/{total}: {claim.model} {claim.text!r}\n")
        self.stream.flush()


def _single(args: argparse.Namespace, tolerance: float) -> Any:
    """One claim about the positional spec (the user typed it: any spec is allowed)."""
    from .auditor import audit
    from .cli import _profile_spec  # the run options (--input-shape, --dim, --backend, ...) as profile reads them

    spec = args.spec
    if args.config:
        spec = _with_config(spec, args.config)
    # training compute and utilisation are measured on a training step
    args.training = bool(args.training or args.tokens or args.samples or args.mfu or args.hfu)
    measured = _profile_spec(args, spec)
    if args.mfu or args.hfu:
        from .training_claims import audit_utilisation

        return audit_utilisation(
            measured,
            mfu=args.mfu,
            hfu=args.hfu,
            throughput=args.throughput,
            throughput_per=args.throughput_per,
            devices=args.devices,
            device=args.hardware,
            dtype=args.dtype,
            peak_tflops=args.peak_tflops,
            sparse_peak_tflops=args.sparse_peak_tflops,
            tolerance=tolerance,
        )
    if args.tokens or args.samples:
        from .training_claims import audit_training

        if not args.claim:
            raise FlopmagicError("a training-compute audit needs --claim, e.g. --claim '3.14e23 FLOPs'")
        return audit_training(
            measured, args.claim, tokens=args.tokens, samples=args.samples, epochs=args.epochs, tolerance=tolerance
        )
    return audit(measured, args.claim, args.params_claim, tolerance, binary=args.binary)


def _with_config(spec: str, path: str) -> str:
    from .errors import SpecError

    if not spec.startswith("transformers:"):
        raise SpecError("--config applies to a transformers:CLASS spec")
    head, paren, rest = spec.partition("(")
    if "@" in head:
        raise SpecError("give the config once: either --config FILE or transformers:CLASS@FILE")
    return f"{head}@{path}{paren}{rest}"


def run_audit(args: argparse.Namespace, out: TextIO) -> int:
    """``flopmagic audit``: one claim about a spec, a claims file, or a table."""
    from .auditor import DEFAULT_TOLERANCE

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else _tolerance(args.tolerance)
    device = args.device or "meta"
    sources = [bool(args.claims), bool(args.table)]
    if all(sources):
        raise FlopmagicError("give either --claims FILE or --table FILE, not both")
    if args.claims or args.table:
        if args.spec:
            raise FlopmagicError("a positional model goes with --claim; with --claims/--table each row names its model")
        if args.claims:
            from .claims import audit_claims, load_claims, shipped_claims_path

            path = shipped_claims_path() if args.claims == "shipped" else args.claims
            peaks = (args.peak_tflops, args.sparse_peak_tflops) if args.peak_tflops else None
            claims = load_claims(path, allow_code=args.allow_code)
            results = audit_claims(
                claims,
                device=device,
                tolerance=tolerance,
                progress=_Progress(sys.stderr),
                allow_code=args.allow_code,
                peaks=peaks,
            )
        else:
            from .claim_tables import audit_table

            results = audit_table(
                args.table, _mapping(args.map), device=device, tolerance=tolerance, progress=_Progress(sys.stderr)
            )
        out.write(results.render(args.format if args.format != "html" else "html") + "\n")
        if any(r.claim.expected for r in results.rows) and args.format in ("table", "markdown"):
            differing = results.differing
            out.write(f"{len(results.rows) - len(differing)} as expected, {len(differing)} differ\n")
            for row in differing:
                got = row.verdict.kind if row.verdict is not None else f"error: {row.error}"
                out.write(
                    f"  differs: row {row.row} {row.claim.model} {row.claim.text!r}: expected {row.claim.expected}, got {got}\n"
                )
        return results.exit_code
    if not args.spec or not (args.claim or args.params_claim or args.mfu or args.hfu):
        raise FlopmagicError(
            "give a model and a claim (flopmagic audit torchvision:resnet50 --claim '4.1 GFLOPs' or --params-claim "
            "25.6M), or --claims FILE, or --table FILE"
        )
    verdict = _single(args, tolerance)
    if args.format == "json":
        json.dump(verdict.to_dict(), out, indent=2)
        out.write("\n")
    elif args.format == "html":
        out.write(verdict._repr_mimebundle_()["text/html"] + "\n")
    else:
        out.write(str(verdict) + "\n")
    return 0 if verdict.explained else 1
