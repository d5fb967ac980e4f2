"""What the hardware options do on the command line: the roofline and ``--time`` sections
of ``profile``, and the ``estimate`` subcommand. The options themselves are declared in
:mod:`flopmagic.options`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from ..errors import HardwareError
from ..schema import ModelProfile
from .roofline import default_dtype

__all__ = ["cmd_estimate", "hardware_sections"]


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
    from .timing import adapter_for, model_inputs, time_model, utilisation

    if args.device == "meta":
        raise HardwareError("--time runs the model: drop --device meta")
    loaded = load_spec(args.spec)
    adapter_for(loaded.model, "timer", "--time")
    shape = parse_input_shape(args.input_shape) if args.input_shape else loaded.input_shape
    if shape is None:
        raise HardwareError(f"{loaded.name}: pass --input-shape so the model can be run")
    inputs = (
        loaded.make_inputs(shape) if loaded.make_inputs is not None else model_inputs(loaded.model, shape, "--time")
    )
    timing = time_model(loaded.model, inputs, training=args.training, repeats=args.repeats, name=loaded.name)
    fallback = "local-cuda" if timing.accelerator == "cuda" else "local"
    device = _device(args, args.dtype or default_dtype(result), fallback=fallback)
    used = utilisation(result, timing, device, args.dtype)
    json_part["utilisation"] = used.to_dict()
    return str(used)


def cmd_estimate(args: argparse.Namespace, out: TextIO) -> int:
    """``flopmagic estimate SPEC ...``: training time, serving QPS, memory to train."""
    from .. import options
    from .estimates import estimate

    given = options.values(args, "estimate")  # parsed and checked, as the API takes them
    fmt = given.pop("format")
    result = estimate(args.spec, **{k: v for k, v in given.items() if v is not None})
    if fmt == "json":
        json.dump(result.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(str(result) + "\n")
    return 0
