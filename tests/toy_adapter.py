"""A toy fourth framework, added to flopmagic by this one module and one registration call.

The "framework" is a JSON list of layers, ``{"layers": [{"type": "linear", "in": 4,
"out": 3}, {"type": "relu"}, ...]}``, run by :class:`ToyModel` on a batch of rows
(lists of floats). Importing this module registers it (``register_adapter`` at the
bottom); a process that never imports it finds it through the plugin hook:
``FLOPMAGIC_PLUGINS=toy_adapter`` (or an entry point in the ``flopmagic.adapters``
group of an installed package). It is the worked example of docs/adding-an-adapter.md
and the acceptance test of the registry: tests/test_toy_adapter.py uses it from the
API, the CLI, ``compare`` and ``%%profile`` with no other file touched.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from flopmagic._version import __version__
from flopmagic.adapters import Adapter, Backend, Found, LoadedModel, RunRequest, register_adapter
from flopmagic.adapters.base import NameOf, patched
from flopmagic.engine import ObservedOp, profile_ops
from flopmagic.errors import ProfilingError
from flopmagic.formulas import OpSpec
from flopmagic.schema import LayerInfo, ModelProfile, TensorInfo

SUFFIX = ".toy.json"

# A two-layer perceptron, 4 -> 3 -> 2 (the arithmetic is in tests/test_toy_adapter.py).
MLP = [{"type": "linear", "in": 4, "out": 3}, {"type": "relu"}, {"type": "linear", "in": 3, "out": 2}]
ZOO = {"mlp": MLP}


class ToyModel:
    """The toy framework's model: layers run in pure Python (every weight 0.5, every bias 0.1)."""

    def __init__(self, layers: Sequence[dict[str, Any]], name: str = "toy") -> None:
        self.layers = [dict(layer) for layer in layers]
        self.name = name

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ToyModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["layers"], name=Path(path).name.removesuffix(SUFFIX))

    def __call__(self, rows: list[list[float]]) -> list[list[float]]:
        for layer in self.layers:
            if layer["type"] == "linear":
                rows = [[0.5 * sum(row) + 0.1 for _ in range(layer["out"])] for row in rows]
            elif layer["type"] == "relu":
                rows = [[max(0.0, x) for x in row] for row in rows]
        return rows


# -- recognising, loading, counting --------------------------------------------------------
def _recognises(model: Any) -> bool:
    if isinstance(model, ToyModel):
        return True
    if isinstance(model, dict):
        return isinstance(model.get("layers"), list)
    return isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(SUFFIX)


def _as_model(model: Any) -> ToyModel:
    if isinstance(model, ToyModel):
        return model
    if isinstance(model, dict):
        return ToyModel(model["layers"])
    return ToyModel.load(model)


def observe(model: ToyModel, batch: int) -> tuple[list[ObservedOp], list[LayerInfo]]:
    """Each layer as the op it runs, in the canonical layout the formulas price:
    a linear layer is ``linear`` (rows [batch, in] times a weight [in, out], plus bias),
    relu is ``relu``; a layer type without a translation is observed with no spec
    (recorded unsupported: 0 and listed, never guessed)."""
    ops: list[ObservedOp] = []
    layers: list[LayerInfo] = []
    width = int(model.layers[0].get("in", 1))
    for index, layer in enumerate(model.layers):
        kind = str(layer["type"])
        x = (batch, width)
        params = 0
        spec: OpSpec | None = None
        if kind == "linear":
            width = int(layer["out"])
            params = int(layer["in"]) * width + width
            spec = OpSpec("linear", (x, (int(layer["in"]), width)), ((batch, width),), {"bias": True})
        elif kind == "relu":
            spec = OpSpec("relu", (x,), (x,))
        y = (batch, width)
        scope = str(index)
        ops.append(ObservedOp(f"toy.{kind}", spec, scope, kind, params, inputs=(x,), outputs=(y,)))
        layers.append(LayerInfo(scope, kind, output_shapes=(y,), params=params))
    return ops, layers


def _batch(request: RunRequest) -> int:
    if request.input_shape is not None:
        return int(request.input_shape[0])
    if request.inputs is not None:
        return len(request.inputs)
    return 1


def profile_toy(model: Any, request: RunRequest) -> ModelProfile:
    """The exact counter for toy models."""
    if request.training:
        raise ProfilingError("toy models count inference only")
    toy = _as_model(model)
    batch = _batch(request)
    ops, layers = observe(toy, batch)
    return profile_ops(
        ops,
        overrides=request.overrides,
        model=request.name or toy.name,
        framework="toy",
        params=sum(layer.params for layer in layers),
        layers=layers,
        inputs=(TensorInfo("rows", (batch, int(toy.layers[0].get("in", 1))), "float"),),
        versions={"flopmagic": __version__, "toy": "1"},
    )


def _load_zoo(name: str, device: str | None) -> LoadedModel:
    if name not in ZOO:
        from flopmagic.errors import SpecError

        raise SpecError(f"no toy model {name!r}; the toy zoo has: {', '.join(ZOO)}")
    return LoadedModel(ToyModel(ZOO[name], name=name), "toy", name, None)


# -- %%profile: notes every ToyModel call of a cell ------------------------------------------
class ToyWatcher:
    def __init__(self) -> None:
        self.calls: dict[int, tuple[ToyModel, int]] = {}

    def watching(self) -> contextlib.AbstractContextManager[None]:
        calls = self.calls

        def wrap(original: Any) -> Any:
            def __call__(model: ToyModel, rows: list[list[float]]) -> list[list[float]]:
                calls.setdefault(id(model), (model, len(rows)))
                return original(model, rows)  # type: ignore[no-any-return]

            return __call__

        return patched(ToyModel, "__call__", wrap)

    def found(self, name_of: NameOf, *, backend: str, training: bool, convention: str | None = None) -> Iterator[Found]:
        for model, batch in self.calls.values():
            width = int(model.layers[0].get("in", 1))
            yield Found(name_of(model, model.name), model=model, input_shape=(batch, width), backend=backend)


TOY = register_adapter(
    Adapter(
        name="toy",
        title="Toy",
        recognises=_recognises,
        backends=(Backend("flopmagic", profile_toy),),
        spec_prefixes={"toy": _load_zoo},
        spec_help=("toy:NAME", f"a {SUFFIX} file"),
        file_suffixes=(SUFFIX,),
        watch_packages=(__name__,),
        watch_module=__name__,
        watcher=ToyWatcher,
    )
)
