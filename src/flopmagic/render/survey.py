"""Survey views: the table (text, Markdown, HTML) and the accuracy-vs-compute plot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .tables import Cell, Table

if TYPE_CHECKING:
    from ..surveys import Quantity, Survey

__all__ = ["plot_survey", "render_survey_html", "render_survey_markdown", "render_survey_text", "survey_table"]

_HEADERS = {"macs": "MACs", "flops": "FLOPs", "params": "Params"}


def survey_table(survey: Survey, unit: Quantity | Literal["both"] = "both") -> Table:
    """One row per model: params, MACs and/or FLOPs, input, weights, top-1/top-5 accuracy,
    torchvision's published GMACs, and a mark on the Pareto front (by MACs, or FLOPs
    with ``unit="flops"``); failed models keep their row, with the error."""
    quantities = ("macs", "flops") if unit == "both" else (unit,)
    front_by: Quantity = "flops" if unit == "flops" else "macs"
    front = {id(r) for r in survey.pareto(front_by)}
    errors = any(not r.ok for r in survey.rows)
    columns = (
        ("Model", "Weights", "Input", "Params")
        + tuple(_HEADERS[q] for q in quantities)
        + ("Acc@1 %", "Acc@5 %", "Published GMACs", f"Pareto ({_HEADERS[front_by]})")
        + (("Error",) if errors else ())
    )
    counts = (False, False, False, True) + (True,) * len(quantities) + (False,) * (4 + int(errors))
    rows: list[tuple[Cell, ...]] = []
    for row in survey.rows:

        def cell(value: Any) -> Cell:
            return "" if value is None else value

        shape = "x".join(str(d) for d in row.input_shape)
        cells: tuple[Cell, ...] = (row.model or row.spec, row.weights, shape, cell(row.params))
        cells += tuple(cell(getattr(row, q)) for q in quantities)
        cells += (
            cell(row.acc1_percent),
            cell(row.acc5_percent),
            cell(row.published_gmacs),
            "*" if id(row) in front else "",
        )
        if errors:
            cells += (row.error,)
        rows.append(cells)
    notes = (
        f"Accuracy: the weights' ImageNet-1K metadata shipped with the package; compute under the "
        f"{survey.convention} convention. Pareto: no other model has fewer {_HEADERS[front_by]} and a higher top-1.",
    )
    return Table(columns, counts, tuple(rows), footnotes=notes)


def render_survey_text(survey: Survey, unit: Quantity | Literal["both"] = "both", **_: Any) -> str:
    from .text import render_table_text

    return render_table_text(survey_table(survey, unit))


def render_survey_markdown(survey: Survey, unit: Quantity | Literal["both"] = "both", **_: Any) -> str:
    from .markdown import render_table_markdown

    return render_table_markdown(survey_table(survey, unit))


def render_survey_html(survey: Survey, unit: Quantity | Literal["both"] = "both", **_: Any) -> str:
    from .html import STYLE, render_table_html

    return f"{STYLE}<div class='flopmagic'>{render_table_html(survey_table(survey, unit))}</div>"


def render_survey_csv(survey: Survey, **_: Any) -> str:
    """One line per model, raw integers and percentages (empty where unknown)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = survey.columns
    writer.writerow(names)
    for row in survey.rows:
        data = row.to_dict()
        data["input_shape"] = "x".join(str(d) for d in row.input_shape)
        writer.writerow(["" if data[n] is None else data[n] for n in names])
    return buffer.getvalue()


def plot_survey(survey: Survey, quantity: Quantity = "macs", path: str | None = None) -> Any:
    """Top-1 accuracy against ``quantity`` (log axis, SI prefixes, the unit named),
    every model a point, the Pareto front a step line with its models labelled."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import EngFormatter, LogLocator
    except ImportError as error:
        raise ImportError("plot needs matplotlib: pip install 'flopmagic[notebook]'") from error
    unit = _HEADERS[quantity]
    rated = [r for r in survey.rows if r.ok and r.acc1_percent is not None and getattr(r, quantity)]
    front = survey.pareto(quantity)
    figure = Figure(figsize=(7.5, 5))
    axis = figure.add_subplot()
    axis.scatter(
        [getattr(r, quantity) for r in rated],
        [r.acc1_percent or 0.0 for r in rated],
        color="#9aa7b8",
        label="model",
        zorder=2,
    )
    if front:
        xs = [getattr(r, quantity) for r in front]
        ys = [r.acc1_percent or 0.0 for r in front]  # every front row has an accuracy
        axis.step(xs, ys, where="post", color="#c0392b", linewidth=1.2, zorder=1)
        axis.scatter(xs, ys, color="#c0392b", label="Pareto front", zorder=3)
    front_ids = {id(r) for r in front}
    for r in rated:
        axis.annotate(
            r.model,
            (getattr(r, quantity), r.acc1_percent),
            textcoords="offset points",
            xytext=(4, 3),
            fontsize=7,
            color="#c0392b" if id(r) in front_ids else "#555555",
        )
    axis.set_xscale("log")
    formatter = EngFormatter(unit=unit if quantity != "params" else "")
    axis.xaxis.set_major_formatter(formatter)
    axis.xaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))  # 2, 3, 5 per decade: labels that fit
    axis.xaxis.set_minor_formatter(formatter)
    axis.tick_params(axis="x", which="minor", labelsize=7)
    per = " per image" if quantity != "params" else ""
    axis.set_xlabel(f"{unit}{per} (log scale, SI prefixes: G = 10^9)")
    axis.set_ylabel("ImageNet-1K top-1 accuracy (%)")
    axis.set_title(f"Accuracy vs {unit} ({survey.convention} convention)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=150)
    return figure
