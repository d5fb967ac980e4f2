"""Named counting conventions; importing this package registers the built-in ones."""

from __future__ import annotations

from . import presets  # noqa: F401  (registers the built-in conventions)
from ._base import (
    Convention,
    UnknownConventionError,
    conventions,
    get_convention,
    register_convention,
    reprice,
)

DEFAULT_CONVENTION = "flopmagic"

__all__ = [
    "DEFAULT_CONVENTION",
    "Convention",
    "UnknownConventionError",
    "conventions",
    "get_convention",
    "register_convention",
    "reprice",
]
