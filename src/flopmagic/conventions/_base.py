"""Conventions: named counting policies applied to op records.

A convention decides, for each recorded op, what it costs: the default
``flopmagic`` convention prices everything with the formula library; presets
reproduce what another tool reports on the same model (fvcore, thop, ptflops,
``FlopCounterMode``, TensorFlow's profiler, papers), so a user can reconcile
numbers. Because records keep their canonical spec, re-expressing a profile
under another convention needs no re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from ..errors import OptionError
from ..formulas import Cost, price

if TYPE_CHECKING:
    from ..schema import ModelProfile, OpRecord

__all__ = [
    "Convention",
    "UnknownConventionError",
    "conventions",
    "get_convention",
    "register_convention",
    "reprice",
]

Rule = Callable[["OpRecord"], Cost]


@dataclass(frozen=True, slots=True)
class Convention:
    """A counting policy.

    ``reports`` is the quantity the reproduced tool prints (``"macs"`` or
    ``"flops"``) and ``label`` the word it prints it under (fvcore prints MACs
    as "flops"). ``rule`` prices one record; a rule that returns ``Cost()``
    leaves the op out. Under a MAC-reporting preset, ``flops`` is 2 x the
    tool's number; under a FLOP-reporting one, ``macs`` are the contraction MACs
    it counted.
    """

    name: str
    title: str
    reports: Literal["macs", "flops"]
    label: str
    description: str
    source: str
    rule: Rule

    def price(self, record: OpRecord) -> Cost:
        return self.rule(record).times(record.count)


_CONVENTIONS: dict[str, Convention] = {}


class UnknownConventionError(OptionError, KeyError):
    """A convention name that is not registered (a KeyError too, as it always was)."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_convention(convention: Convention) -> Convention:
    if convention.name in _CONVENTIONS:
        raise ValueError(f"duplicate convention {convention.name!r}")
    _CONVENTIONS[convention.name] = convention
    return convention


def get_convention(name: str) -> Convention:
    try:
        return _CONVENTIONS[name]
    except KeyError:
        known = ", ".join(_CONVENTIONS)
        raise UnknownConventionError(f"unknown convention {name!r}; choose one of: {known}") from None


def conventions() -> Iterator[Convention]:
    return iter(tuple(_CONVENTIONS.values()))


def canonical(record: OpRecord) -> Cost:
    """The formula library's price for a record's spec."""
    return price(record.spec)


def reprice(profile: ModelProfile, name: str) -> ModelProfile:
    """Re-express ``profile`` under convention ``name`` (no model run needed).

    Unsupported ops stay at 0 and user overrides keep their values under every
    convention. Profiles from wrapped tools (method ``native``) carry no shapes
    and cannot be re-priced.
    """
    convention = get_convention(name)
    if any(r.method == "native" for r in profile.records):
        raise ValueError(
            f"this profile was counted by the {profile.backend!r} backend, which reports no "
            "shapes; re-profile with backend='flopmagic' to re-express it under another convention"
        )
    records = []
    for record in profile.records:
        if record.method in ("formula", "zero-cost"):
            cost = convention.price(record)
            record = replace(record, macs=cost.macs, flops=cost.flops)
        records.append(record)
    return profile.with_records(records, convention=convention.name)
