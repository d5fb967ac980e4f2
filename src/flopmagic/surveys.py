"""Model surveys: params, MACs, FLOPs and published accuracy of many models, side by side.

``flopmagic.survey(["torchvision:resnet*", "torchvision:densenet*"])`` expands the
globs against the framework's model registry, profiles every model (on the meta
device: no weights are allocated, none are downloaded), and reads the accuracy
torchvision ships *offline* in its weights metadata (``weights.meta["_metrics"]``).
Models run in parallel processes with ``jobs=N``; the rows are the same as with
``jobs=1``. A model that fails becomes a row with its error; the others are kept.

The :class:`Survey` is frozen data with table, CSV, JSON, pandas and notebook
views, and :meth:`Survey.pareto`: the models no other model beats on both compute
and accuracy.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from .display import Displayable
from .errors import FlopmagicError, SpecError

__all__ = ["Survey", "SurveyRow", "expand_specs", "pareto_front", "survey"]

Quantity = Literal["macs", "flops", "params"]
QUANTITIES: tuple[Quantity, ...] = ("macs", "flops", "params")
DATASET = "ImageNet-1K"
_GLOB = set("*?[")


@dataclass(frozen=True, slots=True)
class SurveyRow:
    """One model of a survey. Counts are exact integers; accuracies are percentages
    from the weights' metadata (``None`` where the package ships none).

    ``published_gmacs`` is torchvision's ``_ops`` (labelled "GFLOPS" in its docs,
    counted as multiply-accumulates), for reference. ``error`` is empty for a
    profiled model; otherwise it says why the model has no numbers.
    """

    spec: str
    model: str = ""
    weights: str = ""
    input_shape: tuple[int, ...] = ()
    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    acc1_percent: float | None = None
    acc5_percent: float | None = None
    published_gmacs: float | None = None
    device: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SurveyRow:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["input_shape"] = tuple(int(d) for d in data.get("input_shape", ()))
        return cls(**values)


def pareto_front(points: Sequence[tuple[float, float]]) -> tuple[int, ...]:
    """Indices of the points no other point dominates, by increasing cost.

    Points are ``(cost, value)``: lower cost and higher value are better. A point
    is dominated when another has cost <= and value >= with at least one strict.
    Equal points do not dominate each other (both are on the front).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best: float | None = None  # the highest value at a lower cost so far
    best_cost: float | None = None
    for i in order:
        cost, value = points[i]
        if best is None or value > best:
            front.append(i)
            best, best_cost = value, cost
        elif value == best and cost == best_cost:
            front.append(i)  # a duplicate of a front point
    return tuple(front)


@dataclass(frozen=True, slots=True)
class Survey(Displayable):
    """The rows of a survey, in the order the specs were given (globs expanded).

    Displayed and exported (``to_text``/``to_html``/``to_markdown``/``to_csv``) through
    :func:`flopmagic.render.render`, like every result."""

    _render_kind: ClassVar[str] = "survey"
    columns: ClassVar[tuple[str, ...]] = tuple(f.name for f in fields(SurveyRow))  # a row's fields, in order

    rows: tuple[SurveyRow, ...]
    convention: str = "flopmagic"

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, model: str) -> SurveyRow:
        for row in self.rows:
            if model in (row.model, row.spec):
                return row
        raise KeyError(f"no model {model!r} in this survey; it has: {', '.join(r.model or r.spec for r in self.rows)}")

    @property
    def errors(self) -> tuple[SurveyRow, ...]:
        return tuple(r for r in self.rows if not r.ok)

    def pareto(self, quantity: Quantity = "macs") -> tuple[SurveyRow, ...]:
        """The models on the accuracy-vs-compute Pareto front (fewest ``quantity``,
        highest top-1 accuracy), cheapest first. Models without accuracy are left out."""
        if quantity not in QUANTITIES:
            raise ValueError(f"unknown quantity {quantity!r}; choose one of {', '.join(QUANTITIES)}")
        rated = [r for r in self.rows if r.ok and r.acc1_percent is not None and getattr(r, quantity) is not None]
        points = [(float(getattr(r, quantity)), float(r.acc1_percent or 0.0)) for r in rated]
        return tuple(rated[i] for i in pareto_front(points))

    # -- exports ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "dataset": DATASET, "rows": [r.to_dict() for r in self.rows]}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Survey:
        return cls(tuple(SurveyRow.from_dict(r) for r in data["rows"]), str(data.get("convention", "flopmagic")))

    def to_pandas(self) -> Any:
        """A DataFrame, one row per model; counts as nullable integers, accuracies as floats."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("to_pandas needs pandas: pip install 'flopmagic[notebook]'") from error
        frame = pd.DataFrame([r.to_dict() for r in self.rows], columns=list(self.columns))
        for name in ("params", "macs", "flops"):
            frame[name] = frame[name].astype("Int64")
        for name in ("acc1_percent", "acc5_percent", "published_gmacs"):
            frame[name] = frame[name].astype("float64")
        frame["input_shape"] = frame["input_shape"].map(lambda s: "x".join(str(d) for d in s))
        return frame

    def table(self, quantity: Quantity | Literal["both"] = "both") -> Any:
        from .render.survey import survey_table

        return survey_table(self, quantity)

    def plot(self, quantity: Quantity = "macs", path: str | None = None) -> Any:
        """Top-1 accuracy against compute (log axis, SI prefixes with the unit named),
        the Pareto front drawn and its models labelled. Returns the matplotlib Figure;
        ``path`` also saves it (PNG, SVG, PDF by extension). Needs matplotlib."""
        from .render.survey import plot_survey

        return plot_survey(self, quantity, path)

    def __repr__(self) -> str:
        ok = sum(r.ok for r in self.rows)
        return f"<flopmagic.Survey {ok} models, {len(self.rows) - ok} errors>"


# -- spec expansion ------------------------------------------------------------------------


def _registry(prefix: str) -> list[str] | None:
    """The model names a prefix's registry knows, or None for prefixes without one."""
    from .adapters import spec_names

    try:
        return spec_names(prefix)
    except ImportError as error:
        raise SpecError(f"{prefix}: specs need the framework installed: {error}") from error


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """resnet18 < resnet34 < resnet101: digit runs compare as numbers."""
    import re

    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part)


