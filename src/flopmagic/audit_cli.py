"""The ``flopmagic audit`` subcommand: what it runs (its options are declared in
:mod:`flopmagic.options`).

Exit codes: 0 every claim explained (or as the claims file expects), 1 some
mismatch (or a verdict other than the file expects), 2 bad input (the command's
arguments, an unreadable file, or a row that could not be audited: every other row
is still reported).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .errors import FlopmagicError

__all__ = ["run_audit"]

AUDIT_FORMATS = ("table", "json", "markdown", "csv", "html")


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
    from . import options
    from .api import profile
    from .auditor import audit

    spec = args.spec
    if args.config:
        spec = _with_config(spec, args.config)
    # training compute and utilisation are measured on a training step
    args.training = bool(args.training or args.tokens or args.samples or args.mfu or args.hfu)
    # the run options (--input-shape, --dim, --backend, ...) as profile reads them, like `flopmagic profile`
    run = options.keywords("api.profile")
    measured = profile(spec, **{k: v for k, v in options.values(args, args.command).items() if k in run})
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

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else float(args.tolerance)  # checked by options
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
        out.write(results.render("text" if args.format == "table" else args.format) + "\n")
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
    out.write(verdict.render("text" if args.format == "table" else args.format) + "\n")
    return 0 if verdict.explained else 1
