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
import importlib
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

__all__ = ["FlopMagics", "register", "unregister"]


def _common(fn: Any) -> Any:
    """The options %%profile and %profile_model share."""
    for decorator in reversed(
        [
            argument("--input", metavar="VAR", help="the variable holding the input(s) for the named models"),
            argument("--input-shape", metavar="SHAPE", help="random inputs of this shape, e.g. 1x3x224x224"),
            argument("--unit", choices=("macs", "flops", "both"), default="both", help="which quantities to show"),
            argument("--convention", help="counting convention (flopmagic, paper, fvcore, torch, thop, ptflops, ...)"),
            argument(
                "--by", choices=("layer", "type", "op"), default="layer", help="rows per layer, op type or native op"
            ),
            argument("--depth", type=int, help="cut layer paths at this depth"),
            argument("--backend", default="flopmagic", help="flopmagic (default), fvcore, torch, tf-profiler"),
            argument("--training", action="store_true", help="count forward + measured backward (PyTorch)"),
            argument("--claim", help="audit the result against a published number, e.g. '4.1 GFLOPs'"),
            argument("-o", dest="output", metavar="VAR", help="store the report in this variable (like %%timeit -o)"),
            argument("-q", "--quiet", action="store_true", help="show nothing (use with -o)"),
        ]
    ):
        fn = decorator(fn)
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
    def _check(self, args: Any) -> None:
        from .api import BACKENDS
        from .conventions import conventions

        known = [c.name for c in conventions()]
        if args.convention is not None and args.convention not in known:
            raise UsageError(f"unknown --convention {args.convention!r}; choose one of: {', '.join(known)}")
        if args.backend not in BACKENDS:
            raise UsageError(f"unknown --backend {args.backend!r}; choose one of: {', '.join(BACKENDS)}")
        if args.depth is not None and args.depth < 1:
            raise UsageError("--depth must be at least 1")
        if args.input is not None and args.input not in self._ip.user_ns:
            raise UsageError(f"--input {args.input!r}: no such variable; define it in the cell or before")
        if args.input and args.input_shape:
            raise UsageError("give --input VAR or --input-shape SHAPE, not both")

    def _input_shape(self, args: Any) -> Any:
        if args.input_shape is None:
            return None
        from .errors import SpecError
        from .specs import parse_input_shape

        try:
            return parse_input_shape(args.input_shape)
        except SpecError as error:
            raise UsageError(str(error)) from None

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
        report = Report(profiles, by=args.by, depth=args.depth, unit=args.unit, verdicts=verdicts, notes=notes)
        if args.output:
            self._ip.user_ns[args.output] = report
        if not args.quiet:
            display(report)
        return report

    def _profile_named(self, names: list[str], args: Any) -> tuple[list[Any], list[str]]:
        from .api import profile
        from .errors import FlopmagicError

        inputs = self._ip.user_ns[args.input] if args.input else None
        shape = self._input_shape(args)
        profiles, notes = [], []
        for name in names:
            if ":" in name or name.lower().endswith(".onnx"):
                model: Any = name  # a spec: torchvision:resnet50, a path
            elif name in self._ip.user_ns:
                model = self._ip.user_ns[name]
            else:
                raise UsageError(
                    f"no variable {name!r}: name a model defined in the notebook, or a spec like torchvision:resnet50"
                )
            try:
                profiles.append(
                    profile(
                        model,
                        inputs,
                        input_shape=shape,
                        backend=args.backend,
                        training=args.training,
                        convention=args.convention,
                        name=name,
                    )
                )
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
        self._check(args)
        from .capture import CellCapture, imports_of

        if args.models:
            value = self._run_cell(cell)
            profiles, notes = self._profile_named(args.models, args)
            self._report(args, profiles, notes)
            return value
        for package in imports_of(cell):  # watch frameworks the cell is about to import
            if package in ("keras", "tensorflow"):
                from .adapters import import_tensorflow

                import_tensorflow()
            importlib.import_module(package)
        with CellCapture(self._ip.user_ns) as capture:
            value = self._run_cell(cell)
        captured = capture.results(backend=args.backend, training=args.training, convention=args.convention)
        notes = list(captured.notes)
        if not captured.profiles and not notes:
            notes.append("the cell ran no PyTorch module, Keras model or ONNX Runtime session: nothing to profile")
        self._report(args, captured.profiles, notes)
        return value

    @magic_arguments()
    @argument("model", help="a variable holding a model, or a spec such as torchvision:resnet50")
    @_common
    @line_magic
    def profile_model(self, line: str) -> Any:
        """Profile one model: %profile_model resnet --input-shape 1x3x224x224"""
        args = _parse(self.profile_model, line)
        self._check(args)
        profiles, notes = self._profile_named([args.model], args)
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
