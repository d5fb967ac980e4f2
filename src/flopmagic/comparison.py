"""Side-by-side comparison of several profiles: models, frameworks, backends or conventions.

Rows are aligned by op type, or by stage/layer: by name where the profiles share
names, else by position among the rows that do work (torchvision's ``layer1``
lines up with Keras' ``conv2`` stage). Each column states its convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from .aggregate import Row
from .conventions import get_convention
from .display import Displayable
from .schema import ModelProfile

__all__ = ["Align", "By", "CompareRow", "Comparison", "compare_profiles"]

By = Literal["type", "stage", "layer"]
Align = Literal["auto", "name", "position"]


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One aligned row: each profile's key and numbers (None where it has no such row)."""

    keys: tuple[str | None, ...]
    macs: tuple[int | None, ...]
    flops: tuple[int | None, ...]
    params: tuple[int | None, ...]

    @property
    def key(self) -> str:
        names = [k for k in self.keys if k]
        return names[0] if len(set(names)) <= 1 else " / ".join(dict.fromkeys(names))

    def differs(self, quantity: str = "macs", threshold: float = 0.005) -> bool:
        """Whether the profiles disagree by more than ``threshold`` (relative) here."""
        values: tuple[int | None, ...] = getattr(self, quantity)
        present = [v for v in values if v is not None]
        if len(present) < len(values):
            return any(v for v in present)
        low, high = min(present), max(present)
        return bool(high - low > threshold * max(high, 1))


@dataclass(frozen=True, slots=True)
class Comparison(Displayable):
    """Profiles side by side, with totals, aligned rows and each column's convention."""

    profiles: tuple[ModelProfile, ...]
    labels: tuple[str, ...]
    by: By
    align: Literal["name", "position"]
    rows: tuple[CompareRow, ...]
    _render_kind: ClassVar[str] = "comparison"

    @property
    def conventions(self) -> tuple[str, ...]:
        """Each column's convention in words."""
        return tuple(get_convention(p.convention).title for p in self.profiles)

    def totals(self) -> CompareRow:
        return CompareRow(
            tuple(self.labels),
            tuple(p.macs for p in self.profiles),
            tuple(p.flops for p in self.profiles),
            tuple(p.params for p in self.profiles),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "by": self.by,
            "align": self.align,
            "conventions": list(self.conventions),
            "totals": {
                "macs": list(self.totals().macs),
                "flops": list(self.totals().flops),
                "params": list(self.totals().params),
            },
            "rows": [
                {"keys": list(r.keys), "macs": list(r.macs), "flops": list(r.flops), "params": list(r.params)}
                for r in self.rows
            ],
        }

    def __str__(self) -> str:
        return self.render("text")


def _flat_stages(profile: ModelProfile, depth: int) -> list[Row]:
    """Stages of a model whose layer names are flat (Keras applications: ``conv2_block1_1_conv``):
    grouped by their first ``depth`` underscore-separated words (``conv2``)."""
    groups: dict[str, list[Row]] = {}
    for row in profile.by_scope(1)[1:]:
        groups.setdefault("_".join(row.key.split("_")[:depth]), []).append(row)
    return [
        Row(
            key,
            sum(r.macs for r in rows),
            sum(r.flops for r in rows),
            sum(r.params for r in rows),
            len(rows),
            "",
            rows[-1].output_shapes,
        )
        for key, rows in groups.items()
    ]


def _rows(profile: ModelProfile, by: By, depth: int) -> list[Row]:
    if by == "type":
        return profile.by_op_type()
    if by == "stage":
        scopes = [layer.scope for layer in profile.layers if layer.scope]
        if scopes and not any("." in s for s in scopes) and any("_" in s for s in scopes):
            return _flat_stages(profile, depth)
        return profile.by_scope(depth)[1:]
    return profile.by_layer()


def _label(profile: ModelProfile, others: Sequence[ModelProfile]) -> str:
    """What tells this profile apart from the others: model, framework, backend, convention."""
    parts = [
        str(getattr(profile, field))
        for field in ("model", "framework", "backend", "convention")
        if len({getattr(p, field) for p in others}) > 1
    ]
    return " · ".join(parts) or profile.model


def compare_profiles(
    profiles: Sequence[ModelProfile],
    *,
    by: By = "type",
    depth: int = 1,
    align: Align = "auto",
    labels: Sequence[str] | None = None,
) -> Comparison:
    """Align ``profiles`` row by row.

    ``align="auto"`` matches rows by name when at least half the names are shared,
    otherwise by position among the rows with MACs (rows with FLOPs if a profile has none).
    """
    if len(profiles) < 2:
        raise ValueError("compare needs at least two profiles")
    per_profile = [_rows(p, by, depth) for p in profiles]
    names = [[r.key for r in rows] for rows in per_profile]
    shared = set(names[0]).intersection(*map(set, names[1:]))
    smallest = min(len(set(n)) for n in names) or 1
    auto: Literal["name", "position"] = "name" if by == "type" or len(shared) >= smallest / 2 else "position"
    mode: Literal["name", "position"] = auto if align == "auto" else align
    aligned: list[CompareRow] = []
    if mode == "name":
        order: dict[str, None] = {}
        for rows in per_profile:
            for r in rows:
                order.setdefault(r.key, None)
        lookup = [{r.key: r for r in rows} for rows in per_profile]
        for key in order:
            found = [table.get(key) for table in lookup]
            aligned.append(
                CompareRow(
                    tuple(key if f else None for f in found),
                    tuple(f.macs if f else None for f in found),
                    tuple(f.flops if f else None for f in found),
                    tuple(f.params if f else None for f in found),
                )
            )
    else:
        # stages line up by the rows that do dot-product work (a stem's norm and pool rows do not)
        with_macs = [[r for r in rows if r.macs] for rows in per_profile]
        working = with_macs if all(with_macs) else [[r for r in rows if r.macs or r.flops] for rows in per_profile]
        for index in range(max(len(w) for w in working)):
            found = [w[index] if index < len(w) else None for w in working]
            aligned.append(
                CompareRow(
                    tuple(f.key if f else None for f in found),
                    tuple(f.macs if f else None for f in found),
                    tuple(f.flops if f else None for f in found),
                    tuple(f.params if f else None for f in found),
                )
            )
    chosen = tuple(labels) if labels is not None else tuple(_label(p, profiles) for p in profiles)
    return Comparison(tuple(profiles), chosen, by, mode, tuple(aligned))
