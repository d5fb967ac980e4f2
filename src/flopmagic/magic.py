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
import contextlib
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
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


_API_SPELLINGS = (("input_shape=", "--input-shape"), ("inputs=", "--input"), ("training=", "--training"))


def _in_magic_words(message: str) -> str:
    """An API error message in the magic's vocabulary (``inputs=`` -> ``--input``)."""
    for api, flag in _API_SPELLINGS:
        message = message.replace(api + "...", flag).replace(api, flag)
    return message


def _assigned(cell: str) -> set[str]:
    """Names the cell binds at its top level or anywhere (assignments, imports, defs)."""
    try:
        tree = ast.parse(cell)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _wants_help(line: str) -> bool:
    return any(word in ("-h", "--help") for word in line.split())


HELP_FOOTER = """
Forms:
  %%profile [options]                   capture every model the cell runs
  %%profile NAME ... [--input VAR]      profile the named models after the cell ran
  %profile NAME ... [options]           the same on one line (no cell)
  %profile_model NAME [options]         one model on one line
NAME is a variable (looked up after the cell ran) or a spec such as torchvision:resnet50.
--input VAR names the variable holding the inputs (looked up after the cell ran);
--input-shape 1x3x224x224 makes random inputs (several inputs: 1x3x8x8;1x10).
-o VAR stores the report; -q shows nothing."""


