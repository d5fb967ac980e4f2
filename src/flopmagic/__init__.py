"""flopmagic: how much compute does this model cost?

MACs (multiply-accumulates) and FLOPs (2 per MAC, plus everything elementwise)
are separate, named quantities everywhere. ``import flopmagic`` imports no
framework and not IPython; adapters import their framework when first used.

    >>> import flopmagic
    >>> p = flopmagic.profile("torchvision:resnet50")       # doctest: +SKIP
    >>> p.totals.macs, p.under("paper").totals.macs        # doctest: +SKIP

In IPython/Jupyter: ``%load_ext flopmagic``, then ``%%profile``.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .aggregate import Row
from .api import BACKENDS, audit, compare, profile
from .claim_tables import audit_table
from .claims import audit_claims, load_claims
from .comparison import Comparison
from .conventions import Convention, conventions, get_convention
from .errors import FlopmagicError, HardwareError, OptionError, ProfilingError, SpecError
from .formulas import Cost, OpSpec, formula, price
from .hardware import estimate
from .report import Report
from .schema import SCHEMA_VERSION, LayerInfo, ModelProfile, OpRecord, TensorInfo, Totals
from .surveys import Survey, SurveyRow, survey
from .units import ParsedQuantity, QuantityParseError, format_count, parse_quantity

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "Comparison",
    "Convention",
    "Cost",
    "FlopmagicError",
    "HardwareError",
    "LayerInfo",
    "ModelProfile",
    "OpRecord",
    "OpSpec",
    "OptionError",
    "ParsedQuantity",
    "ProfilingError",
    "QuantityParseError",
    "Report",
    "Row",
    "SpecError",
    "Survey",
    "SurveyRow",
    "TensorInfo",
    "Totals",
    "__version__",
    "audit",
    "audit_claims",
    "audit_table",
    "compare",
    "conventions",
    "estimate",
    "format_count",
    "formula",
    "get_convention",
    "load_claims",
    "load_ipython_extension",
    "parse_quantity",
    "price",
    "profile",
    "survey",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext flopmagic``: register the ``%%profile`` magics (IPython imported only now)."""
    from .magic import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magic import unregister

    unregister(ipython)
