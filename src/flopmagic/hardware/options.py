"""The hardware options, declared once (name, help, surfaces, type, default, validation), and the
command-line sections they drive: the roofline and ``--time`` on ``profile``, and the
``estimate`` subcommand. ``cli.py`` wires these in with a few lines.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..errors import HardwareError
from ..schema import ModelProfile
from .roofline import default_dtype

__all__ = [
    "OPTIONS",
    "Option",
    "add_estimate_command",
    "add_options",
    "cmd_estimate",
    "hardware_sections",
]


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"write batch sizes as 1,8,32, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return values


@dataclass(frozen=True)
class Option:
    """One option, in the form of the project's options vocabulary: ``name`` (the API
    keyword and argparse ``dest``), ``help``, the ``surfaces`` it applies to (CLI
    subcommands, ``"api.estimate"``), ``value_type``, ``default``, ``choices``,
    ``minimum`` (integers), ``switch`` (a flag without a value), ``flag`` (when the
    spelling is not ``--`` + name) and ``parse`` (command-line text -> value; also the
    validation)."""

    name: str
    help: str
    surfaces: frozenset[str]
    value_type: type = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    switch: bool = False
    flag: str = ""
    parse: Callable[[str], Any] | None = None

    @property
    def spelling(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def _on(*surfaces: str) -> frozenset[str]:
    return frozenset(surfaces)


OPTIONS: tuple[Option, ...] = (
    # -- where and at what dtype: the roofline, MFU and estimates ------------------------
    Option(
        "hardware",
        "device for the roofline: a catalogue name (h100-sxm, a100-80gb, t4, ...) or 'local' (calibrated here)",
        _on("profile", "estimate", "api.estimate"),
    ),
    Option(
        "dtype",
        "dtype of every tensor and of the peak: fp64, fp32, tf32, bf16, fp16, fp8, int8 (default: the parameters')",
        _on("profile", "estimate", "api.estimate"),
    ),
    Option(
        "peak_tflops",
        "dense peak TFLOPS at --dtype (overrides --hardware's)",
        _on("profile", "estimate", "api.estimate"),
        value_type=float,
        parse=_positive_float,
    ),
    Option(
        "bandwidth_gbs",
        "memory bandwidth in GB/s (overrides --hardware's)",
        _on("profile", "estimate", "api.estimate"),
        value_type=float,
        parse=_positive_float,
    ),
    # -- profile only --------------------------------------------------------------------
    Option(
        "fused",
        "roofline bytes of the fused view: weights + model inputs/outputs only",
        _on("profile"),
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
        _on("profile"),
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
    # -- estimate only -------------------------------------------------------------------
    Option(
        "samples",
        "training samples per epoch (for the training-time estimate)",
        _on("estimate", "api.estimate"),
        value_type=float,
        parse=_positive_float,
    ),
    Option(
        "epochs",
        "epochs (default 1)",
        _on("estimate", "api.estimate"),
        value_type=float,
        default=1.0,
        parse=_positive_float,
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
        parse=_fraction,
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
        parse=_int_list,
    ),
    Option(
        "measure",
        "time a training step and serving runs on this machine (MFU, QPS)",
        _on("estimate", "api.estimate"),
        value_type=bool,
        default=False,
        switch=True,
    ),
)


def _minimum(option: Option) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if option.minimum is not None and value < option.minimum:
            raise argparse.ArgumentTypeError(f"must be at least {option.minimum}, got {value}")
        return value

    return parse


def add_options(parser: argparse.ArgumentParser, surface: str) -> None:
    """Declare the options of ``surface`` (a subcommand) on ``parser``."""
    for option in OPTIONS:
        if surface not in option.surfaces:
            continue
        kwargs: dict[str, Any] = {"help": option.help, "default": option.default, "dest": option.name}
        if option.switch:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = option.parse or (_minimum(option) if option.value_type is int else option.value_type)
            if option.choices:
                kwargs["choices"] = option.choices
        parser.add_argument(option.spelling, **kwargs)


def _device(args: argparse.Namespace, dtype: str, *, fallback: str | None = None) -> Any:
    from .catalogue import custom_device, get_device

    name = getattr(args, "hardware", None)
    if name is None and (args.peak_tflops is None or args.bandwidth_gbs is None):
        name = fallback  # figures the user did not give come from the calibrated machine
    base = get_device(name) if name else None
    if args.peak_tflops is None and args.bandwidth_gbs is None:
        return base
    return custom_device(
        peak_tflops=args.peak_tflops, bandwidth_gbs=args.bandwidth_gbs, dtype=dtype or "bf16", base=base
    )


def hardware_sections(args: argparse.Namespace, result: ModelProfile) -> tuple[dict[str, Any], list[str]]:
    """For ``profile``: the JSON entries (``hardware``, ``utilisation``) and the text blocks
    that ``--hardware``/``--peak-tflops``/``--time`` ask for; nothing when none is given."""
    json_part: dict[str, Any] = {}
    text: list[str] = []
    asked = args.hardware or args.peak_tflops is not None or args.bandwidth_gbs is not None
    if args.fused and not asked:
        raise HardwareError("--fused is a roofline option: name a device with --hardware")
    if (asked or args.time_it) and getattr(args, "format", "table") == "csv":
        raise HardwareError("--hardware and --time add tables of their own: use --format table, markdown or json")
    if asked:
        from .roofline import roofline

        device = _device(args, args.dtype or default_dtype(result))
        r = roofline(result, device, args.dtype, fused=args.fused)
        json_part["hardware"] = r.to_dict()
        text.append(r.to_text(top=args.slowest))
    if args.time_it:
        text.append(_time(args, result, json_part))
    if getattr(args, "format", "table") == "markdown":
        text = [f"```text\n{block}\n```" for block in text]
    return json_part, text


def _time(args: argparse.Namespace, result: ModelProfile, json_part: dict[str, Any]) -> str:
    from ..specs import load_spec, parse_input_shape
    from ._torchrun import make_inputs
    from .timing import time_model, utilisation

    if args.device == "meta":
        raise HardwareError("--time runs the model: drop --device meta")
    loaded = load_spec(args.spec)
    if loaded.framework != "torch":
        raise HardwareError(f"--time runs PyTorch models; {args.spec!r} is a {loaded.framework} model")
    shape = parse_input_shape(args.input_shape) if args.input_shape else loaded.input_shape
    if shape is None:
        raise HardwareError(f"{loaded.name}: pass --input-shape so the model can be run")
    inputs = loaded.make_inputs(shape) if loaded.make_inputs is not None else make_inputs(loaded.model, shape)
    timing = time_model(loaded.model, inputs, training=args.training, repeats=args.repeats, name=loaded.name)
    fallback = "local-cuda" if timing.accelerator == "cuda" else "local"
    device = _device(args, args.dtype or default_dtype(result), fallback=fallback)
    used = utilisation(result, timing, device, args.dtype)
    json_part["utilisation"] = used.to_dict()
    return str(used)


def cmd_estimate(args: argparse.Namespace, out: TextIO) -> int:
    """``flopmagic estimate SPEC ...``: training time, serving QPS, memory to train."""
    from ..specs import parse_input_shape
    from .estimates import estimate

    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    result = estimate(
        args.spec,
        hardware=args.hardware,
        dtype=args.dtype,
        input_shape=shape,
        samples=args.samples,
        epochs=args.epochs,
        devices=args.devices,
        mfu=args.mfu,
        optimizer=args.optimizer,
        precision=args.precision,
        batch_sizes=args.batch_sizes or (),
        measure=args.measure,
        peak_tflops=args.peak_tflops,
        bandwidth_gbs=args.bandwidth_gbs,
        repeats=args.repeats,
    )
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(str(result) + "\n")
    return 0


def add_estimate_command(sub: Any) -> None:
    """The ``estimate`` subparser."""
    e = sub.add_parser("estimate", help="training time, serving throughput and memory to train, with formulas")
    e.add_argument("spec", help="a PyTorch model spec (torchvision:NAME, transformers:CLASS, package.module:factory)")
    e.add_argument("--input-shape", help="one batch's input shape, e.g. 32x3x224x224 (default: the spec's)")
    add_options(e, "estimate")
    e.add_argument("--format", choices=("table", "json"), default="table")
    e.set_defaults(handler=cmd_estimate)