def expand_specs(specs: Iterable[str]) -> list[str]:
    """Specs with globs (``torchvision:resnet*``, ``keras:EfficientNetB?``) replaced by the
    matching registry names, in natural order (resnet18 before resnet101); a ``@WEIGHTS`` suffix is kept on each. Duplicates
    are dropped (first kept).

    Raises:
        SpecError: a glob that matches nothing, or one on a prefix without a registry.
    """
    out: list[str] = []
    for spec in specs:
        spec = spec.strip()
        prefix, sep, rest = spec.partition(":")
        name, at, weights = rest.partition("@")
        if not sep or not (_GLOB & set(name)):
            out.append(spec)
            continue
        names = _registry(prefix)
        if names is None:
            raise SpecError(f"cannot expand {spec!r}: globs work on torchvision: and keras: specs")
        matched = sorted((n for n in names if fnmatch.fnmatchcase(n, name)), key=_natural)
        if not matched:
            raise SpecError(f"{spec!r} matches no {prefix} model")
        out.extend(f"{prefix}:{n}{at}{weights}" for n in matched)
    return list(dict.fromkeys(out))


# -- one model ------------------------------------------------------------------------------


def _accuracy(spec: str) -> dict[str, Any]:
    """Weights name, top-1/top-5 accuracy and the published GMACs of a spec's weights,
    as the adapter reads them from the installed package (nothing is downloaded)."""
    from .adapters import spec_metadata

    return dict(spec_metadata(spec))


def profile_row(spec: str, device: str | None = "meta", convention: str | None = None) -> SurveyRow:
    """Profile one spec into a row; every failure becomes the row's ``error``.

    On the meta device where the model runs there; a PyTorch model the meta device
    cannot run is profiled again on the CPU (``device`` says which ran).
    """
    from .api import profile

    try:
        used = device
        try:
            result = profile(spec, device=device, convention=convention)
        except FlopmagicError as error:
            if device != "meta" or isinstance(error, SpecError):
                raise
            used = None
            result = profile(spec, convention=convention)
        extra = _accuracy(spec)
        totals = result.totals
        return SurveyRow(
            spec=spec,
            model=result.model.partition("@")[0],  # the weights have their own column
            input_shape=result.inputs[0].shape if result.inputs else (),
            params=totals.params,
            macs=totals.macs,
            flops=totals.flops,
            device=used or "cpu",
            **extra,
        )
    except Exception as error:  # one model's failure must not lose the others' rows
        message = str(error).splitlines()[0] if str(error) else ""
        return SurveyRow(spec=spec, model=spec.partition(":")[2] or spec, error=f"{type(error).__name__}: {message}")


def _profile_row_args(args: tuple[str, str | None, str | None]) -> SurveyRow:
    return profile_row(*args)


# -- progress ------------------------------------------------------------------------------

Progress = Callable[[int, int, str], None]


