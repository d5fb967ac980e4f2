"""Check flopmagic's hardware path on a CUDA GPU and print the numbers.

    python bench/gpu_check.py                 # all cases, a few minutes on one GPU
    python bench/gpu_check.py --quick         # fewer repeats, smaller models
    python bench/gpu_check.py --json out.json # also write the numbers as JSON

What it does: calibrates ``local-cuda`` (bf16/fp16/fp32 GEMM rates and a device-to-device
copy) and sets it beside the catalogue entry for this GPU; then, for a few models in bf16,
counts FLOPs, places them on the catalogue device's roofline, times them (warm-up,
repeats, ``torch.cuda.synchronize``) and prints predicted vs measured latency and MFU
(counted FLOPs / (latency x dense bf16 peak)), per model and for the slowest top-level
modules; a ResNet-50 training step too. It checks that timing leaves the model as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def catalogue_name(gpu: str) -> str:
    """The catalogue entry for a CUDA device name (``NVIDIA H100 80GB HBM3`` -> ``h100-sxm``)."""
    g = gpu.lower()
    for key, name in (
        ("h200", "h200"),
        ("h100 pcie", "h100-pcie"),
        ("h100", "h100-sxm"),
        ("a100-sxm4-40gb", "a100-40gb"),
        ("a100", "a100-80gb"),
        ("l4", "l4"),
        ("t4", "t4"),
        ("v100", "v100"),
        ("4090", "rtx-4090"),
    ):
        if key in g:
            return name
    return "local-cuda"


def cases(quick: bool) -> list[tuple[str, Any, Any, bool]]:
    """(label, model factory, inputs factory, training)."""
    import torch
    import torchvision

    bf16 = torch.bfloat16
    dev = "cuda"
    n = 4096 if quick else 8192
    out: list[tuple[str, Any, Any, bool]] = [
        (
            f"Linear({n}, {n}) x batch {n}",
            lambda: torch.nn.Linear(n, n),
            lambda: torch.randn(n, n, device=dev, dtype=bf16),
            False,
        ),
        (
            "resnet50 batch 1",
            torchvision.models.resnet50,
            lambda: torch.randn(1, 3, 224, 224, device=dev, dtype=bf16),
            False,
        ),
        (
            "resnet50 batch 64",
            torchvision.models.resnet50,
            lambda: torch.randn(64, 3, 224, 224, device=dev, dtype=bf16),
            False,
        ),
        (
            "resnet50 training step batch 32",
            torchvision.models.resnet50,
            lambda: torch.randn(32, 3, 224, 224, device=dev, dtype=bf16),
            True,
        ),
    ]
    try:
        import transformers

        def gpt2() -> Any:
            config = transformers.GPT2Config()
            return transformers.GPT2LMHeadModel(config)

        batch = 2 if quick else 8
        out.append(
            (
                f"GPT-2 124M {batch}x1024 tokens",
                gpt2,
                lambda: {"input_ids": torch.zeros(batch, 1024, dtype=torch.long, device=dev)},
                False,
            )
        )
    except ImportError:
        print("transformers not installed: GPT-2 case skipped")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the numbers to this file")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    import torch

    import flopmagic
    from flopmagic.hardware import get_device, roofline
    from flopmagic.hardware.calibrate import local_device
    from flopmagic.hardware.timing import time_model, utilisation

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    gpu = torch.cuda.get_device_name()
    name = catalogue_name(gpu)
    device = get_device(name)
    print(f"GPU: {gpu}; catalogue entry: {name}; torch {torch.__version__}; flopmagic {flopmagic.__version__}")
    results: dict[str, Any] = {"gpu": gpu, "catalogue": name, "cases": []}

    start = time.perf_counter()
    local = local_device(accelerator="cuda", refresh=True)
    print(f"calibration ({time.perf_counter() - start:.1f} s): {local.source}")
    for dtype in ("bf16", "fp16", "fp32"):
        measured = local.peak_flops.get(dtype)
        listed = device.peak_flops.get(dtype)
        if measured:
            ratio = f" = {measured / listed:.2f} of the datasheet's {listed / 1e12:.1f}" if listed else ""
            print(f"  {dtype} GEMM {measured / 1e12:8.1f} TFLOP/s{ratio}")
    print(
        f"  copy {local.bandwidth / 1e9:8.1f} GB/s = {local.bandwidth / device.bandwidth:.2f} of the datasheet's "
        f"{device.bandwidth / 1e9:.0f}"
    )
    results["calibration"] = local.to_dict()

    failures = 0
    for label, build, make_inputs, training in cases(args.quick):
        model = build().to("cuda", torch.bfloat16)
        inputs = make_inputs()
        try:
            t0 = time.perf_counter()
            profile = flopmagic.profile(model, inputs, training=training, name=label)
            counted = time.perf_counter() - t0
            r = roofline(profile, device, "bf16")
            hooks_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
            mode_before = model.training
            timing = time_model(model, inputs, training=training, repeats=args.repeats, warmup=3)
            assert timing.accelerator == "cuda"
            hooks_after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
            assert hooks_after == hooks_before and model.training == mode_before, "timing changed the model"
            used = utilisation(profile, timing, device, "bf16")
            used_local = utilisation(profile, timing, local, "bf16")
            ratio = timing.latency_s / r.time_s
            print(
                f"\n{label}: {profile.flops / 1e9:.1f} GFLOPs counted in {counted:.1f} s; roofline {r.time_s * 1e3:.3f} ms "
                f"({r.bound}-bound: compute {r.compute_s * 1e3:.3f} ms, memory {r.memory_s * 1e3:.3f} ms); "
                f"measured {timing.latency_s * 1e3:.3f} ms (median of {timing.repeats}); measured/predicted {ratio:.2f}; "
                f"{used.achieved_flops / 1e12:.1f} TFLOP/s; MFU {100 * used.mfu:.1f}% of {name} dense bf16, "
                f"{100 * used_local.mfu:.1f}% of the calibrated GEMM"
            )
            for layer in sorted(used.layers, key=lambda x: -x.seconds)[:4]:
                print(f"    {layer.scope:<14} {layer.seconds * 1e3:8.3f} ms  MFU {100 * layer.mfu:5.1f}%")
            results["cases"].append(
                {
                    "label": label,
                    "flops": profile.flops,
                    "roofline": r.to_dict(layers=False),
                    "utilisation": used.to_dict(),
                    "mfu_local": used_local.mfu,
                    "measured_over_predicted": ratio,
                }
            )
            if not 0 < used.mfu <= 1:
                print(f"    !! MFU {used.mfu} outside (0, 1]")
                failures += 1
        except Exception as error:  # report and go on: one broken case should not hide the others
            failures += 1
            print(f"\n{label}: FAILED: {type(error).__name__}: {error}")
        finally:
            del model
            torch.cuda.empty_cache()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    print(f"\n{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
