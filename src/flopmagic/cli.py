"""The ``flopmagic`` command line: ``profile``, ``compare``, ``audit`` and ``estimate`` over the same core.

Only this module and the IPython magic print; the library returns data.
Errors print one line naming the problem and the fix, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import options
from ._version import __version__
from .cli_errors import DEBUG_FLAG, OneLineParser, run_reporting, split_debug
from .errors import FlopmagicError
from .schema import ModelProfile

__all__ = ["main"]


def _render(result: Any, args: argparse.Namespace, out: TextIO, **view: Any) -> None:
    """The one output step: ``--format`` through :func:`flopmagic.render.render`."""
    from .render import render

    fmt = "text" if args.format == "table" else args.format
    text = render(result, fmt, **view)
    out.write(text if text.endswith("\n") else text + "\n")


def _run_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """What ``flopmagic.profile`` takes, from this subcommand's options (parsed and checked)."""
    given = options.values(args, args.command)
    run = options.keywords("api.profile")
    return {k: v for k, v in given.items() if k in run}


def _profile_spec(args: argparse.Namespace, spec: str) -> ModelProfile:
    from .api import profile

    return profile(spec, **_run_keywords(args))


def _cmd_profile(args: argparse.Namespace, out: TextIO) -> int:
    from .hardware.commands import hardware_sections

    if args.receptive_field and args.by != "layer":
        raise FlopmagicError("--receptive-field is a per-layer column: use it with --by layer")
    if args.prefill is not None or args.decode is not None:
        return _cmd_generation(args, out)
    result = _profile_spec(args, args.spec)
    view = {"by": args.by, "depth": args.depth, "unit": args.unit, "top": args.top}
    hardware_json, hardware_text = hardware_sections(args, result)  # --hardware, --time: empty if not asked
    if args.format == "json" and hardware_json:
        from .render import render

        data = json.loads(render(result, "json", receptive_field=args.receptive_field, **view))
        data.update(hardware_json)
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        _render(result, args, out, receptive_field=args.receptive_field, **view)
        out.writelines("\n" + block + "\n" for block in hardware_text)
    return 0


def _cmd_generation(args: argparse.Namespace, out: TextIO) -> int:
    """``profile SPEC --prefill N --decode M``: :func:`flopmagic.llm.generation`."""
    from .llm import generation

    result = generation(
        args.spec,
        args.prefill or 1,
        args.decode or 0,
        args.batch,
        device=args.device or "meta",
        dtype=args.dtype or "bf16",
        convention=args.convention,
        lm_head=args.lm_head,
        hardware=args.hardware,
    )
    _render(result, args, out)
    return 0


def _cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from .api import compare

    names = options.values(args, "compare")["conventions"]
    if len(args.specs) < 2 and not names:
        raise FlopmagicError("compare needs two or more models, or one model with --conventions a,b,...")
    if names:
        options.check("api.profile", [("convention", name) for name in names])
    comparison = compare(
        [_profile_spec(args, spec) for spec in args.specs], by=args.by, depth=args.depth or 1, conventions=names
    )
    _render(comparison, args, out, unit=args.unit, baseline=args.baseline)
    return 0


def _cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    from .audit_cli import run_audit

    return run_audit(args, out)


def build_parser() -> argparse.ArgumentParser:
    """Subcommands and their options; the options come from :mod:`flopmagic.options`."""
    from .adapters import spec_forms

    parser = OneLineParser(
        prog="flopmagic",
        description="How much compute does this model cost? MACs and FLOPs, kept apart.",
    )
    parser.add_argument("--version", action="version", version=f"flopmagic {__version__}")
    parser.add_argument(DEBUG_FLAG[0], action="store_true", help=DEBUG_FLAG[1] + " (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", required=True)
    forms = spec_forms()

    p = sub.add_parser("profile", help="profile one model")
    p.add_argument("spec", help=forms)
    options.add_arguments(p, "profile")
    p.set_defaults(handler=_cmd_profile)

    c = sub.add_parser("compare", help="several models, frameworks or conventions side by side")
    c.add_argument("specs", nargs="+", help="model specs (see profile)")
    options.add_arguments(c, "compare")
    c.set_defaults(handler=_cmd_compare)

    a = sub.add_parser("audit", help="say what a published FLOPs/MACs/params/training-compute/MFU claim is")
    a.add_argument("spec", nargs="?", help="the model the claim is about (a spec, as for profile)")
    options.add_arguments(a, "audit")
    a.set_defaults(handler=_cmd_audit)

    s = sub.add_parser("survey", help="many models: params, MACs, FLOPs, published accuracy, Pareto front")
    s.add_argument(
        "specs", nargs="+", help="model specs; torchvision: and keras: names may be globs, e.g. 'torchvision:resnet*'"
    )
    options.add_arguments(s, "survey")
    s.set_defaults(handler=_cmd_survey)

    e = sub.add_parser("estimate", help="training time, serving throughput and memory to train, with formulas")
    e.add_argument("spec", help="a PyTorch model spec (torchvision:NAME, transformers:CLASS, package.module:factory)")
    options.add_arguments(e, "estimate")
    e.set_defaults(handler=_cmd_estimate)
    return parser


def _cmd_estimate(args: argparse.Namespace, out: TextIO) -> int:
    from .hardware.commands import cmd_estimate

    return cmd_estimate(args, out)


def _cmd_survey(args: argparse.Namespace, out: TextIO) -> int:
    from .surveys import run_cli

    return run_cli(args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run a command. Every failure is one line on stderr and exit status 2 (see cli_errors)."""
    argv, debug = split_debug(sys.argv[1:] if argv is None else argv)
    stream = out or sys.stdout

    def run() -> int:
        parser = build_parser()  # reads the registry: a broken plugin is an error line too
        args = parser.parse_args(argv)
        options.values(args, args.command)  # every option checked before anything runs
        return int(args.handler(args, stream))

    return run_reporting(run, debug=debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
