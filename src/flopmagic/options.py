"""Every option, declared once: its type, default, help, accepted values and where it applies.

One table (:data:`OPTIONS`) generates

- the command line's arguments (:func:`add_arguments`, one call per subcommand),
- the IPython magic's ``magic_arguments`` (:func:`magic_argument_specs`; IPython is
  imported by the magic, never here),
- the Python API's keyword checks (:func:`check`),
- and the options table in the docs (:func:`options_table`, ``docs/options.md``).

Surfaces are named by where an option is typed: a CLI subcommand (``"profile"``,
``"compare"``, ``"audit"``, ...), ``"magic"`` (``%%profile``/``%profile_model``), or an
API function (``"api.profile"``, ``"api.compare"``). To add an option, add one
:class:`Option` here naming its surfaces; to add a subcommand, name it in the
surfaces of the options it takes and call ``add_arguments(parser, "name")``.

Values typed on a command line are text: ``parse`` turns them into the value the API
takes (``"1x3x224x224"`` -> ``(1, 3, 224, 224)``), after argparse, so a bad value is
one error line naming the option (``values``). Choices that depend on what is
registered (backends, conventions) are read when checked, so plugins are included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

__all__ = [
    "OPTIONS",
    "SURFACES",
    "Option",
    "add_arguments",
    "check",
    "keywords",
    "magic_argument_specs",
    "option",
    "options_for",
    "options_table",
    "values",
]

Choices = tuple[str, ...] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Option:
    """One option.

    ``name`` is the keyword the API takes and the attribute argparse stores (``dest``);
    ``flag`` its command-line spelling (default ``--`` + name with dashes). ``parse``
    turns command-line text into the API's value; ``api_name`` is that keyword when it
    differs (``--dim`` text -> ``dims``). ``choices`` may be a function (read when
    checked: registered backends and conventions); ``minimum`` bounds integers.
    ``error`` is the :class:`~flopmagic.errors.OptionError` subclass a bad value raises;
    ``checked_by_api=False`` leaves an API value to the adapter (each framework accepts
    its own devices), while the CLI and the magic still offer only ``choices``.
    ``check`` says what is wrong with a value (None: nothing), for bounds that
    ``choices`` and ``minimum`` cannot state (a positive float, a fraction).
    ``repeat``: the flag may be given several times (a list of values).
    """

    name: str
    help: str
    surfaces: frozenset[str]
    value_type: type = str
    default: Any = None
    choices: Choices | None = None
    minimum: int | None = None
    switch: bool = False
    flag: str = ""
    short: str = ""
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    api_name: str = ""
    error: type[OptionError] = OptionError
    checked_by_api: bool = True
    check: Callable[[Any], str | None] | None = None
    repeat: bool = False

    @property
    def spelling(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def keyword(self) -> str:
        return self.api_name or self.name

    def accepted(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not accepted (None: it is)."""
        accepted = self.accepted()
        if accepted is not None and value not in accepted:
            return f"choose one of: {', '.join(accepted)}"
        if self.minimum is not None and (not isinstance(value, int) or value < self.minimum):
            return f"must be at least {self.minimum}"
        if self.check is not None:
            return self.check(value)
        return None


def _backends() -> tuple[str, ...]:
    from .adapters import backends

    return tuple(backends())


def _conventions() -> tuple[str, ...]:
    from .conventions import conventions

    return tuple(c.name for c in conventions())


def _convention_error() -> type[OptionError]:
    from .conventions import UnknownConventionError

    return UnknownConventionError


def _shape(text: str) -> Any:
    from .specs import parse_input_shape

    return parse_input_shape(text)


def _dims(text: str) -> dict[str, int]:
    """``batch=1,seq=128``; the values are checked where they are used (positive, within int64)."""
    dims: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            raise OptionError(
                f"bad --dim {text!r}: write name=value pairs with integer values, e.g. --dim batch=1,seq=128"
            )
        dims[name.strip()] = int(value)
    return dims


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and value != float("inf")
    return None if ok else f"must be a positive number, got {value!r}"


