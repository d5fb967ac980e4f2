"""The Python API: ``flopmagic.profile`` (and ``compare``/``audit``, built on it)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import options
from ._rng import preserving_rng
from .adapters import BACKENDS, RunRequest, adapters, detect_framework, get_adapter
from .errors import FlopmagicError, OptionError, ProfilingError
from .pricing import Override
from .schema import ModelProfile

if TYPE_CHECKING:
    from .auditor import Verdict
    from .comparison import Align, By, Comparison
from .specs import LoadedModel, load_spec

__all__ = ["BACKENDS", "audit", "compare", "profile"]

F = TypeVar("F", bound=Callable[..., Any])


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
        model: a model of a registered framework (a ``torch.nn.Module``, a Keras model
            or ``tf.function``, an ONNX model as path, bytes or ``ModelProto``, ...), or a
            spec string (``"torchvision:resnet50"``, ``"transformers:BertModel"``, ...).
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

    Raises:
        OptionError: an option value flopmagic does not accept (names the accepted ones).
        ProfilingError, SpecError: the model cannot be read or run. Only flopmagic's
            errors leave this function (anything else a framework raises is chained
            into a ProfilingError).
    """
    backend = backend or "flopmagic"
    options.check("api.profile", {"backend": backend, "convention": convention, "dims": dims})
    loaded: LoadedModel | None = None
    if isinstance(model, str):
        loaded = load_spec(model, device=device)
        model = loaded.model
        name = name or loaded.name
        if inputs is None:
            shape = input_shape if input_shape is not None else loaded.input_shape
            if shape is None and get_adapter(loaded.framework).needs_inputs:
                raise ProfilingError(
                    f"{loaded.name}: pass input_shape=... (the spec does not say what the model takes)"
                )
            if loaded.make_inputs is not None:
                inputs, input_shape = loaded.make_inputs(shape), None
            else:
                input_shape = shape
    framework = detect_framework(model)
    if framework is None:
        kinds = ", ".join(a.title for a in adapters())
        raise ProfilingError(
            f"cannot profile a {type(model).__name__}: pass a model of a registered framework ({kinds}) "
            "or a spec such as 'torchvision:resnet50'"
        )
    if dims is not None and framework != "onnx":
        raise ProfilingError(
            f"dims=... binds symbolic ONNX dimensions; this is a {framework} model: give input_shape=... instead"
        )
    adapter = get_adapter(framework)
    counter = adapter.backend(backend)
    if counter is None:
        raise OptionError(
            f"backend {backend!r} cannot count a {framework} model; it counts {', '.join(BACKENDS[backend])}"
        )
    if training and not counter.training:
        raise ProfilingError(
            f"training=True: backend {backend!r} counts {adapter.title} models for inference only"
            + ("; use backend='flopmagic'" if adapter.backends[0].training else "")
        )
    request = RunRequest(inputs, input_shape, training, device, dims, overrides, name)
    result = counter.run(model, request)
    if backend != "flopmagic" and not result.layers:
        result = _with_module_tree(result, adapter, model, request)
    if convention is not None and convention != result.convention:
        if backend != "flopmagic":
            raise OptionError(
                f"backend {backend!r} reports its own convention ({result.convention!r}); "
                f"use backend='flopmagic' with convention={convention!r}"
            )
        result = result.under(convention)
    return result


def _with_module_tree(result: ModelProfile, adapter: Any, model: Any, request: RunRequest) -> ModelProfile:
    """A peer's profile with the layer rows' type, output shape and parameters read from the
    model's own tree (one run of the exact counter); the peer's counts are kept as they are."""
    from dataclasses import replace

    from .errors import FlopmagicError

    try:
        exact = adapter.backends[0].run(model, request)
    except FlopmagicError:
        return result  # the rows keep their counts; only the layer columns stay empty
    return replace(result, layers=exact.layers, inputs=result.inputs or exact.inputs)


def audit(
    model: Any,
    claim: str | None,
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
    matched and by how much. ``claim=None`` audits ``params_claim`` alone. Training
    compute and MFU claims: :mod:`flopmagic.training_claims`; claims files and
    tables: :mod:`flopmagic.claims`, :mod:`flopmagic.claim_tables`.
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

    options.check("api.compare", {"by": by, "depth": depth, "align": align})
    profiles = [m if isinstance(m, ModelProfile) else profile(m, **profile_options) for m in models]
    if conventions:
        profiles = [p.under(c) for p in profiles for c in conventions]
    return compare_profiles(profiles, by=by, depth=depth, align=align, labels=labels)
