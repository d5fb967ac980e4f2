"""The ``local`` device: this machine's peaks, measured once and cached.

Two micro-benchmarks, with PyTorch when it is installed (the library the models run
in), else NumPy:

- square FP32 GEMMs of sides n/4, n/2 and n: ``2 n^3`` FLOPs (n^3 MACs) per run, best of
  ``repeats`` runs after a warm-up; the highest rate is the FP32 peak. On a CPU without
  matrix units the GEMM runs on the SIMD units, so the same figure is the vector peak.
- a streaming copy of an array larger than the caches: ``2 x nbytes`` moved per run
  (read + write), best of ``repeats``; its rate is the memory bandwidth.

These are *attainable* peaks (what a tuned BLAS reaches), not the datasheet's
theoretical ones, so an MFU against ``local`` reads higher than one against a
catalogue entry for the same chip. The result is cached in the user's cache directory
(``$FLOPMAGIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/flopmagic``, else
``~/.cache/flopmagic``) under a key naming the calibration version, the library and
its version, the machine, the thread count and the sizes, so a change of any of
them measures again.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HardwareError
from .catalogue import Device

__all__ = ["CALIBRATION_VERSION", "Calibration", "cache_dir", "calibrate", "local_device"]

CALIBRATION_VERSION = 2

# GEMM sides tried: the best rate over them is the peak (small ones fit in cache, large ones
# amortise threading); the rate a tuned BLAS reaches, not the datasheet's.
_FULL = {"gemm_n": 2048, "copy_mib": 128, "repeats": 5}
_QUICK = {"gemm_n": 512, "copy_mib": 16, "repeats": 5}
_CUDA = {"gemm_n": 8192, "copy_mib": 1024, "repeats": 10}  # big enough to hide launch latency


def _sides(largest: int) -> tuple[int, ...]:
    return (largest // 4, largest // 2, largest)


@dataclass(frozen=True)
class Calibration:
    """What the micro-benchmarks measured on this machine."""

    gemm_flops: float  # FP32 FLOP/s of the GEMM
    copy_bandwidth: float  # bytes/s of the streaming copy (read + write)
    library: str  # "torch 2.x" or "numpy 1.x"
    accelerator: str  # "cpu" or "cuda"
    gemm_n: int
    copy_bytes: int
    repeats: int
    key: str
    extra_flops: dict[str, float]  # other dtypes measured (CUDA: bf16, fp16)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gemm_flops": self.gemm_flops,
            "copy_bandwidth": self.copy_bandwidth,
            "library": self.library,
            "accelerator": self.accelerator,
            "gemm_n": self.gemm_n,
            "copy_bytes": self.copy_bytes,
            "repeats": self.repeats,
            "key": self.key,
            "extra_flops": dict(self.extra_flops),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            gemm_flops=float(data["gemm_flops"]),
            copy_bandwidth=float(data["copy_bandwidth"]),
            library=str(data["library"]),
            accelerator=str(data["accelerator"]),
            gemm_n=int(data["gemm_n"]),
            copy_bytes=int(data["copy_bytes"]),
            repeats=int(data["repeats"]),
            key=str(data["key"]),
            extra_flops={str(k): float(v) for k, v in data.get("extra_flops", {}).items()},
        )


def cache_dir() -> Path:
    """Where calibrations are cached (see the module docstring)."""
    explicit = os.environ.get("FLOPMAGIC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "flopmagic"


def _best(run: Callable[[], None], repeats: int, sync: Callable[[], None]) -> float:
    run()  # warm-up: allocation, thread pool start, kernel selection
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def _library(accelerator: str) -> tuple[str, Any]:
    try:
        import torch

        if accelerator == "cuda" and not torch.cuda.is_available():
            raise HardwareError("local-cuda: no CUDA device is available to calibrate")
        return f"torch {torch.__version__.split('+')[0]}", torch
    except ImportError:
        if accelerator == "cuda":
            raise HardwareError("local-cuda needs PyTorch with CUDA") from None
        try:
            import numpy
        except ImportError:
            raise HardwareError("calibrating the local device needs PyTorch or NumPy") from None
        return f"numpy {numpy.__version__}", numpy


def _key(library: str, accelerator: str, sizes: dict[str, int]) -> str:
    threads = os.cpu_count() or 0
    if library.startswith("torch"):
        import torch

        threads = torch.get_num_threads()
        if accelerator == "cuda":
            return f"v{CALIBRATION_VERSION}|{library}|cuda|{torch.cuda.get_device_name()}|{sizes}"
    machine = f"{platform.machine()}|{platform.processor() or platform.system()}|{os.cpu_count()}"
    return f"v{CALIBRATION_VERSION}|{library}|{accelerator}|{machine}|threads={threads}|{sizes}"


def _measure(accelerator: str, sizes: dict[str, int]) -> Calibration:
    library, lib = _library(accelerator)
    n, repeats = sizes["gemm_n"], sizes["repeats"]
    copy_elements = sizes["copy_mib"] * 2**20 // 4
    extra: dict[str, float] = {}
    if library.startswith("torch"):
        torch = lib
        device = torch.device(accelerator)
        sync: Callable[[], None] = torch.cuda.synchronize if accelerator == "cuda" else (lambda: None)
        gemm_flops = 0.0
        with torch.no_grad():
            for side in _sides(n):
                a = torch.randn(side, side, device=device)
                b = torch.randn(side, side, device=device)
                out = torch.empty(side, side, device=device)

                def gemm(x: Any = a, y: Any = b, z: Any = out) -> None:
                    torch.mm(x, y, out=z)

                gemm_flops = max(gemm_flops, 2.0 * side**3 / _best(gemm, repeats, sync))
            if accelerator == "cuda":
                for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
                    half_a, half_b = a.to(dtype), b.to(dtype)
                    half_out = torch.empty(n, n, device=device, dtype=dtype)

                    def half_gemm(x: Any = half_a, y: Any = half_b, z: Any = half_out) -> None:
                        torch.mm(x, y, out=z)

                    extra[name] = 2.0 * n**3 / _best(half_gemm, repeats, sync)
            src = torch.randn(copy_elements, device=device)
            dst = torch.empty_like(src)
            copy = _best(lambda: dst.copy_(src), repeats, sync)
        nbytes = copy_elements * 4
    else:
        numpy = lib
        rng = numpy.random.default_rng(0)
        gemm_flops = 0.0
        for side in _sides(n):
            a = rng.standard_normal((side, side), dtype=numpy.float32)
            b = rng.standard_normal((side, side), dtype=numpy.float32)
            out = numpy.empty((side, side), dtype=numpy.float32)

            def np_gemm(x: Any = a, y: Any = b, z: Any = out) -> None:
                numpy.matmul(x, y, out=z)

            gemm_flops = max(gemm_flops, 2.0 * side**3 / _best(np_gemm, repeats, lambda: None))
        src = rng.standard_normal(copy_elements, dtype=numpy.float32)
        dst = numpy.empty_like(src)
        copy = _best(lambda: numpy.copyto(dst, src), repeats, lambda: None)
        nbytes = int(src.nbytes)
    return Calibration(
        gemm_flops=gemm_flops,
        copy_bandwidth=2.0 * nbytes / copy,
        library=library,
        accelerator=accelerator,
        gemm_n=n,
        copy_bytes=nbytes,
        repeats=repeats,
        key=_key(library, accelerator, sizes),
        extra_flops=extra,
    )


def calibrate(*, accelerator: str = "cpu", quick: bool = False, refresh: bool = False) -> Calibration:
    """Measure (or read from the cache) this machine's GEMM rate and copy bandwidth.

    ``quick``: small sizes (GEMMs up to 512 wide, a 16 MiB copy), for tests; cached under
    its own key. ``refresh``: measure even if cached."""
    if accelerator not in ("cpu", "cuda"):
        raise HardwareError(f"cannot calibrate {accelerator!r}: use 'cpu' or 'cuda'")
    sizes = dict(_QUICK if quick else _FULL)
    if accelerator == "cuda" and not quick:
        sizes = dict(_CUDA)
    library, _ = _library(accelerator)
    key = _key(library, accelerator, sizes)
    path = cache_dir() / "calibration.json"
    cached: dict[str, Any] = {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            cached = loaded
    except (OSError, ValueError):
        cached = {}
    if not refresh and key in cached:
        try:
            return Calibration.from_dict(cached[key])
        except (KeyError, TypeError, ValueError):
            pass  # a damaged entry: measure again
    result = _measure(accelerator, sizes)
    cached[key] = result.to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the measurement is still returned, just not kept
    return result


def local_device(*, accelerator: str = "cpu", quick: bool = False, refresh: bool = False) -> Device:
    """This machine as a :class:`Device` (``local``, or ``local-cuda`` for the current GPU).

    Peaks are measured FP32 (and on CUDA BF16/FP16) GEMM rates; on a CPU the vector
    peak is the same figure (the GEMM runs on the SIMD units). Memory capacity is the
    physical memory (CPU) or the GPU's total memory."""
    cal = calibrate(accelerator=accelerator, quick=quick, refresh=refresh)
    peaks = {"fp32": cal.gemm_flops, **cal.extra_flops}
    memory = _memory_bytes(accelerator)
    source = (
        f"calibrated on this machine with {cal.library}: FP32 GEMMs up to {cal.gemm_n}x{cal.gemm_n} "
        f"({cal.gemm_flops / 1e9:.1f} GFLOP/s), streaming copy of {cal.copy_bytes / 2**20:.0f} MiB "
        f"({cal.copy_bandwidth / 1e9:.1f} GB/s), best of {cal.repeats}"
    )
    if accelerator == "cuda":
        import torch

        vector = {"fp32": cal.gemm_flops}  # unknown without a vector benchmark: FP32 GEMM runs on CUDA cores
        return Device(
            name="local-cuda",
            peak_flops=peaks,
            sparse_peak_flops={},
            vector_peak_flops=vector,
            bandwidth=cal.copy_bandwidth,
            memory_bytes=memory,
            source=source,
            title=f"this machine's GPU ({torch.cuda.get_device_name()})",
            kind="gpu",
        )
    return Device(
        name="local",
        peak_flops=peaks,
        sparse_peak_flops={},
        vector_peak_flops=dict(peaks),
        bandwidth=cal.copy_bandwidth,
        memory_bytes=memory,
        source=source,
        title=f"this machine ({platform.machine()}, {os.cpu_count()} CPUs)",
        kind="cpu",
    )


def _memory_bytes(accelerator: str) -> int:
    if accelerator == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0
