"""The ``flopmagic`` command line: ``profile``, ``compare`` and ``audit`` over the same core.

Only this module and the IPython magic print; the library returns data.
Errors print one line naming the problem and the fix, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .api import BACKENDS
from .errors import FlopmagicError
from .schema import ModelProfile
from .specs import parse_input_shape

__all__ = ["main"]

FORMATS = ("table", "json", "csv", "markdown")


def _dims(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    dims: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise FlopmagicError(f"bad --dim {text!r}: write name=value pairs, e.g. --dim batch=1,seq=128")
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
    profiles = [_profile_spec(args, spec) for spec in args.specs]
    if args.conventions:
        names = [c.strip() for c in args.conventions.split(",") if c.strip()]
        from .conventions import get_convention

        for name in names:
            get_convention(name)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flopmagic",
        description="How much compute does this model cost? MACs and FLOPs, kept apart.",
    )
    parser.add_argument("--version", action="version", version=f"flopmagic {__version__}")
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

    from .audit_cli import add_audit_arguments, run_audit

    a = sub.add_parser("audit", help="say what a published FLOPs/MACs/params/training-compute/MFU claim is")
    add_audit_arguments(a)
    _add_run_options(a)
    a.set_defaults(handler=run_audit)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    if getattr(args, "depth", None) is not None and args.depth < 1:
        parser.error("--depth must be at least 1")
    try:
        return int(args.handler(args, stream))
    except FlopmagicError as error:
        print(f"flopmagic: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
