"""The device catalogue: peak FLOP/s per dtype, memory bandwidth and capacity, with sources.

Entries live in ``devices.yaml`` next to this module (read with ``yaml.safe_load``),
each with the vendor's datasheet named. ``local`` is this machine, calibrated with
a GEMM and a streaming copy (:mod:`flopmagic.hardware.calibrate`); :func:`custom_device`
builds one from figures the user gives (``--peak-tflops``, ``--bandwidth-gbs``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..errors import HardwareError

__all__ = [
    "DTYPES",
    "DTYPE_BYTES",
    "Device",
    "bytes_per_element",
    "custom_device",
    "devices",
    "get_device",
    "normalize_dtype",
]

# dtype key -> bytes per element. TF32 is stored as FP32 (it is a matmul mode, not a storage type).
DTYPE_BYTES: Mapping[str, int] = {
    "fp64": 8,
    "fp32": 4,
    "tf32": 4,
    "bf16": 2,
    "fp16": 2,
    "fp8": 1,
    "int8": 1,
}
DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)

# spellings people (and frameworks) use -> the catalogue's key
_ALIASES: Mapping[str, str] = {
    "float64": "fp64",
    "double": "fp64",
    "float32": "fp32",
    "float": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
    "e4m3": "fp8",
    "qint8": "int8",
    "uint8": "int8",
}

# where a dtype has no vector (non-tensor) figure: the dtype whose vector peak stands in for it
_VECTOR_FALLBACK: Mapping[str, tuple[str, ...]] = {
    "tf32": ("fp32",),  # TF32 is a matmul mode: elementwise work runs in FP32
    "fp8": ("bf16", "fp16", "fp32"),  # FP8 models do elementwise work in 16-bit
    "int8": ("int8", "fp16", "bf16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "fp32": ("fp32",),
    "fp64": ("fp64",),
}


def normalize_dtype(dtype: str) -> str:
    """``"bfloat16"``, ``"torch.bfloat16"``, ``"BF16"`` -> ``"bf16"``; unknown names raise HardwareError."""
    key = str(dtype).strip().lower().replace("torch.", "")
    key = _ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        raise HardwareError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    return key


def bytes_per_element(dtype: str) -> int:
    """Bytes one element of ``dtype`` takes (``"bf16"`` -> 2)."""
    return DTYPE_BYTES[normalize_dtype(dtype)]


@dataclass(frozen=True)
class Device:
    """One device's peaks. FLOP/s and bytes/s are plain SI units (not TFLOPS, not GB/s).

    ``peak_flops``: dense matrix-unit peak per dtype key (``"bf16"`` -> 989.4e12 on an
    H100 SXM). ``sparse_peak_flops``: the 2:4-sparsity figures, never used for time or
    MFU. ``vector_peak_flops``: the non-tensor-core (CUDA-core / SIMD) peak, where
    elementwise work runs. ``bandwidth``: device-memory bytes per second.
    ``memory_bytes``: capacity. ``source``: where the figures come from.
    """

    name: str
    peak_flops: Mapping[str, float]
    sparse_peak_flops: Mapping[str, float]
    vector_peak_flops: Mapping[str, float]
    bandwidth: float
    memory_bytes: int
    source: str
    title: str = ""
    kind: str = "gpu"
    derived: str = ""
    notes: tuple[str, ...] = field(default=())

    def matrix_peak(self, dtype: str) -> float:
        """Dense matrix peak FLOP/s at ``dtype``; HardwareError naming the dtypes the device has."""
        key = normalize_dtype(dtype)
        peak = self.peak_flops.get(key)
        if peak is None or peak <= 0:
            raise HardwareError(
                f"device {self.name!r} has no {key} peak; it has: {', '.join(sorted(self.peak_flops)) or 'none'}"
            )
        return float(peak)

    def vector_peak(self, dtype: str) -> tuple[float, str]:
        """(vector peak FLOP/s, the dtype whose figure it is) for elementwise work at ``dtype``.

        A dtype without a vector figure borrows one (TF32 -> FP32, FP8 -> BF16 ...);
        with none at all the matrix peak stands in (a CPU without matrix units)."""
        key = normalize_dtype(dtype)
        for candidate in _VECTOR_FALLBACK.get(key, (key,)):
            peak = self.vector_peak_flops.get(candidate)
            if peak:
                return float(peak), candidate
        return self.matrix_peak(key), key

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "peak_flops": dict(self.peak_flops),
            "sparse_peak_flops": dict(self.sparse_peak_flops),
            "vector_peak_flops": dict(self.vector_peak_flops),
            "bandwidth": self.bandwidth,
            "memory_bytes": self.memory_bytes,
            "source": self.source,
            "derived": self.derived,
        }


def _tera(values: Mapping[str, Any] | None, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (values or {}).items():
        dtype = normalize_dtype(str(key))
        if not isinstance(value, (int, float)) or value <= 0:
            raise HardwareError(f"{where}: {key} must be a positive number of TFLOPS, got {value!r}")
        out[dtype] = float(round(float(value) * 1e12))
    return out


def _device_from_entry(name: str, entry: Mapping[str, Any]) -> Device:
    where = f"devices.yaml entry {name!r}"
    for required in ("peak_tflops", "bandwidth_gbs", "memory_gib", "source"):
        if required not in entry:
            raise HardwareError(f"{where} has no {required!r}")
    return Device(
        name=name,
        peak_flops=MappingProxyType(_tera(entry["peak_tflops"], where)),  # read-only: entries are cached
        sparse_peak_flops=MappingProxyType(_tera(entry.get("sparse_tflops"), where)),
        vector_peak_flops=MappingProxyType(_tera(entry.get("vector_tflops"), where)),
        bandwidth=float(entry["bandwidth_gbs"]) * 1e9,
        memory_bytes=int(float(entry["memory_gib"]) * 2**30),
        source=" ".join(str(entry["source"]).split()),
        title=str(entry.get("title", name)),
        kind=str(entry.get("kind", "gpu")),
        derived=" ".join(str(entry.get("derived", "")).split()),
    )


@functools.lru_cache(maxsize=1)
def _catalogue() -> dict[str, Device]:
    import yaml

    text = resources.files("flopmagic.hardware").joinpath("devices.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("devices"), dict):
        raise HardwareError("devices.yaml has no 'devices' mapping")
    return {str(name): _device_from_entry(str(name), entry) for name, entry in data["devices"].items()}


# devices measured rather than catalogued, by name -> a function that makes one when asked
# (``local`` and ``local-cuda``: flopmagic.hardware.calibrate registers them)
_PROVIDERS: dict[str, Callable[[], Device]] = {}


def register_device_provider(name: str, provide: Callable[[], Device]) -> None:
    """Add a device that is made when asked for (measured, not read from the catalogue)."""
    _PROVIDERS[name] = provide


def devices() -> tuple[str, ...]:
    """The catalogue's device names, plus the provided ones: ``local`` (this machine's CPU,
    calibrated when asked for) and ``local-cuda`` (its current GPU)."""
    return (*_catalogue(), *_PROVIDERS)


def get_device(name: str) -> Device:
    """A device by its kebab-case name (``"h100-sxm"``); ``"local"`` calibrates this machine
    (cached). Raises HardwareError naming the known devices."""
    key = str(name).strip().lower().replace("_", "-")
    provide = _PROVIDERS.get(key)
    if provide is not None:
        return provide()
    found = _catalogue().get(key)
    if found is None:
        raise HardwareError(f"unknown device {name!r}; known devices: {', '.join(devices())}")
    return found


def custom_device(
    *,
    peak_tflops: float | None = None,
    bandwidth_gbs: float | None = None,
    dtype: str = "bf16",
    base: Device | None = None,
    memory_gib: float | None = None,
) -> Device:
    """A device from the user's figures: ``peak_tflops`` (dense, at ``dtype``; also used as
    the vector peak unless ``base`` has one), ``bandwidth_gbs``, optionally on top of a
    catalogue device ``base`` whose other figures are kept."""
    key = normalize_dtype(dtype)
    if peak_tflops is not None and not peak_tflops > 0:
        raise HardwareError(f"--peak-tflops must be positive, got {peak_tflops}")
    if bandwidth_gbs is not None and not bandwidth_gbs > 0:
        raise HardwareError(f"--bandwidth-gbs must be positive, got {bandwidth_gbs}")
    if base is None:
        if peak_tflops is None or bandwidth_gbs is None:
            raise HardwareError("without --hardware, give both --peak-tflops and --bandwidth-gbs")
        peak = peak_tflops * 1e12
        return Device(
            name="custom",
            peak_flops={key: peak},
            sparse_peak_flops={},
            vector_peak_flops={key: peak},
            bandwidth=bandwidth_gbs * 1e9,
            memory_bytes=int((memory_gib or 0) * 2**30),
            source=f"user-given: {peak_tflops} TFLOPS dense {key}, {bandwidth_gbs} GB/s",
            title="user-given peaks",
            kind="custom",
        )
    changes: dict[str, Any] = {}
    told = []
    if peak_tflops is not None:
        changes["peak_flops"] = {**base.peak_flops, key: peak_tflops * 1e12}
        told.append(f"{peak_tflops} TFLOPS dense {key}")
    if bandwidth_gbs is not None:
        changes["bandwidth"] = bandwidth_gbs * 1e9
        told.append(f"{bandwidth_gbs} GB/s")
    if memory_gib is not None:
        changes["memory_bytes"] = int(memory_gib * 2**30)
    if not changes:
        return base
    return replace(base, name=f"{base.name}+user", source=f"{base.source}; user-given: {', '.join(told)}", **changes)
