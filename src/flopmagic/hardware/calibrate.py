"""The ``local`` device: this machine's peaks, measured once and cached.

Two micro-benchmarks, run by the first registered framework adapter that declares a
``calibrator`` and is installed (PyTorch's, in its adapter: the library the models run
in), else on the CPU with NumPy:

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

from ..adapters import CalibrationTarget, Calibrator, MeasuredRates
from ..errors import HardwareError
from .catalogue import Device, register_device_provider

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


def _best(run: Callable[[], None], repeats: int) -> float:
    run()  # warm-up: allocation, thread pool start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def _calibrator(accelerator: str) -> tuple[Calibrator | None, CalibrationTarget]:
    """The calibrator that measures ``accelerator`` here and what it would measure; (None,
    NumPy's target) when no installed framework calibrates the CPU."""
    from .. import adapters

    able = [a for a in adapters.adapters() if a.calibrator is not None and accelerator in a.calibrator.accelerators]
    for adapter in able:
        assert adapter.calibrator is not None
        target = adapter.calibrator.target(accelerator)
        if target is not None:
            return adapter.calibrator, target
    if accelerator != "cpu":
        titles = ", ".join(a.title for a in able) or "a framework whose adapter declares a calibrator"
        raise HardwareError(f"local-{accelerator} needs {titles} with {accelerator.upper()} installed")
    try:
        import numpy
    except ImportError:
        raise HardwareError("calibrating the local device needs PyTorch or NumPy") from None
    return None, CalibrationTarget(f"numpy {numpy.__version__}", os.cpu_count() or 0)


def _key(target: CalibrationTarget, accelerator: str, sizes: dict[str, int]) -> str:
    if target.device_name:
        return f"v{CALIBRATION_VERSION}|{target.library}|{accelerator}|{target.device_name}|{sizes}"
    machine = f"{platform.machine()}|{platform.processor() or platform.system()}|{os.cpu_count()}"
    return f"v{CALIBRATION_VERSION}|{target.library}|{accelerator}|{machine}|threads={target.threads}|{sizes}"


def _numpy_rates(sides: tuple[int, ...], copy_elements: int, repeats: int) -> MeasuredRates:
    import numpy

    rng = numpy.random.default_rng(0)
    gemm_flops = 0.0
    for side in sides:
        a = rng.standard_normal((side, side), dtype=numpy.float32)
        b = rng.standard_normal((side, side), dtype=numpy.float32)
        out = numpy.empty((side, side), dtype=numpy.float32)

        def np_gemm(x: Any = a, y: Any = b, z: Any = out) -> None:
            numpy.matmul(x, y, out=z)

        gemm_flops = max(gemm_flops, 2.0 * side**3 / _best(np_gemm, repeats))
    src = rng.standard_normal(copy_elements, dtype=numpy.float32)
    dst = numpy.empty_like(src)
    copy = _best(lambda: numpy.copyto(dst, src), repeats)
    nbytes = int(src.nbytes)
    return MeasuredRates(gemm_flops=gemm_flops, copy_bandwidth=2.0 * nbytes / copy, copy_bytes=nbytes)


def _measure(
    calibrator: Calibrator | None, target: CalibrationTarget, accelerator: str, sizes: dict[str, int]
) -> Calibration:
    n, repeats = sizes["gemm_n"], sizes["repeats"]
    copy_elements = sizes["copy_mib"] * 2**20 // 4
    if calibrator is None:
        rates = _numpy_rates(_sides(n), copy_elements, repeats)
    else:
        rates = calibrator.measure(accelerator, _sides(n), copy_elements, repeats)
    return Calibration(
        gemm_flops=rates.gemm_flops,
        copy_bandwidth=rates.copy_bandwidth,
        library=target.library,
        accelerator=accelerator,
        gemm_n=n,
        copy_bytes=rates.copy_bytes,
        repeats=repeats,
        key=_key(target, accelerator, sizes),
        extra_flops=dict(rates.extra_flops),
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
    calibrator, target = _calibrator(accelerator)
    key = _key(target, accelerator, sizes)
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
    result = _measure(calibrator, target, accelerator, sizes)
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
    target = _calibrator(accelerator)[1]
    source = (
        f"calibrated on this machine with {cal.library}: FP32 GEMMs up to {cal.gemm_n}x{cal.gemm_n} "
        f"({cal.gemm_flops / 1e9:.1f} GFLOP/s), streaming copy of {cal.copy_bytes / 2**20:.0f} MiB "
        f"({cal.copy_bandwidth / 1e9:.1f} GB/s), best of {cal.repeats}"
    )
    if accelerator == "cuda":
        vector = {"fp32": cal.gemm_flops}  # unknown without a vector benchmark: FP32 GEMM runs on CUDA cores
        return Device(
            name="local-cuda",
            peak_flops=peaks,
            sparse_peak_flops={},
            vector_peak_flops=vector,
            bandwidth=cal.copy_bandwidth,
            memory_bytes=target.memory_bytes,
            source=source,
            title=f"this machine's GPU ({target.device_name})",
            kind="gpu",
        )
    return Device(
        name="local",
        peak_flops=peaks,
        sparse_peak_flops={},
        vector_peak_flops=dict(peaks),
        bandwidth=cal.copy_bandwidth,
        memory_bytes=_host_memory_bytes(),
        source=source,
        title=f"this machine ({platform.machine()}, {os.cpu_count()} CPUs)",
        kind="cpu",
    )


def _host_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


register_device_provider("local", lambda: local_device(accelerator="cpu"))
register_device_provider("local-cuda", lambda: local_device(accelerator="cuda"))