class _Bar:
    """tqdm when installed (a widget in notebooks, text on a terminal), else a plain line;
    on stderr."""

    def __init__(self, total: int) -> None:
        self.bar: Any = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="model", file=sys.stderr, desc="survey")
        self.total = total

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label[:30], refresh=False)
            self.bar.update(1)
            if done == total:
                self.bar.close()
        else:
            sys.stderr.write(f"\rsurvey {done}/{total} {label[:40]:<40}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _pool_context(specs: Sequence[str]) -> Any:
    """forkserver where there is one (else spawn): fork would copy a parent that may hold
    framework threads. The server imports the frameworks the specs need once, before any
    thread exists, so each worker starts with them loaded instead of importing them again."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    preload = ["flopmagic.surveys", "flopmagic.api"]
    if any(s.partition(":")[0] in ("torchvision", "transformers") for s in specs):
        preload += ["torch", "torchvision"]
    context.set_forkserver_preload(preload)
    return context


def survey(
    specs: Sequence[str],
    *,
    jobs: int = 1,
    device: str | None = "meta",
    convention: str | None = None,
    progress: bool | Progress = False,
) -> Survey:
    """Profile many models into one table of params, MACs, FLOPs and published accuracy.

    Args:
        specs: model specs as for :func:`flopmagic.profile`; ``torchvision:`` and
            ``keras:`` specs may be globs (``torchvision:resnet*``,
            ``torchvision:densenet*@IMAGENET1K_V1``). A bare torchvision name uses
            its default weights' accuracy and resolution.
        jobs: models profiled at once, each in its own process (1: in this process).
        device: ``"meta"`` (default) builds PyTorch models without weights; ``None`` on the CPU.
        convention: the counting convention of MACs and FLOPs (default ``flopmagic``).
        progress: ``True`` shows a progress bar on stderr (tqdm when installed: a widget
            in notebooks), or a callable ``(done, total, model)``. Off by default.

    Returns the rows in spec order; the same rows for any ``jobs``.

    Raises:
        SpecError: a glob that matches nothing; FlopmagicError: ``jobs`` below 1 or an
            unknown convention. Errors of single models are rows, not exceptions.
    """
    if jobs < 1:
        raise FlopmagicError(f"jobs must be at least 1, not {jobs}")
    if convention is not None:
        from .conventions import get_convention

        try:
            get_convention(convention)
        except KeyError as error:
            raise FlopmagicError(str(error.args[0])) from None
    expanded = expand_specs(specs)
    if not expanded:
        raise SpecError("a survey needs at least one model spec, e.g. torchvision:resnet*")
    report: Progress | None = _Bar(len(expanded)) if progress is True else (progress or None)
    total = len(expanded)
    rows: list[SurveyRow | None] = [None] * total
    work = [(spec, device, convention) for spec in expanded]
    if jobs == 1 or total == 1:
        for index, args in enumerate(work):
            row = rows[index] = _profile_row_args(args)
            if report is not None:
                report(index + 1, total, row.model or row.spec)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=_pool_context(expanded))
        try:
            futures = {pool.submit(_profile_row_args, args): index for index, args in enumerate(work)}
            for done, future in enumerate(as_completed(futures), start=1):
                index = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # the worker process itself died (out of memory, a crash)
                    row = SurveyRow(spec=expanded[index], error=f"{type(error).__name__}: {error}")
                rows[index] = row
                if report is not None:
                    report(done, total, row.model or row.spec)
        except BaseException:  # Ctrl-C: drop the models not started instead of waiting for them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return Survey(tuple(r for r in rows if r is not None), convention or "flopmagic")


# -- the command line (its options are declared in flopmagic.options) ----------------------


def run_cli(args: Any, out: Any) -> int:
    """``flopmagic survey``: 0 when every model was profiled, 1 when some rows are errors."""
    result = survey(
        args.specs,
        jobs=args.jobs,
        device="meta" if args.device == "meta" else None,
        convention=args.convention,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    quantity: Quantity = "flops" if args.unit == "flops" else "macs"
    if args.format == "json":
        out.write(result.to_json() + "\n")
    elif args.format == "csv":
        out.write(result.to_csv())
    elif args.format == "markdown":
        from .render.survey import render_survey_markdown

        out.write(render_survey_markdown(result, args.unit) + "\n")
    else:
        from .render.survey import render_survey_text

        out.write(render_survey_text(result, args.unit) + "\n")
    if args.plot:
        try:
            result.plot(quantity, args.plot)
        except ImportError as error:
            raise FlopmagicError(str(error)) from error
        except (OSError, ValueError) as error:
            raise FlopmagicError(f"cannot write the plot {args.plot!r}: {error}") from error
    return 1 if result.errors else 0
