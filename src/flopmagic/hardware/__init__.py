"""From FLOPs to time, memory and money: bytes, a device catalogue, the roofline,
measured utilisation and estimates. Framework-free at import (PyTorch is imported by
the functions that run a model: :func:`time_model`, :func:`estimate` with a model).

    >>> from flopmagic.hardware import get_device, roofline      # doctest: +SKIP
    >>> r = roofline(profile, "h100-sxm", "bf16")                 # doctest: +SKIP
    >>> r.time_s, r.bound, r.slowest(5)                           # doctest: +SKIP
"""

from __future__ import annotations

from .calibrate import Calibration, calibrate, local_device
from .catalogue import DTYPE_BYTES, DTYPES, Device, bytes_per_element, custom_device, devices, get_device
from .estimates import OPTIMIZERS, PRECISIONS, STATE_BYTES, Estimate, Estimates, estimate
from .roofline import LayerTime, OpTime, Roofline, roofline
from .timing import LayerUtilisation, Timing, Utilisation, time_model, utilisation
from .traffic import ASSUMPTION, FUSED_ASSUMPTION, OpBytes, op_bytes

__all__ = [
    "ASSUMPTION",
    "DTYPES",
    "DTYPE_BYTES",
    "FUSED_ASSUMPTION",
    "OPTIMIZERS",
    "PRECISIONS",
    "STATE_BYTES",
    "Calibration",
    "Device",
    "Estimate",
    "Estimates",
    "LayerTime",
    "LayerUtilisation",
    "OpBytes",
    "OpTime",
    "Roofline",
    "Timing",
    "Utilisation",
    "bytes_per_element",
    "calibrate",
    "custom_device",
    "devices",
    "estimate",
    "get_device",
    "local_device",
    "op_bytes",
    "roofline",
    "time_model",
    "utilisation",
]