def _fraction(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1
    return None if ok else f"must be in (0, 1], got {value!r}"


def _tolerance(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    return None if ok else f"must be a fraction in [0, 1), such as 0.01, got {value!r}"


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise OptionError(f"--batch-sizes: write batch sizes as 1,8,32, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise OptionError(f"--batch-sizes: batch sizes must be at least 1, got {text!r}")
    return values


def _on(*surfaces: str) -> frozenset[str]:
    return frozenset(surfaces)


RUN = ("profile", "compare", "audit")  # the CLI subcommands that run models

OPTIONS: tuple[Option, ...] = (
    # -- what to run -------------------------------------------------------------------
    Option(
        "input",
        "the variable holding the input(s) for the named models",
        _on("magic"),
        metavar="VAR",
    ),
    Option(
        "input_shape",
        "input shape(s) of random inputs, e.g. 1x3x224x224 (several: 1x3x8x8,1x10)",
        _on(*RUN, "estimate", "magic", "api.profile"),
        metavar="SHAPE",
        parse=_shape,
    ),
    Option(
        "backend",
        "the counter: flopmagic (default, the exact counter) or a wrapped peer (fvcore, torch, tf-profiler)",
        _on(*RUN, "magic", "api.profile"),
        default="flopmagic",
        choices=_backends,
    ),
    Option(
        "convention",
        "counting convention to express the result in (default: flopmagic)",
        _on(*RUN, "survey", "magic", "api.profile"),
        choices=_conventions,
    ),
    Option(
        "training",
        "count forward + measured backward (PyTorch)",
        _on(*RUN, "magic", "api.profile"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    Option(
        "device",
        "'meta': run without allocating weights (PyTorch)",
        _on(*RUN, "magic", "api.profile"),
        choices=("meta",),
        checked_by_api=False,
    ),
    Option(
        "dim",
        "values for symbolic ONNX dimensions, e.g. batch=1,seq=128",
        _on(*RUN, "magic", "api.profile"),
        metavar="NAME=N,...",
        parse=_dims,
        api_name="dims",
    ),
    # -- what to show ------------------------------------------------------------------------
    Option(
        "by",
        "rows per layer, op type or native op",
        _on("profile", "magic"),
        default="layer",
        choices=("layer", "type", "op"),
    ),
    Option(
        "by",
        "align rows by op type, stage or layer",
        _on("compare", "api.compare"),
        default="type",
        choices=("type", "stage", "layer"),
    ),
    Option(
        "align",
        "match rows by name, by position among rows that do work, or auto",
        _on("api.compare"),
        default="auto",
        choices=("auto", "name", "position"),
    ),
    Option(
        "depth",
        "cut layer paths at this depth, each row including what is below (compare --by stage: default 1)",
        _on("profile", "compare", "magic", "api.compare"),
        value_type=int,
        minimum=1,
    ),
    Option(
        "unit",
        "which quantities to show (and plot, for survey)",
        _on("profile", "compare", "survey", "magic"),
        default="both",
        choices=("macs", "flops", "both"),
    ),
    Option(
        "top",
        "only the N rows with the most FLOPs (MACs with --unit macs)",
        _on("profile", "magic"),
        value_type=int,
        minimum=1,
    ),
    Option(
        "conventions",
        "show each model under these conventions, e.g. flopmagic,paper,fvcore",
        _on("compare"),
        metavar="NAME,...",
        parse=_names,
    ),
    Option(
        "format",
        "output format",
        _on("profile", "compare"),
        default="table",
        choices=("table", "json", "csv", "markdown"),
    ),
    Option(
        "receptive_field",
        "add the RF and Jump columns (receptive field and effective stride, in input pixels) to --by layer",
        _on("profile"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    # -- surveys -----------------------------------------------------------------------------------
    Option(
        "jobs",
        "models profiled at once, each in its own process (default 1)",
        _on("survey"),
        value_type=int,
        default=1,
        minimum=1,
    ),
    Option(
        "format",
        "output format",
        _on("survey"),
        default="table",
        choices=("table", "text", "markdown", "csv", "json"),
    ),
    Option(
        "plot",
        "save top-1 accuracy against compute, the Pareto front marked (PNG, SVG or PDF by extension)",
        _on("survey"),
        metavar="FILE",
    ),
    Option(
        "device",
        "'meta' (default): no weights allocated; 'cpu': real tensors",
        _on("survey"),
        default="meta",
        choices=("meta", "cpu"),
    ),
    Option("quiet", "no progress bar", _on("survey"), value_type=bool, default=False, switch=True),
    # -- hardware: roofline, measured utilisation, estimates --------------------------------------
    Option(
        "hardware",
        "device for the roofline: a catalogue name (h100-sxm, a100-80gb, t4, ...) or 'local' (calibrated here)",
        _on("profile", "estimate", "magic", "api.estimate"),
        metavar="DEVICE",
    ),
    Option(
        "dtype",
        "dtype of every tensor and of the peak: fp64, fp32, tf32, bf16, fp16, fp8, int8 (default: the parameters')",
        _on("profile", "estimate", "magic", "api.estimate"),
    ),
    Option(
        "peak_tflops",
        "dense peak TFLOPS at --dtype (overrides --hardware's)",
        _on("profile", "estimate", "magic", "api.estimate"),
        value_type=float,
        check=_positive,
    ),
    Option(
        "bandwidth_gbs",
        "memory bandwidth in GB/s (overrides --hardware's)",
        _on("profile", "estimate", "magic", "api.estimate"),
        value_type=float,
        check=_positive,
    ),
    Option(
        "fused",
        "roofline bytes of the fused view: weights + model inputs/outputs only",
        _on("profile", "magic"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    Option(
        "slowest",
        "rows in the roofline's slowest-layers table (default 10)",
        _on("profile"),
        value_type=int,
        default=10,
        minimum=1,
    ),
    Option(
        "time_it",
        "run the model (warm-up, repeats, synchronised) and report latency, achieved FLOP/s and MFU",
        _on("profile", "magic"),
        value_type=bool,
        default=False,
        switch=True,
        flag="--time",
    ),
    Option(
        "repeats",
        "timed runs for --time (after 2 warm-up runs) and --measure",
        _on("profile", "estimate", "api.estimate"),
        value_type=int,
        default=10,
        minimum=1,
    ),
    Option(
        "samples",
        "training samples per epoch (for the training-time estimate)",
        _on("estimate", "api.estimate"),
        value_type=float,
        check=_positive,
    ),
    Option(
        "epochs", "epochs (default 1)", _on("estimate", "api.estimate"), value_type=float, default=1.0, check=_positive
    ),
    Option(
        "devices",
        "data-parallel devices (default 1)",
        _on("estimate", "api.estimate"),
        value_type=int,
        default=1,
        minimum=1,
    ),
    Option(
        "mfu",
        "model FLOPs utilisation to assume, e.g. 0.4 (default: measured with --measure, else the roofline's)",
        _on("estimate", "api.estimate"),
        value_type=float,
        check=_fraction,
    ),
    Option(
        "optimizer",
        "optimizer for step FLOPs and state memory",
        _on("estimate", "api.estimate"),
        default="adam",
        choices=("sgd", "sgd-momentum", "adam", "adamw"),
    ),
    Option(
        "precision",
        "training precision for memory (mixed: 16-bit weights and grads + fp32 master)",
        _on("estimate", "api.estimate"),
        default="mixed",
        choices=("fp32", "mixed", "bf16"),
    ),
    Option(
        "batch_sizes",
        "serving batch sizes, e.g. 1,8,32 (default: the input's batch)",
        _on("estimate", "api.estimate"),
        metavar="N,...",
        parse=_batch_sizes,
    ),
    Option(
        "measure",
        "time a training step and serving runs on this machine (MFU, QPS)",
        _on("estimate", "api.estimate"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    Option("format", "output format", _on("estimate"), default="table", choices=("table", "json")),
    # -- audits ---------------------------------------------------------------------------------
    Option(
        "claim",
        "a published number to audit the result against: '4.1 GFLOPs', '300M MAdds', '3.86 FLOPs(G)'; "
        "training compute: '3.14e23 FLOPs', '3640 PF-days'",
        _on("audit", "magic"),
    ),
    Option("params_claim", "the published parameter count, e.g. 25.6M (alone or with --claim)", _on("audit")),
    Option(
        "claims",
        "a YAML/CSV claims file to audit ('shipped': the claims that ship with flopmagic)",
        _on("audit", "magic"),
        metavar="FILE",
    ),
    Option(
        "table",
        "a table of published numbers (Markdown, CSV or pasted text) to audit row by row",
        _on("audit"),
        metavar="FILE",
    ),
    Option(
        "map",
        'for --table: a model name\'s spec, e.g. --map "ResNet-50=torchvision:resnet50" (repeatable)',
        _on("audit"),
        metavar="NAME=SPEC",
        repeat=True,
    ),
    Option(
        "allow_code",
        "let a claims file name package.module:factory models (imports and runs code)",
        _on("audit", "magic"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    Option(
        "binary",
        "read the claim's prefix as a power of 2 (1 G = 2^30)",
        _on("audit"),
        value_type=bool,
        default=False,
        switch=True,
    ),
    Option(
        "tolerance",
        "relative counting tolerance on top of the claim's precision (default 0.01)",
        _on("audit"),
        value_type=float,
        check=_tolerance,
    ),
    Option(
        "config", "a Hugging Face config.json for a transformers: spec (read as data)", _on("audit"), metavar="FILE"
    ),
    Option("tokens", "training compute: tokens trained on, e.g. 300e9 (with --training)", _on("audit")),
    Option("samples", "training compute: samples per epoch (vision; with --epochs, --training)", _on("audit")),
    Option("epochs", "training compute: epochs (with --samples)", _on("audit")),
    Option("mfu", "utilisation: the claimed MFU, e.g. 46.2%", _on("audit")),
    Option("hfu", "utilisation: the claimed HFU (hardware FLOPs, with recomputation)", _on("audit")),
    Option("throughput", "utilisation: tokens (or samples) per second, e.g. 238.3K", _on("audit")),
    Option(
        "throughput_per",
        "utilisation: the throughput is per device or global",
        _on("audit"),
        default="global",
        choices=("device", "global"),
    ),
    Option("devices", "utilisation: number of devices (default 1)", _on("audit")),
    Option("hardware", "utilisation: the device name in the hardware catalogue, e.g. h100-sxm", _on("audit")),
    Option("dtype", "utilisation: the dtype of the peak, e.g. bf16", _on("audit")),
    Option("peak_tflops", "utilisation: the dense peak per device, in TFLOP/s (e.g. 989.4)", _on("audit")),
    Option("sparse_peak_tflops", "utilisation: the 2:4-sparsity peak per device, in TFLOP/s (e.g. 1979)", _on("audit")),
    Option(
        "format", "output format", _on("audit"), default="table", choices=("table", "json", "markdown", "csv", "html")
    ),
    # -- language-model generation (flopmagic.llm) ---------------------------------------------------
    Option(
        "prefill",
        "LLM generation: prompt tokens of the prefill step (a transformers causal LM; splits prefill/decode)",
        _on("profile", "api.generation"),
        value_type=int,
        minimum=1,
    ),
    Option(
        "decode",
        "LLM generation: generated tokens (decode steps, traced at 3 positions, extrapolated when affine)",
        _on("profile", "api.generation"),
        value_type=int,
        minimum=0,
    ),
    Option(
        "batch",
        "LLM generation: sequences generated together",
        _on("profile", "api.generation"),
        value_type=int,
        default=1,
        minimum=1,
    ),
    Option(
        "lm_head",
        "LLM generation: logits at every prefill position ('all', what model(ids) does) or the last ('last')",
        _on("profile", "api.generation"),
        default="all",
        choices=("all", "last"),
    ),
    # -- the magic's own ----------------------------------------------------------------------------
    Option(
        "output",
        "store the report in this variable (like %%timeit -o)",
        _on("magic"),
        flag="-o",
        metavar="VAR",
    ),
    Option(
        "quiet",
        "show nothing (the report is stored in -o VAR, else in _profile)",
        _on("magic"),
        value_type=bool,
        default=False,
        switch=True,
        short="-q",
    ),
    # -- the notebook (#13): comparisons against a chosen model ------------------------------------
    Option(
        "baseline",
        "the model each change column compares against (default: the first)",
        _on("compare", "magic"),
        metavar="NAME",
    ),
)

SURFACES: tuple[str, ...] = tuple(sorted({s for o in OPTIONS for s in o.surfaces}))


def keywords(surface: str) -> frozenset[str]:
    """The API keywords of a surface's options (``keywords("api.profile")``: what a run takes)."""
    return frozenset(o.keyword for o in options_for(surface))


def options_for(surface: str) -> list[Option]:
    """The options a surface takes, in declaration order."""
    return [o for o in OPTIONS if surface in o.surfaces]


def option(name: str, surface: str) -> Option:
    """The option ``name`` as ``surface`` takes it."""
    for candidate in options_for(surface):
        if candidate.name == name or candidate.keyword == name:
            return candidate
    raise KeyError(f"no option {name!r} on {surface!r}")


def _argument(opt: Option, *, static_choices: bool) -> tuple[tuple[str, ...], dict[str, Any]]:
    """argparse's (flags, keyword arguments) for one option. Only fixed choices go to
    argparse; registry-dependent ones are listed in the help as they are when the parser
    is built, and checked by :func:`values` against the registry when used."""
    flags = tuple(f for f in (opt.short, opt.spelling) if f)
    kwargs: dict[str, Any] = {"help": opt.help.replace("%", "%%"), "dest": opt.name}  # argparse formats help
    if opt.switch:
        kwargs["action"] = "store_true"
        return flags, kwargs
    if opt.repeat:
        kwargs["action"] = "append"
    kwargs["default"] = opt.default
    if opt.value_type in (int, float):
        kwargs["type"] = opt.value_type
    if static_choices and isinstance(opt.choices, tuple):
        kwargs["choices"] = opt.choices
    if opt.metavar:
        kwargs["metavar"] = opt.metavar
    elif callable(opt.choices):  # registered names, shown as argparse shows fixed choices
        kwargs["metavar"] = "{" + ",".join(opt.accepted() or ()) + "}"
    return flags, kwargs


def add_arguments(parser: Any, surface: str) -> None:
    """Add the options of CLI subcommand ``surface`` to an ``argparse`` parser."""
    for opt in options_for(surface):
        flags, kwargs = _argument(opt, static_choices=True)
        parser.add_argument(*flags, **kwargs)


def magic_argument_specs(surface: str = "magic") -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """``(flags, kwargs)`` for IPython's ``magic_arguments.argument``, one per option."""
    return [_argument(opt, static_choices=True) for opt in options_for(surface)]


def _raise(opt: Option, value: Any, problem: str, label: str) -> None:
    error = _convention_error() if opt.name == "convention" else opt.error
    if problem.startswith("choose"):
        raise error(f"unknown {label} {value!r}; {problem}")
    raise error(f"{label} {problem}")


def values(namespace: Any, surface: str) -> dict[str, Any]:
    """The API keywords an argparse namespace (CLI or magic) stands for: each option's
    text parsed and its value checked. Raises an OptionError (or SpecError from a bad
    shape) naming the option, e.g. ``unknown --backend 'thop'; choose one of: ...``."""
    found: dict[str, Any] = {}
    for opt in options_for(surface):
        value = getattr(namespace, opt.name, opt.default)
        if value is not None and opt.parse is not None and isinstance(value, str):
            value = opt.parse(value)
        elif value is not None and not opt.switch:
            problem = opt.problem(value)
            if problem:
                _raise(opt, value, problem, opt.spelling)
        found[opt.keyword] = value
    return found


def check(surface: str, given: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
    """Check API keywords (``check("api.profile", {"backend": "thop"})``): a value an
    option does not accept raises its OptionError naming the option and what it accepts.
    None means "the default" and is not checked."""
    items = given.items() if isinstance(given, Mapping) else given
    for name, value in items:
        if value is None:
            continue
        try:
            opt = option(name, surface)
        except KeyError:
            continue
        if not opt.checked_by_api:
            continue
        problem = opt.problem(value)
        if problem:
            _raise(opt, value, problem, name)


def options_table() -> str:
    """Markdown: every option, where it applies, its default and what it does."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| option | command line | `%%profile` | Python API | default | accepts | what it does |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for opt in OPTIONS:
        cli = ", ".join(sorted(s for s in opt.surfaces if "." not in s and s != "magic"))
        api = ", ".join(f"`{s.split('.', 1)[1]}({opt.keyword}=)`" for s in sorted(opt.surfaces) if s.startswith("api."))
        spelling = f"`{opt.short} {opt.spelling}`" if opt.short else f"`{opt.spelling}`"
        if opt.switch:
            accepts = "switch"
        elif isinstance(opt.choices, tuple):
            accepts = " | ".join(opt.choices)
        elif opt.choices is not None:
            accepts = "registered " + ("backends" if opt.name == "backend" else "conventions")
        elif opt.minimum is not None:
            accepts = f"integer >= {opt.minimum}"
        else:
            accepts = opt.metavar or opt.value_type.__name__
        default = "" if opt.default in (None, False) else f"`{opt.default}`"
        lines.append(
            f"| {spelling} | {cli} | "
            f"{'yes' if 'magic' in opt.surfaces else ''} | {api} | {default} | {cell(accepts)} | {cell(opt.help)} |"
        )
    return "\n".join(lines)
