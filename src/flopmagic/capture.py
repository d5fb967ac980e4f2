"""Capture what a block of code computes: every registered framework's watcher, for one block.

Each adapter declares a cell watcher (``flopmagic.adapters``): PyTorch records op by
op while the block runs; Keras and ONNX Runtime calls are noted through wrappers on
their library classes, removed afterwards, and those models are profiled after the
block. Only frameworks already imported when the block starts can be watched:
:func:`imports_of` tells the caller which packages a block imports, and
:func:`import_watched` imports them first.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .adapters import CellWatcher, adapters
from .schema import LayerInfo, ModelProfile

T = TypeVar("T")

__all__ = [
    "CELL",
    "OTHER_OPS",
    "Captured",
    "CellCapture",
    "import_watched",
    "imports_of",
    "native_logs_kept_out",
    "progress",
    "progress_bar",
    "watched_packages",
]


LOOSE = "(ops outside modules)"  # what a watcher calls the ops a cell ran outside any model
OTHER_OPS = "(other ops)"  # their row, when one model ran: the cell's own tensor code
CELL = "(cell)"  # their profile, when no model (or several) ran


def progress(items: Sequence[T], desc: str, *, enabled: bool = True) -> Iterable[T]:
    """``items`` with a progress bar when there are several and tqdm is installed: the
    notebook widget where ipywidgets is, plain text (on stderr) elsewhere."""
    if not enabled or len(items) < 2:
        return items
    import importlib.util

    widget = importlib.util.find_spec("ipywidgets") is not None  # tqdm.auto's widget needs it
    try:
        tqdm = importlib.import_module("tqdm.auto" if widget else "tqdm").tqdm
    except ImportError:
        return items
    bar: Iterable[T] = tqdm(items, desc=desc, leave=False)
    return bar


def progress_bar(desc: str, *, enabled: bool = True) -> Callable[[int, int, Any], None] | None:
    """A ``progress(done, total, item)`` callback (what :func:`flopmagic.claims.audit_claims`
    takes) drawing a tqdm bar: the notebook widget where ipywidgets is, plain text on
    stderr elsewhere; None when disabled or tqdm is not installed. The bar closes at
    ``done == total``."""
    if not enabled:
        return None
    import importlib.util

    widget = importlib.util.find_spec("ipywidgets") is not None
    try:
        tqdm = importlib.import_module("tqdm.auto" if widget else "tqdm").tqdm
    except ImportError:
        return None
    bars: list[Any] = []

    def update(done: int, total: int, item: Any) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=desc, leave=False))
        bar = bars[0]
        bar.n = done
        label = str(getattr(item, "model", "") or "")
        if label:
            bar.set_postfix_str(label[:40], refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def _attribute_loose(profiles: list[ModelProfile]) -> list[ModelProfile]:
    """Ops outside any model: an ``(other ops)`` row of the one model of their framework
    that ran, or a profile of the cell's own when none (or several) did. Never a model."""
    loose = [p for p in profiles if p.model == LOOSE]
    if not loose:
        return profiles
    (cell,) = loose
    models = [p for p in profiles if p.model != LOOSE]
    hosts = [p for p in models if p.framework == cell.framework and p.backend == cell.backend]
    if len(hosts) != 1:
        return [*models, replace(cell, model=CELL, notes=("the cell's own tensor code, outside any model",))]
    (host,) = hosts
    rows = {"loss": "(loss)", "optimizer": "(optimizer)"}  # a training step the cell runs: its own rows
    moved = [replace(r, scope=rows.get(r.phase, OTHER_OPS)) for r in cell.records]
    scopes = dict.fromkeys(r.scope for r in moved)
    kinds = {OTHER_OPS: "cell code", "(loss)": "loss", "(optimizer)": "optimizer step"}
    layers = [LayerInfo(scope=s, type=kinds[s], calls=1, output_shapes=(), params=0) for s in scopes]
    merged = host.with_records(
        (*host.records, *moved),
        layers=(*host.layers, *layers),
        notes=(*host.notes, f"{OTHER_OPS}: tensor code the cell ran outside the model, counted with it"),
    )
    return [merged if p is host else p for p in models]


