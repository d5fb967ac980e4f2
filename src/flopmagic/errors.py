"""Errors flopmagic raises. Each message names the problem and the fix."""

from __future__ import annotations

__all__ = ["FlopmagicError", "HardwareError", "OptionError", "ProfilingError", "SpecError"]


class FlopmagicError(Exception):
    """Base class of every error flopmagic raises on purpose."""


class ProfilingError(FlopmagicError):
    """The model could not be run or read; the user's model is left unchanged."""


class OptionError(ProfilingError, ValueError):
    """An option has a value flopmagic does not accept; the message names the option and
    the values it accepts. (A ProfilingError too: the run cannot start.)"""


class SpecError(FlopmagicError):
    """A model spec (``torchvision:resnet50``, a path, ``pkg.mod:factory``) cannot be resolved."""


class HardwareError(FlopmagicError):
    """A device, dtype or hardware figure is unknown or unusable (names the known ones)."""
