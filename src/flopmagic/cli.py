"""The ``flopmagic`` command line: ``profile``, ``compare`` and ``audit`` over the same core.

Only this module and the IPython magic print; the library returns data.
Errors print one line naming the problem and the fix, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import __version__
from .api import BACKENDS
from .cli_errors import DEBUG_FLAG, OneLineParser, run_reporting, split_debug
from .errors import FlopmagicError
from .schema import ModelProfile
from .specs import parse_input_shape

__all__ = ["main"]

FORMATS = ("table", "json", "csv", "markdown")


def _dims(text: str | None) -> dict[str, int] | None:
    """``batch=1,seq=128``; the values are checked where they are used (positive, within int64)."""
    if not text:
        return None
    dims: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            raise FlopmagicError(
                f"bad --dim {text!r}: write name=value pairs with integer values, e.g. --dim batch=1,seq=128"
            )
        dims[name.strip()] = int(value)
    return dims


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    from .conventions import conventions

    parser.add_argument("--input-shape", help="input shape(s), e.g. 1x3x224x224 (several: 1x3x8x8,1x10)")
    parser.add_argument(
        "--backend", choices=tuple(BACKENDS), default="flopmagic", help="counter to use (default: flopmagic)"
    )
    parser.add_argument(
        "--convention",
        choices=[c.name for c in conventions()],
        help="counting convention to express the result in (default: flopmagic)",
    )
    parser.add_argument("--training", action="store_true", help="count forward + measured backward (PyTorch)")
    parser.add_argument("--device", choices=("meta",), help="'meta': run without allocating weights")
    parser.add_argument("--dim", help="values for symbolic ONNX dimensions, e.g. batch=1,seq=128")


def _profile_spec(args: argparse.Namespace, spec: str) -> ModelProfile:
    from .api import profile

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    return profile(
        spec,
        input_shape=shape,
        backend=args.backend,
        training=args.training,
        convention=args.convention,
        device=args.device,
        dims=_dims(args.dim),
    )


def _cmd_profile(args: argparse.Namespace, out: TextIO) -> int:
    from .render.tables import profile_table

    result = _profile_spec(args, args.spec)
    table = profile_table(result, by=args.by, depth=args.depth, unit=args.unit, top=args.top)
    if args.format == "json":
        data = result.to_dict()
        data["rows"] = [dict(zip(table.columns, row)) for row in table.rows]
        json.dump(data, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        from .render.csv import render_table_csv

        out.write(render_table_csv(table))
    elif args.format == "markdown":
        from .render.markdown import render_profile_markdown

        out.write(render_profile_markdown(result, by=args.by, depth=args.depth, unit=args.unit, top=args.top) + "\n")
    else:
        from .render.text import render_profile_text

        out.write(render_profile_text(result, by=args.by, depth=args.depth, unit=args.unit, top=args.top) + "\n")
    return 0


def _cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from .comparison import compare_profiles
    from .render.compare import comparison_table

    if len(args.specs) < 2 and not args.conventions:
        raise FlopmagicError("compare needs two or more models, or one model with --conventions a,b,...")
    names = [c.strip() for c in (args.conventions or "").split(",") if c.strip()]
    from .conventions import get_convention

    for name in names:  # before any model is built: a typo fails at once
        get_convention(name)
    profiles = [_profile_spec(args, spec) for spec in args.specs]
    if names:
        profiles = [p.under(c) for p in profiles for c in names]
    comparison = compare_profiles(profiles, by=args.by, depth=args.depth or 1)
    if args.format == "json":
        json.dump(comparison.to_dict(), out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        from .render.csv import render_table_csv

        out.write(render_table_csv(comparison_table(comparison, args.unit if args.unit != "both" else "macs")[0]))
    elif args.format == "markdown":
        from .render.markdown import render_table_markdown

        for quantity in ("macs", "flops") if args.unit == "both" else (args.unit,):
            out.write(render_table_markdown(comparison_table(comparison, quantity)[0]) + "\n\n")
    else:
        from .render.compare import render_comparison_text

        quantities = ("macs", "flops") if args.unit == "both" else (args.unit,)
        out.write(render_comparison_text(comparison, quantities) + "\n")
    return 0


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
            self.stream.write(f"auditing {done + 1}/{total}: {claim.model} {claim.claim!r}\n")
        self.stream.flush()


def _cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    from .auditor import DEFAULT_TOLERANCE
    from .claims import Claim, audit_claims, load_claims, shipped_claims_path

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if args.claims:
        path = shipped_claims_path() if args.claims == "shipped" else args.claims
        claims = load_claims(path)
    else:
        if not args.spec or not args.claim:
            raise FlopmagicError(
                "give a model and --claim (flopmagic audit torchvision:resnet50 --claim '4.1 GFLOPs'), or --claims FILE"
            )
        claims = [Claim(args.spec, args.claim, args.params_claim, args.input_shape)]
    if not args.claims:
        from .api import audit

        verdicts = [
            audit(
                _profile_spec(args, args.spec),
                args.claim,
                args.params_claim,
                tolerance,
                binary=args.binary,
            )
        ]
    else:
        verdicts = audit_claims(
            claims, device=args.device or "meta", tolerance=tolerance, progress=_Progress(sys.stderr)
        )
    expected = [c.expected for c in claims]
    differing = [
        (c, v)
        for c, v in zip(claims, verdicts)
        if (c.expected and c.expected != v.kind)
        or (
            c.expected_params
            and v.params is not None
            and c.expected_params != ("match" if v.params.matched else "mismatch")
        )
    ]
    if args.format == "json":
        data: Any
        if args.claims:
            counts: dict[str, int] = {}
            for v in verdicts:
                counts[v.kind] = counts.get(v.kind, 0) + 1
            data = {
                "verdicts": [v.to_dict() | {"expected": c.expected} for c, v in zip(claims, verdicts)],
                "summary": {"claims": len(verdicts), "by_verdict": counts, "differ_from_expected": len(differing)},
            }
        else:
            data = verdicts[0].to_dict()
        json.dump(data, out, indent=2)
        out.write("\n")
    elif args.claims:
        from .render.audit import verdict_table
        from .render.text import render_table_text

        table = verdict_table(verdicts, expected if any(expected) else None)
        out.write(render_table_text(table) + "\n\n")
        counts = {}
        for v in verdicts:
            counts[v.kind] = counts.get(v.kind, 0) + 1
        out.write(f"{len(verdicts)} claims: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + "\n")
        if any(expected):
            out.write(f"{len(verdicts) - len(differing)} as expected, {len(differing)} differ\n")
            for claim, verdict in differing:
                out.write(f"  differs: {claim.model} {claim.claim!r}: expected {claim.expected}, got {verdict.kind}\n")
    else:
        out.write(str(verdicts[0]) + "\n")
    return 1 if differing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="flopmagic",
        description="How much compute does this model cost? MACs and FLOPs, kept apart.",
    )
    parser.add_argument("--version", action="version", version=f"flopmagic {__version__}")
    parser.add_argument(DEBUG_FLAG[0], action="store_true", help=DEBUG_FLAG[1] + " (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("profile", help="profile one model")
    p.add_argument("spec", help="torchvision:NAME, keras:NAME, transformers:CLASS, path.onnx or package.module:factory")
    _add_run_options(p)
    p.add_argument(
        "--by", choices=("layer", "type", "op"), default="layer", help="rows per layer, op type or native op"
    )
    p.add_argument("--depth", type=int, help="cut layer paths at this depth (each row includes what is below)")
    p.add_argument("--unit", choices=("macs", "flops", "both"), default="both")
    p.add_argument("--top", type=int, help="only the N rows with the most FLOPs")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(handler=_cmd_profile)

    c = sub.add_parser("compare", help="several models, frameworks or conventions side by side")
    c.add_argument("specs", nargs="+", help="model specs (see profile)")
    _add_run_options(c)
    c.add_argument("--conventions", help="show each model under these conventions, e.g. flopmagic,paper,fvcore")
    c.add_argument(
        "--by", choices=("type", "stage", "layer"), default="type", help="align rows by op type, stage or layer"
    )
    c.add_argument("--depth", type=int, help="for --by stage: cut layer paths at this depth (default 1)")
    c.add_argument("--unit", choices=("macs", "flops", "both"), default="both")
    c.add_argument("--format", choices=FORMATS, default="table")
    c.set_defaults(handler=_cmd_compare)

    a = sub.add_parser("audit", help="say what a published FLOPs/MACs claim is")
    a.add_argument("spec", nargs="?", help="the model the claim is about (a spec, as for profile)")
    a.add_argument("--claim", help="the published number, e.g. '4.1 GFLOPs', '300M MAdds', '3.86 FLOPs(G)'")
    a.add_argument("--params-claim", help="the published parameter count, e.g. 25.6M")
    a.add_argument(
        "--claims", help="a YAML/CSV file of claims to audit ('shipped': the claims that ship with flopmagic)"
    )
    a.add_argument("--binary", action="store_true", help="read the claim's prefix as a power of 2 (1 G = 2^30)")
    a.add_argument(
        "--tolerance", type=float, help="relative counting tolerance on top of the claim's precision (default 0.01)"
    )
    _add_run_options(a)
    a.add_argument("--format", choices=("table", "json"), default="table")
    a.set_defaults(handler=_cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run a command. Every failure is one line on stderr and exit status 2 (see cli_errors)."""
    argv, debug = split_debug(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    if getattr(args, "depth", None) is not None and args.depth < 1:
        parser.error("--depth must be at least 1")
    return run_reporting(lambda: int(args.handler(args, stream)), debug=debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