def watched_packages() -> tuple[str, ...]:
    """Top-level packages whose models a block's calls can be captured from, in the
    registry's order (PyTorch's first: TensorFlow must come after it)."""
    return tuple(p for a in adapters() for p in a.watch_packages)


def imports_of(source: str) -> list[str]:
    """Watched packages that ``source`` imports (by its AST), in :func:`watched_packages` order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return [name for name in watched_packages() if name in found]


_NATIVE_LOG = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl::InitializeLog)")


@contextlib.contextmanager
def native_logs_kept_out() -> Iterator[None]:
    """Keep the log lines frameworks' native code writes to the process's stderr
    (TensorFlow's ``I0000 ... oneDNN custom operations are on``) out of the cell's output;
    anything else written there is passed on to ``sys.stderr``."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):  # no real stderr (embedded): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not _NATIVE_LOG.match(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))


def import_watched(source: str) -> None:
    """Import the watched packages ``source`` is about to import, each the way its adapter says."""
    for package in imports_of(source):
        adapter = next(a for a in adapters() if package in a.watch_packages)
        with native_logs_kept_out():
            (adapter.import_package or importlib.import_module)(package)


@dataclass
class Captured:
    """Profiles of what ran, and notes on what could not be profiled."""

    profiles: list[ModelProfile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)  # Displayables: a traced generate call


class CellCapture:
    """``with CellCapture(namespace) as capture: <run code>``; then ``capture.results(...)``.

    ``namespace`` is where model names are looked up for display (the user's namespace).
    """

    def __init__(self, namespace: Mapping[str, Any], *, progress: bool = False) -> None:
        self.namespace = namespace
        self.progress = progress  # a progress bar while several models are profiled
        self.watchers: list[CellWatcher] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> CellCapture:
        try:
            for adapter in adapters():
                if adapter.watcher is not None and adapter.watch_module in sys.modules:
                    watcher = adapter.watcher()
                    self._stack.enter_context(watcher.watching())
                    self.watchers.append(watcher)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def _name(self, obj: Any, fallback: str) -> str:
        for key, value in self.namespace.items():
            if value is obj and not key.startswith("_"):
                return key
        return fallback

    def results(self, *, backend: str = "flopmagic", training: bool = False, convention: str | None = None) -> Captured:
        """Profile everything that ran. Errors profiling one model become notes."""
        from .api import profile

        captured = Captured()
        with native_logs_kept_out():
            self._profile_all(captured, profile, backend=backend, training=training, convention=convention)
        captured.profiles = _attribute_loose(captured.profiles)
        return captured

    def _profile_all(
        self, captured: Captured, profile: Any, *, backend: str, training: bool, convention: str | None
    ) -> None:
        from .errors import FlopmagicError

        everything = [
            f
            for w in self.watchers
            for f in w.found(self._name, backend=backend, training=training, convention=convention)
        ]
        for found in progress(everything, "flopmagic: profiling", enabled=self.progress):
            if found.note:
                captured.notes.append(found.note)
                continue
            if found.extra is not None:
                captured.extras.append(found.extra)
                continue
            try:
                if found.build is not None:
                    result = found.build()
                else:
                    result = profile(
                        found.model,
                        found.inputs,
                        input_shape=found.input_shape,
                        backend=found.backend,
                        training=found.training,
                        name=found.label,
                    )
                if found.notes:
                    result = replace(result, notes=(*result.notes, *found.notes))
                if convention is not None and result.convention != convention:
                    result = result.under(convention)
                captured.profiles.append(result)
            except (FlopmagicError, ValueError) as error:
                captured.notes.append(f"{found.label}: not profiled: {error}")
