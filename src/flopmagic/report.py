"""A report: one or more profiles (and audit verdicts), rendered for wherever it is shown.

``%%profile`` displays one and ``-o VAR`` stores it. In a notebook it is HTML, in a
terminal text; programs take ``to_dict``/``to_json``/``to_csv``/``to_markdown``/
``to_pandas``; ``plot`` draws the biggest layers or op types (matplotlib).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .display import Displayable
from .render.tables import Unit, View, profile_table
from .schema import ModelProfile

if TYPE_CHECKING:
    from .auditor import Verdict
    from .comparison import Comparison

__all__ = ["Report"]


class Report(Displayable):
    """Profiles with display options. Index by model name: ``report["resnet50"]``.

    Shown (``_repr_mimebundle_``) and exported (``to_text``/``to_html``/``to_markdown``/
    ``to_csv``) through :func:`flopmagic.render.render`, like every result."""

    _render_kind: ClassVar[str] = "report"

    def __init__(
        self,
        profiles: Sequence[ModelProfile],
        *,
        by: View = "layer",
        depth: int | None = None,
        unit: Unit = "both",
        top: int | None = None,
        verdicts: Sequence[Verdict] = (),
        notes: Sequence[str] = (),
        receptive_field: bool = False,
        baseline: str | None = None,
        extras: Sequence[Displayable] = (),
    ) -> None:
        self.profiles = tuple(profiles)
        self.by: View = by
        self.depth = depth
        self.unit: Unit = unit
        self.top = top
        self.verdicts = tuple(verdicts)
        self.notes = tuple(notes)
        self.receptive_field = receptive_field  # RF and Jump columns in layer views
        self.baseline = baseline  # the model a comparison's change columns compare against
        self.extras = tuple(extras)  # results shown after the profiles: rooflines, timings

    # -- access ---------------------------------------------------------------------
    @property
    def profile(self) -> ModelProfile:
        """The (first) profile."""
        if not self.profiles:
            raise ValueError("this report has no profile: " + "; ".join(self.notes or ("nothing was run",)))
        return self.profiles[0]

    def __getitem__(self, name: str) -> ModelProfile:
        for profile in self.profiles:
            if profile.model == name:
                return profile
        raise KeyError(f"no model {name!r} in this report; it has: {', '.join(p.model for p in self.profiles)}")

    def __len__(self) -> int:
        return len(self.profiles)

    @property
    def comparison(self) -> Comparison | None:
        """The models side by side by op type, when there are several (the cell's own
        tensor code, ``(cell)``, is not a model and is not compared)."""
        from .capture import CELL

        models = [p for p in self.profiles if p.model != CELL]
        if len(models) < 2:
            return None
        from .comparison import compare_profiles

        return compare_profiles(models, by="type")

    @property
    def view(self) -> dict[str, Any]:
        """The table options every profile is drawn with."""
        return {
            "by": self.by,
            "depth": self.depth,
            "unit": self.unit,
            "top": self.top,
            "receptive_field": self.receptive_field,
        }

    def __repr__(self) -> str:
        models = ", ".join(f"{p.model}: {p.macs:,} MACs" for p in self.profiles) or "empty"
        return f"<flopmagic.Report {models}>"

    # -- exports ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        comparison = self.comparison
        return {
            "profiles": [p.to_dict() for p in self.profiles],
            "comparison": comparison.to_dict() if comparison is not None else None,
            "audits": [v.to_dict() for v in self.verdicts],
            "notes": list(self.notes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_pandas(self, view: str = "table") -> Any:
        """A DataFrame: the current view (``"table"``) or one row per op (``"records"``),
        with a ``model`` column. Needs pandas."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("to_pandas needs pandas: pip install 'flopmagic[notebook]'") from error
        frames = []
        for profile in self.profiles:
            if view == "records":
                frame = pd.DataFrame([r.to_dict() for r in profile.records])
            elif view == "table":
                table = profile_table(profile, **self.view)
                frame = pd.DataFrame(list(table.rows), columns=list(table.columns))
                for column in table.columns:
                    if column.startswith("%"):  # "12.5%" -> 12.5 (a number; styled() formats it)
                        frame[column] = pd.to_numeric(frame[column].str.rstrip("%"), errors="coerce")
            else:
                raise ValueError(f"unknown view {view!r}: use 'table' or 'records'")
            frame.insert(0, "model", profile.model)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def styled(self, view: str = "table") -> Any:
        """:meth:`to_pandas` as a pandas Styler: counts with thousands separators,
        percentages with one decimal (the numbers underneath stay numbers)."""
        frame = self.to_pandas(view)
        formats: dict[str, Any] = {c: "{:,.0f}" for c in frame.columns if frame[c].dtype.kind in "iu"}
        formats.update({c: "{:.1f}%" for c in frame.columns if str(c).startswith("%")})
        return frame.style.format(formats, na_rep="-")

    def plot(self, top: int = 10, quantity: str = "flops", by: View | None = None) -> Any:
        """A horizontal bar chart of the ``top`` layers (or op types) of each profile.
        Returns the matplotlib Figure. Needs matplotlib."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("plot needs matplotlib: pip install 'flopmagic[notebook]'") from error
        view: View = by or self.by
        figure, axes = plt.subplots(
            1, max(len(self.profiles), 1), figsize=(6 * max(len(self.profiles), 1), 0.35 * top + 1.2), squeeze=False
        )
        for axis, profile in zip(axes[0], self.profiles):
            rows = (
                profile.by_op_type()
                if view == "type"
                else profile.by_native_op()
                if view == "op"
                else profile.by_layer()
            )
            rows = sorted(rows, key=lambda r: getattr(r, quantity), reverse=True)[:top]
            axis.barh(
                [r.key or "(root)" for r in reversed(rows)],
                [getattr(r, quantity) for r in reversed(rows)],
                color="#4c78a8",
            )
            axis.set_title(f"{profile.model}: top {len(rows)} by {'MACs' if quantity == 'macs' else 'FLOPs'}")
            from matplotlib.ticker import EngFormatter

            unit_name = "MACs" if quantity == "macs" else "FLOPs"
            axis.xaxis.set_major_formatter(EngFormatter(unit=unit_name))  # 400 MMACs, not 1e8
            axis.set_xlabel(unit_name)
        figure.tight_layout()
        plt.close(figure)  # returned, not shown twice
        return figure