@magics_class
class FlopMagics(Magics):
    @property
    def _ip(self) -> Any:
        if self.shell is None:  # pragma: no cover - magics always run inside a shell
            raise UsageError("flopmagic's magics need a running IPython shell")
        return self.shell

    def _help(self, magic: Any) -> None:
        """``-h``: the options (from :mod:`flopmagic.options`) and the forms, printed."""
        print(magic.parser.format_help().rstrip() + "\n" + HELP_FOOTER)

    # -- option checks ---------------------------------------------------------------------
    def _check(self, args: Any, cell: str = "") -> dict[str, Any]:
        """Every option parsed and checked (one UsageError naming the option); the API keywords.

        Variables named on the line must exist now or be bound by the cell: they are looked
        up after the cell ran, so ``%%profile model --input x`` works when the cell defines both.
        """
        from .errors import FlopmagicError

        try:
            given = options.values(args, "magic")
        except FlopmagicError as error:
            raise UsageError(_in_magic_words(str(error))) from None
        later = _assigned(cell)
        if args.input is not None and args.input not in self._ip.user_ns and args.input not in later:
            raise UsageError(f"--input {args.input!r}: no such variable; define it in the cell or before")
        if args.input and args.input_shape:
            raise UsageError("give --input VAR or --input-shape SHAPE, not both")
        asked = args.hardware or args.peak_tflops is not None or args.bandwidth_gbs is not None
        if args.fused and not asked:
            raise UsageError("--fused is a roofline option: name a device with --hardware")
        run = options.keywords("api.profile")
        return {k: v for k, v in given.items() if k in run}

    # -- running the cell -----------------------------------------------------------------
    def _run_cell(self, cell: str) -> Any:
        """Run ``cell`` in the user namespace as IPython would; return the value of a
        trailing expression (which becomes this cell's output). Exceptions propagate.

        The source is registered with IPython's compiler cache, so a traceback shows the
        user's lines as it does without the magic."""
        __tracebackhide__ = True
        shell = self._ip
        source = shell.transform_cell(cell)
        filename = shell.compile.cache(source, shell.execution_count)
        tree = shell.compile.ast_parse(source, filename=filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        namespace = shell.user_ns
        exec(shell.compile(tree, filename, "exec"), shell.user_global_ns, namespace)
        if last is not None:
            return eval(shell.compile(last, filename, "eval"), shell.user_global_ns, namespace)
        return None

    def _run_user_cell(self, cell: str, capture: Any = None) -> tuple[Any, BaseException | None]:
        """Run the cell; an exception it raises is returned (with the magic's frames cut
        from its traceback) for :meth:`_reraise`, after the capture is closed."""
        __tracebackhide__ = True
        try:
            return self._run_cell(cell), None
        except BaseException as error:  # the cell's own exception, re-raised as its own
            tb = error.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                tb = tb.tb_next
            return None, error.with_traceback(tb)

    def _reraise(self, error: BaseException) -> None:
        """Raise the cell's exception, shown exactly as IPython shows it without the magic:
        its traceback starts at the cell's own line (no frame of the magic's)."""
        __tracebackhide__ = True
        shown = self._ip.InteractiveTB.structured_traceback(type(error), error, error.__traceback__, tb_offset=0)

        def render() -> list[str]:  # once: a later %tb or %debug sees the exception as it is
            with contextlib.suppress(AttributeError):
                del error._render_traceback_  # type: ignore[attr-defined]
            return list(shown)

        with contextlib.suppress(AttributeError):  # exceptions with __slots__ keep the plain traceback
            error._render_traceback_ = render  # type: ignore[attr-defined]
        raise error

    def _extras(self, args: Any, profiles: list[Any], models: dict[str, Any], inputs: Any) -> list[Any]:
        """What the hardware options ask for: a roofline per profile, a timing per model."""
        asked = args.hardware or args.peak_tflops is not None or args.bandwidth_gbs is not None
        if not asked and not args.time_it:
            return []
        from .errors import FlopmagicError
        from .hardware.commands import _device
        from .hardware.roofline import default_dtype, roofline

        extras: list[Any] = []
        try:
            for profile in profiles:
                dtype = args.dtype or default_dtype(profile)
                if asked:
                    extras.append(roofline(profile, _device(args, dtype), args.dtype, fused=args.fused))
                if args.time_it:
                    from .hardware.timing import time_model, utilisation

                    model = models.get(profile.model)
                    if model is None:
                        raise UsageError(f"--time: {profile.model!r} is not a model variable to run")
                    timing = time_model(model, inputs, input_shape=args_shape(args), training=args.training)
                    fallback = "local-cuda" if timing.accelerator == "cuda" else "local"
                    extras.append(utilisation(profile, timing, _device(args, dtype, fallback=fallback), args.dtype))
        except FlopmagicError as error:
            raise UsageError(_in_magic_words(str(error))) from None
        return extras

    def _report(self, args: Any, profiles: list[Any], notes: list[str], extras: list[Any] | None = None) -> Any:
        from .report import Report

        verdicts = []
        if args.claim:
            from .api import audit

            for profile in profiles:
                if profile.backend == "flopmagic":
                    try:
                        verdicts.append(audit(profile, args.claim))
                    except ValueError as error:
                        raise UsageError(f"--claim {args.claim!r}: {error}") from None
        report = Report(
            profiles,
            by=args.by,
            depth=args.depth,
            unit=args.unit,
            top=args.top,
            verdicts=verdicts,
            notes=notes,
            baseline=args.baseline,
            extras=extras or (),
        )
        self._deliver(report, args)
        return report

    def _deliver(self, result: Any, args: Any) -> None:
        """Store ``result`` in ``-o VAR``; show it unless ``-q``; with ``-q`` and no ``-o``,
        keep it in ``_profile`` and say so."""
        if args.output:
            self._ip.user_ns[args.output] = result
        if not args.quiet:
            display(result)
        elif not args.output:
            self._ip.user_ns["_profile"] = result
            print("%%profile -q: the report is not shown; it is in _profile (name it with -o VAR)")

    def _profile_named(
        self, names: list[str], args: Any, run: dict[str, Any]
    ) -> tuple[list[Any], list[str], dict[str, Any]]:
        from .api import profile
        from .errors import FlopmagicError
        from .specs import is_spec

        ns = self._ip.user_ns
        if args.input and args.input not in ns:
            raise UsageError(f"--input {args.input!r}: no such variable after the cell ran")
        inputs = ns[args.input] if args.input else None
        profiles, notes, models = [], [], {}
        from .capture import progress

        for name in progress(names, "flopmagic: profiling", enabled=not args.quiet):
            if name in ns:
                model: Any = ns[name]
            elif is_spec(name):
                model = name  # a spec: torchvision:resnet50, a path
            else:
                raise UsageError(
                    f"no variable {name!r}: name a model defined in the notebook, or a spec like torchvision:resnet50"
                )
            models[name] = model
            try:
                profiles.append(profile(model, inputs, **run, name=name))
            except FlopmagicError as error:
                notes.append(f"{name}: {_in_magic_words(str(error))}")
        return profiles, notes, models

    def _named(self, args: Any, run: dict[str, Any], names: list[str]) -> None:
        profiles, notes, models = self._profile_named(names, args, run)
        if notes and not profiles:
            raise UsageError(notes[0])
        inputs = self._ip.user_ns[args.input] if args.input else None
        self._report(args, profiles, notes, self._extras(args, profiles, models, inputs))

    def _claims(self, args: Any, cell: str | None) -> Any:
        """``%profile --claims FILE``: a bulk audit of a claims file ('shipped': flopmagic's
        own), each model on the meta device, with a progress bar (none with ``-q``)."""
        from .capture import progress_bar
        from .claims import audit_claims, load_claims, shipped_claims_path
        from .errors import FlopmagicError

        if cell is not None and cell.strip():
            raise UsageError("--claims audits a claims file: use it on a line, %profile --claims FILE")
        if args.models:
            raise UsageError("--claims: each row of the file names its model; name none on the line")
        self._check(args)
        try:
            path = shipped_claims_path() if args.claims == "shipped" else args.claims
            claims = load_claims(path, allow_code=args.allow_code)
            results = audit_claims(
                claims,
                device=args.device or "meta",
                progress=progress_bar("flopmagic: auditing", enabled=not args.quiet),
                allow_code=args.allow_code,
            )
        except FlopmagicError as error:
            raise UsageError(f"--claims {args.claims!r}: {_in_magic_words(str(error))}") from None
        self._deliver(results, args)
        return None

    @magic_arguments()
    @argument("models", nargs="*", help="models to profile (variable names or specs) instead of capturing the cell")
    @_common
    @line_cell_magic
    def profile(self, line: str, cell: str | None = None) -> Any:
        """Run the cell and show FLOPs, MACs and parameters of every model it runs.

        %%profile                          capture every PyTorch/Keras/ONNX Runtime model the cell runs
        %%profile model_a model_b --input x    profile the named models after the cell ran
        %profile model --input-shape 1x3x224x224    the same on one line
        """
        __tracebackhide__ = True
        if _wants_help(line):
            self._help(self.profile)
            return None
        args = _parse(self.profile, line)
        if args.claims:
            return self._claims(args, cell)
        if cell is None:  # %profile on a line: named models only
            if not args.models:
                raise UsageError(
                    "%profile on a line profiles named models: %profile model --input-shape 1x3x224x224; "
                    "to capture a cell, start it with %%profile (see %profile -h)"
                )
            self._named(args, self._check(args), args.models)
            return None
        run = self._check(args, cell)
        from .capture import CellCapture, import_watched, native_logs_kept_out

        if args.models:
            value, error = self._run_user_cell(cell)
            if error is not None:
                self._reraise(error)
            self._named(args, run, args.models)
            return value
        import_watched(cell)  # watch frameworks the cell is about to import
        # TensorFlow's native code logs to the process's stderr as the cell first runs a model
        quiet = native_logs_kept_out() if "tensorflow" in sys.modules else contextlib.nullcontext()
        with CellCapture(self._ip.user_ns, progress=not args.quiet) as capture, quiet:
            value, error = self._run_user_cell(cell)
        if error is not None:
            self._reraise(error)
        captured = capture.results(backend=args.backend, training=args.training, convention=args.convention)
        notes = list(captured.notes)
        if not captured.profiles and not notes and not captured.extras:
            from .adapters import adapters

            watched = ", ".join(a.title for a in adapters() if a.watcher is not None)
            notes.append(f"the cell ran no model of a watched framework ({watched}): nothing to profile")
        if args.time_it:
            raise UsageError("--time runs a named model: %%profile model --input x --time")
        extras = [*captured.extras, *self._extras(args, captured.profiles, {}, None)]
        self._report(args, captured.profiles, notes, extras)
        return value

    @magic_arguments()
    @argument("model", help="a variable holding a model, or a spec such as torchvision:resnet50")
    @_common
    @line_magic
    def profile_model(self, line: str) -> Any:
        """Profile one model: %profile_model resnet --input-shape 1x3x224x224"""
        if _wants_help(line):
            self._help(self.profile_model)
            return None
        args = _parse(self.profile_model, line)
        if args.claims:
            raise UsageError("--claims audits a claims file: %profile --claims FILE")
        self._named(args, self._check(args), [args.model])
        return None


def args_shape(args: Any) -> Any:
    from .specs import parse_input_shape

    return parse_input_shape(args.input_shape) if args.input_shape else None


def _help_on_an_empty_cell(lines: list[str]) -> list[str]:
    """``%%profile -h`` alone in a cell: IPython refuses an empty cell magic before the
    magic runs; read it as ``%profile -h`` so the help is printed."""
    first = lines[0].lstrip() if lines else ""
    if first.startswith("%%profile") and _wants_help(first) and not "".join(lines[1:]).strip():
        return [first[1:]]
    return lines


def register(ipython: Any) -> None:
    ipython.register_magics(FlopMagics)
    if _help_on_an_empty_cell not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_help_on_an_empty_cell)


def unregister(ipython: Any) -> None:
    with contextlib.suppress(ValueError):
        ipython.input_transformers_cleanup.remove(_help_on_an_empty_cell)
    magics = ipython.magics_manager.magics
    for kind, name in (("cell", "profile"), ("line", "profile"), ("line", "profile_model")):
        magics[kind].pop(name, None)
