"""The Python API: ``flopmagic.profile`` (and ``compare``/``audit``, built on it)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._rng import preserving_rng
from .adapters import detect_framework
from .conventions import get_convention
from .errors import FlopmagicError, ProfilingError
from .pricing import Override
from .schema import ModelProfile

if TYPE_CHECKING:
    from .auditor import Verdict
    from .comparison import Align, By, Comparison
from .specs import LoadedModel, load_spec

__all__ = ["BACKENDS", "audit", "compare", "profile"]

F = TypeVar("F", bound=Callable[..., Any])

# backend -> the frameworks it can count
BACKENDS: dict[str, tuple[str, ...]] = {
    "flopmagic": ("torch", "tensorflow", "onnx"),
    "fvcore": ("torch",),
    "torch": ("torch",),
    "tf-profiler": ("tensorflow",),
}


def _profiling_errors(function: F) -> F:
    """Only flopmagic's errors leave the API: anything else a framework raises while
    loading, running or pricing a model becomes a ProfilingError (the original chained)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except FlopmagicError:
            raise
        except Exception as error:
            message = " ".join(str(error).split())[:300]
            raise ProfilingError(f"{function.__name__} failed: {type(error).__name__}: {message}") from error

    return wrapper  # type: ignore[return-value]


@_profiling_errors
@preserving_rng
def profile(
    model: Any,
    inputs: Any = None,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
    backend: str | None = None,
    training: bool = False,
    convention: str | None = None,
    *,
    device: str | None = None,
    dims: Mapping[str, int] | None = None,
    overrides: Mapping[str, Override] | None = None,
    name: str | None = None,
) -> ModelProfile:
    """Profile one model: FLOPs, MACs and parameters, per op and per layer.

    Args:
        model: a ``torch.nn.Module``, a Keras model or ``tf.function``, an ONNX
            model (path, bytes or ``ModelProto``), or a spec string
            (``"torchvision:resnet50"``, ``"transformers:BertModel"``, ...).
        inputs: the inputs to run (a tensor, a tuple, a dict of keyword arguments).
        input_shape: shape(s) of random inputs, instead of ``inputs``.
        backend: ``"flopmagic"`` (default, the exact counter), ``"fvcore"``,
            ``"torch"`` (FlopCounterMode) or ``"tf-profiler"``.
        training: count forward + measured backward (PyTorch).
        convention: re-express the counts under a named convention
            (``"paper"``, ``"fvcore"``, ``"torch"``, ...); default ``"flopmagic"``.
        device: ``"meta"`` to run PyTorch models without allocating weights.
        dims: values for symbolic ONNX dimensions, e.g. ``{"batch": 1, "seq": 128}``.
        overrides: prices for ops without a formula, by native or canonical name.
        name: the model's display name.

    The user's model is left exactly as it was, also when profiling fails, and so
    are the global random generators (Python, NumPy, PyTorch, TensorFlow): random
    inputs, dropout draws and spec builds do not change the user's next draw.
    """
    backend = backend or "flopmagic"
    if backend not in BACKENDS:
        raise ProfilingError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if convention is not None:
        get_convention(convention)  # fail early with the list of conventions
    loaded: LoadedModel | None = None
    if isinstance(model, str):
        loaded = load_spec(model, device=device)
        model = loaded.model
        name = name or loaded.name
        if inputs is None:
            shape = input_shape if input_shape is not None else loaded.input_shape
            if shape is None and loaded.framework == "torch":
                raise ProfilingError(
                    f"{loaded.name}: pass input_shape=... (the spec does not say what the model takes)"
                )
            if loaded.make_inputs is not None:
                inputs, input_shape = loaded.make_inputs(shape), None
            else:
                input_shape = shape
    framework = detect_framework(model)
    if framework is None:
        raise ProfilingError(
            f"cannot profile a {type(model).__name__}: pass a torch.nn.Module, a Keras model, an ONNX "
            "model (path, bytes or ModelProto) or a spec such as 'torchvision:resnet50'"
        )
    if dims is not None and framework != "onnx":
        raise ProfilingError(
            f"dims=... binds symbolic ONNX dimensions; this is a {framework} model: give input_shape=... instead"
        )
    if framework not in BACKENDS[backend]:
        raise ProfilingError(
            f"backend {backend!r} cannot count a {framework} model; it counts {', '.join(BACKENDS[backend])}"
        )
    result = _run(model, framework, backend, inputs, input_shape, training, device, dims, overrides, name)
    if convention is not None and convention != result.convention:
        if backend != "flopmagic":
            raise ProfilingError(
                f"backend {backend!r} reports its own convention ({result.convention!r}); "
                f"use backend='flopmagic' with convention={convention!r}"
            )
        result = result.under(convention)
    return result


