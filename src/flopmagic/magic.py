"""IPython magics: ``%%profile`` (a cell) and ``%profile_model`` (one model).

Loaded by ``%load_ext flopmagic`` (``load_ipython_extension`` in the package's
``__init__`` imports this module only then). Options are parsed with
``magic_arguments``; misuse raises ``UsageError`` naming the fix.

``%%profile`` runs the cell as IPython would (its output value, variables and
exceptions are the cell's own) and shows what it computed: every PyTorch forward,
Keras model call and ONNX Runtime run, or the models named on the line.
"""

from __future__ import annotations

import ast
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from . import options

__all__ = ["FlopMagics", "register", "unregister"]


def _common(fn: Any) -> Any:
    """The options %%profile and %profile_model share, generated from :mod:`flopmagic.options`."""
    for flags, kwargs in reversed(options.magic_argument_specs("magic")):
        fn = argument(*flags, **kwargs)(fn)
    return fn


def _unquote(value: Any) -> Any:
    """IPython splits magic lines without removing quotes: '--claim "4.1 GFLOPs"' keeps them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _parse(magic: Any, line: str) -> Any:
    args = parse_argstring(magic, line)
    for key, value in vars(args).items():
        setattr(args, key, [_unquote(v) for v in value] if isinstance(value, list) else _unquote(value))
    return args


@magics_class
class FlopMagics(Magics):
    @property
    def _ip(self) -> Any:
        if self.shell is None:  # pragma: no cover - magics always run inside a shell
            raise UsageError("flopmagic's magics need a running IPython shell")
        return self.shell

    # -- option checks ---------------------------------------------------------------------
    def _check(self, args: Any) -> dict[str, Any]:
        """Every option parsed and checked (one UsageError naming the option); the API keywords."""
        from .errors import FlopmagicError

        try:
            given = options.values(args, "magic")
        except FlopmagicError as error:
            raise UsageError(str(error)) from None
        if args.input is not None and args.input not in self._ip.user_ns:
            raise UsageError(f"--input {args.input!r}: no such variable; define it in the cell or before")
        if args.input and args.input_shape:
            raise UsageError("give --input VAR or --input-shape SHAPE, not both")
        run = options.keywords("api.profile")
        return {k: v for k, v in given.items() if k in run}

    # -- running the cell -----------------------------------------------------------------
    def _run_cell(self, cell: str) -> Any:
        """Run ``cell`` in the user namespace as IPython would; return the value of a
        trailing expression (which becomes this cell's output). Exceptions propagate."""
        __tracebackhide__ = True
        shell = self._ip
        tree = shell.compile.ast_parse(shell.transform_cell(cell))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        namespace = shell.user_ns
        exec(shell.compile(tree, "<%%profile cell>", "exec"), shell.user_global_ns, namespace)
        if last is not None:
            return eval(shell.compile(last, "<%%profile cell>", "eval"), shell.user_global_ns, namespace)
        return None

    def _report(self, args: Any, profiles: list[Any], notes: list[str]) -> Any:
        from .report import Report

        verdicts = []
        if args.claim:
            from .api import audit

            for profile in profiles:
                if profile.backend == "flopmagic" and profile.model != "(ops outside modules)":
                    try:
                        verdicts.append(audit(profile, args.claim))
                    except ValueError as error:
                        raise UsageError(f"--claim {args.claim!r}: {error}") from None
        report = Report(
            profiles, by=args.by, depth=args.depth, unit=args.unit, top=args.top, verdicts=verdicts, notes=notes
        )
        if args.output:
            self._ip.user_ns[args.output] = report
        if not args.quiet:
            display(report)
        return report

    def _profile_named(self, names: list[str], args: Any, run: dict[str, Any]) -> tuple[list[Any], list[str]]:
        from .api import profile
        from .errors import FlopmagicError
        from .specs import is_spec

        inputs = self._ip.user_ns[args.input] if args.input else None
        profiles, notes = [], []
        for name in names:
            if is_spec(name):
                model: Any = name  # a spec: torchvision:resnet50, a path
            elif name in self._ip.user_ns:
                model = self._ip.user_ns[name]
            else:
                raise UsageError(
                    f"no variable {name!r}: name a model defined in the notebook, or a spec like torchvision:resnet50"
                )
            try:
                profiles.append(profile(model, inputs, **run, name=name))
            except FlopmagicError as error:
                notes.append(f"{name}: {error}")
        return profiles, notes

    @magic_arguments()
    @argument("models", nargs="*", help="models to profile (variable names or specs) instead of capturing the cell")
    @_common
    @cell_magic
    def profile(self, line: str, cell: str) -> Any:
        """Run the cell and show FLOPs, MACs and parameters of every model it runs.

        %%profile                          capture every PyTorch/Keras/ONNX Runtime model the cell runs
        %%profile model_a model_b --input x    profile the named models on the variable x after the cell
        """
        args = _parse(self.profile, line)
        run = self._check(args)
        from .capture import CellCapture, import_watched

        if args.models:
            value = self._run_cell(cell)
            profiles, notes = self._profile_named(args.models, args, run)
            self._report(args, profiles, notes)
            return value
        import_watched(cell)  # watch frameworks the cell is about to import
        with CellCapture(self._ip.user_ns) as capture:
            value = self._run_cell(cell)
        captured = capture.results(backend=args.backend, training=args.training, convention=args.convention)
        notes = list(captured.notes)
        if not captured.profiles and not notes:
            from .adapters import adapters

            watched = ", ".join(a.title for a in adapters() if a.watcher is not None)
            notes.append(f"the cell ran no model of a watched framework ({watched}): nothing to profile")
        self._report(args, captured.profiles, notes)
        return value

    @magic_arguments()
    @argument("model", help="a variable holding a model, or a spec such as torchvision:resnet50")
    @_common
    @line_magic
    def profile_model(self, line: str) -> Any:
        """Profile one model: %profile_model resnet --input-shape 1x3x224x224"""
        args = _parse(self.profile_model, line)
        run = self._check(args)
        profiles, notes = self._profile_named([args.model], args, run)
        if notes and not profiles:
            raise UsageError(notes[0])
        self._report(args, profiles, notes)
        return None


def register(ipython: Any) -> None:
    ipython.register_magics(FlopMagics)


def unregister(ipython: Any) -> None:
    magics = ipython.magics_manager.magics
    for kind, name in (("cell", "profile"), ("line", "profile_model")):
        magics[kind].pop(name, None)