def _run(
    model: Any,
    framework: str,
    backend: str,
    inputs: Any,
    input_shape: Any,
    training: bool,
    device: str | None,
    dims: Mapping[str, int] | None,
    overrides: Mapping[str, Override] | None,
    name: str | None,
) -> ModelProfile:
    if framework == "torch":
        if backend == "fvcore":
            from .adapters.native.torch_backends import profile_fvcore

            return profile_fvcore(model, inputs, input_shape=input_shape, training=training, name=name)
        if backend == "torch":
            from .adapters.native.torch_backends import profile_flop_counter_mode

            return profile_flop_counter_mode(model, inputs, input_shape=input_shape, training=training, name=name)
        from .adapters.torch.profiler import profile_module

        return profile_module(
            model, inputs, input_shape=input_shape, training=training, device=device, overrides=overrides, name=name
        )
    if training:
        raise ProfilingError(f"training=True is supported for PyTorch models; this is a {framework} model")
    if framework == "tensorflow":
        from .adapters.tensorflow import profile_keras

        return profile_keras(model, inputs, input_shape=input_shape, backend=backend, overrides=overrides, name=name)
    from .adapters.onnx import profile_onnx

    return profile_onnx(model, input_shape=input_shape, dims=dims, overrides=overrides, name=name)


def audit(
    model: Any,
    claim: str,
    params_claim: str | None = None,
    tolerance: float | None = None,
    *,
    binary: bool = False,
    source: str = "",
    **profile_options: Any,
) -> Verdict:
    """Audit a published compute claim ("4.1 GFLOPs") against a model.

    ``model`` is a :class:`ModelProfile` (from ``backend="flopmagic"``) or anything
    :func:`profile` takes, with its options (``input_shape=...``, ``device=...``).
    Returns a :class:`~flopmagic.audit.Verdict`: what the number is (MACs labelled
    as FLOPs, true FLOPs, a binary prefix, a partial count, or a mismatch), what it
    matched and by how much.
    """
    from .auditor import DEFAULT_TOLERANCE
    from .auditor import audit as audit_profile

    measured = model if isinstance(model, ModelProfile) else profile(model, **profile_options)
    return audit_profile(
        measured,
        claim,
        params_claim,
        DEFAULT_TOLERANCE if tolerance is None else tolerance,
        binary=binary,
        source=source,
    )


@_profiling_errors
def compare(
    models: Sequence[Any],
    *,
    by: By = "type",
    depth: int = 1,
    align: Align = "auto",
    labels: Sequence[str] | None = None,
    conventions: Sequence[str] | None = None,
    **profile_options: Any,
) -> Comparison:
    """Put several models, frameworks, backends or conventions side by side.

    ``models`` are :class:`ModelProfile` objects or anything :func:`profile`
    takes (profiled with ``profile_options``). With ``conventions``, each model
    is shown once per convention (one model under ``["flopmagic", "paper",
    "fvcore"]`` reconciles the tools' numbers). Rows are aligned by op type
    (``by="type"``) or by stage/layer (``"stage"`` cuts layer paths at ``depth``).
    """
    from .comparison import compare_profiles

    profiles = [m if isinstance(m, ModelProfile) else profile(m, **profile_options) for m in models]
    if conventions:
        profiles = [p.under(c) for p in profiles for c in conventions]
    return compare_profiles(profiles, by=by, depth=depth, align=align, labels=labels)
