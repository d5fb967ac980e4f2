"""What an adapter declares: the one registration per framework.

An :class:`Adapter` says, in one place, how flopmagic recognises the framework's
objects, which model specs and files it loads, which backends count its models, and
how ``%%profile`` watches a cell for its calls. Every function in it imports the
framework lazily, so declaring (and registering) an adapter imports no framework.
The API, the CLI, the magic and the cell capture only iterate the registry
(``flopmagic.adapters``); none of them names a framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..pricing import Override
    from ..schema import ModelProfile

__all__ = [
    "Adapter",
    "Backend",
    "CalibrationTarget",
    "Calibrator",
    "CellWatcher",
    "Found",
    "LoadedModel",
    "MeasuredRates",
    "NameOf",
    "RunRequest",
    "RunTimes",
    "SavedActivations",
    "SavedActivationsMeter",
    "SpecLoader",
    "Timer",
    "first_shape",
    "input_shapes",
    "patched",
    "shape_of",
]


@dataclass(frozen=True)
class RunRequest:
    """What one run asks of a backend (the options of ``flopmagic.profile``).

    ``inputs`` are the framework's own inputs; ``input_shape`` shapes of random inputs
    (one shape, a list of shapes, or for graphs a mapping input name -> shape).
    """

    inputs: Any = None
    input_shape: Any = None
    training: bool = False
    device: str | None = None
    dims: Mapping[str, int] | None = None
    overrides: Mapping[str, Override] | None = None
    name: str | None = None


@dataclass(frozen=True)
class Backend:
    """A counter for one framework's models: ``run(model, request) -> ModelProfile``.

    ``"flopmagic"`` is the exact counter every adapter has; peers (fvcore,
    FlopCounterMode, TensorFlow's profiler) are other backends. ``training`` says
    whether it can count a training step.
    """

    name: str
    run: Callable[[Any, RunRequest], ModelProfile]
    training: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """A model built from a spec, with the inputs it expects by default.

    ``make_inputs(shape)`` turns an input shape into the model's inputs (for
    transformers: ``{"input_ids": ...}`` of integer token ids).
    """

    model: Any
    framework: str
    name: str
    input_shape: tuple[int, ...] | None
    make_inputs: Callable[[Any], Any] | None = None


# (the spec after its prefix, the device) -> the model
SpecLoader = Callable[[str, "str | None"], LoadedModel]
# (an object, a fallback) -> the name it has in the user's namespace
NameOf = Callable[[Any, str], str]


@dataclass(frozen=True)
class Found:
    """What a cell watcher saw: a model to profile (``model`` with ``inputs`` or
    ``input_shape``, on ``backend``), a profile it builds itself from what it recorded
    (``build``), or a ``note`` saying why something was not profiled."""

    label: str
    model: Any = None
    inputs: Any = None
    input_shape: Any = None
    backend: str = "flopmagic"
    training: bool = False
    build: Callable[[], ModelProfile] | None = None
    note: str = ""
    notes: tuple[str, ...] = ()  # said on the profile (e.g. "counted per sample")
    extra: Any = None  # a result shown after the profiles (a Displayable: a traced generation)


class CellWatcher(Protocol):
    """Watches one cell: ``with watcher.watching(): <cell>``, then ``watcher.found(...)``.
    ``convention`` is the one asked for: what the watcher builds itself (a traced generation)
    is expressed under it; profiles it yields as models are re-expressed by the caller."""

    def watching(self) -> contextlib.AbstractContextManager[Any]: ...

    def found(
        self, name_of: NameOf, *, backend: str, training: bool, convention: str | None = None
    ) -> Iterable[Found]: ...


@dataclass(frozen=True)
class RunTimes:
    """What a :class:`Timer` measured: seconds of each timed run, and per top-level
    module (the model's direct children) the forward seconds of each timed run."""

    samples_s: tuple[float, ...]
    accelerator: str  # "cpu" or "cuda": where the model ran
    layer_samples_s: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    layer_types: Mapping[str, str] = field(default_factory=dict)  # top-level module -> its class name


class Timer(Protocol):
    """Runs a model as flopmagic profiles it and times it (``flopmagic.hardware.time_model``).

    Inference: evaluation mode, no gradients; ``training``: a forward and a backward of the
    sum of the outputs. ``warmup`` untimed runs, then ``repeats`` timed ones, each clock
    read after the device has finished (synchronised), so a time is the device's. With
    ``layers``, a second set of ``repeats`` runs times each top-level module's forward.
    The model is left as it was (mode, buffers, gradients, hooks). Raises HardwareError
    when the model cannot be timed (on a device that computes nothing); other errors are
    the caller's to wrap."""

    def __call__(
        self, model: Any, inputs: Any, *, training: bool, warmup: int, repeats: int, layers: bool
    ) -> RunTimes: ...


@dataclass(frozen=True)
class SavedActivations:
    """Bytes autograd keeps for the backward of one training-mode forward: each storage
    once, parameters excluded; floating tensors apart (the caller rescales them to a
    precision), at ``floating_element_bytes`` per element (0 when there were none)."""

    floating_bytes: int
    floating_element_bytes: int
    other_bytes: int
    method: str  # how they were measured, for notes ("saved_tensors_hooks")


# (model, inputs) -> what one training-mode forward saves for backward; the model is left as it was
SavedActivationsMeter = Callable[[Any, Any], SavedActivations]


@dataclass(frozen=True)
class CalibrationTarget:
    """What a :class:`Calibrator` would measure on this machine, known without measuring
    (it keys the calibration cache): the library and version (``"torch 2.5.1"``), the
    threads it uses, and for an accelerator its name, a title and its memory."""

    library: str
    threads: int
    device_name: str = ""  # the accelerator's name ("NVIDIA H100 80GB HBM3"); "" on the CPU
    memory_bytes: int = 0  # the accelerator's memory; 0 on the CPU (the caller reads the host's)


@dataclass(frozen=True)
class MeasuredRates:
    """The best rates a :class:`Calibrator` measured: FP32 GEMM FLOP/s, the streaming
    copy's bytes/s (read + write) over ``copy_bytes``, and other dtypes' GEMM FLOP/s."""

    gemm_flops: float
    copy_bandwidth: float
    copy_bytes: int
    extra_flops: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Calibrator:
    """Micro-benchmarks of this machine run with the framework's own kernels
    (``flopmagic.hardware.calibrate``, the ``local`` devices).

    ``accelerators``: what it can calibrate (``"cpu"``, ``"cuda"``). ``target(accelerator)``:
    what it would measure, or None when the framework is not installed (then the next
    calibrator, or NumPy on the CPU, is used); raises HardwareError when the framework is
    installed but the accelerator is absent. ``measure(accelerator, gemm_sides,
    copy_elements, repeats)``: square FP32 GEMMs of each side (``2 n^3`` FLOPs each) and a
    streaming copy of ``copy_elements`` FP32 values, each the best of ``repeats`` timed runs
    after a warm-up, synchronised with the device."""

    accelerators: tuple[str, ...]
    target: Callable[[str], CalibrationTarget | None]
    measure: Callable[[str, tuple[int, ...], int, int], MeasuredRates]


@dataclass(frozen=True)
class Adapter:
    """One framework, declared once.

    Attributes:
        name: the framework's name in profiles (``ModelProfile.framework``).
        title: how people call it (``"PyTorch"``).
        recognises: whether an object is this framework's model; must not import the
            framework (look in ``sys.modules``: an object of a framework that is not
            imported cannot exist).
        backends: the counters for its models, the exact ``"flopmagic"`` one first.
        spec_prefixes: ``prefix -> loader`` for specs ``prefix:NAME``.
        spec_help: the spec forms in words, for help texts (``"torchvision:NAME"``).
        file_suffixes: model files it reads (``".onnx"``); a spec ending so is a path.
        reads_other_files: an existing file with no known suffix is read by this adapter.
        needs_inputs: a spec model cannot run without an input shape.
        default_input_shape: the shape a loaded model declares (Keras' ``input_shape``).
        watch_packages: top-level packages a cell imports that this adapter watches
            (imported before the cell runs, so their calls can be wrapped).
        watcher: makes a :class:`CellWatcher` for ``%%profile`` when ``watch_module``
            is imported.
        import_package: imports one of ``watch_packages`` (TensorFlow needs care next
            to PyTorch); default ``importlib.import_module``.
        spec_names: ``prefix -> names`` the prefix's model registry knows (for globs
            such as ``torchvision:resnet*``).
        spec_metadata: ``prefix -> (NAME[@WEIGHTS] -> metadata)``: what the package ships
            offline about a spec's published weights (``weights``, ``acc1_percent``,
            ``acc5_percent``, ``published_gmacs``); never downloads anything.
        make_inputs: ``(model, input_shape) -> inputs``: random inputs of that shape (one
            shape or several) on the model's device, in its dtype (``flopmagic.hardware``
            makes inputs with it to time a model or estimate its memory).
        timer: runs and times a model (:class:`Timer`); declared, the framework's models
            can be timed (``--time``, measured MFU, ``estimate(measure=True)``).
        saved_activation_bytes: measures what one training-mode forward saves for backward
            (:data:`SavedActivationsMeter`); declared, ``estimate`` can give memory to train.
        calibrator: measures this machine's peaks with the framework's kernels
            (:class:`Calibrator`), for the ``local`` and ``local-cuda`` devices.
        language_models: the framework's runtime for :mod:`flopmagic.llm` (token ids, KV
            caches, dtype casts: PyTorch's is ``adapters/torch/llm.py``), or None.
    """

    name: str
    title: str
    recognises: Callable[[Any], bool]
    backends: tuple[Backend, ...]
    spec_prefixes: Mapping[str, SpecLoader] = field(default_factory=dict)
    spec_help: tuple[str, ...] = ()
    file_suffixes: tuple[str, ...] = ()
    reads_other_files: bool = False
    needs_inputs: bool = False
    default_input_shape: Callable[[Any], tuple[int, ...] | None] | None = None
    watch_packages: tuple[str, ...] = ()
    watch_module: str = ""
    watcher: Callable[[], CellWatcher] | None = None
    import_package: Callable[[str], Any] | None = None
    architecture_key: Callable[[str, str], tuple[Any, ...] | None] | None = None
    spec_names: Mapping[str, Callable[[], Sequence[str]]] = field(default_factory=dict)
    spec_metadata: Mapping[str, Callable[[str], Mapping[str, Any]]] = field(default_factory=dict)
    make_inputs: Callable[[Any, Any], Any] | None = None
    timer: Timer | None = None
    saved_activation_bytes: SavedActivationsMeter | None = None
    calibrator: Calibrator | None = None
    language_models: Callable[[], Any] | None = None

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(d, int) for d in value)


def input_shapes(input_shape: Any) -> list[tuple[int, ...]]:
    """``input_shape`` as a list of shapes: one shape ``(1, 3, 224, 224)`` or several
    ``[(1, 3, 8, 8), (1, 10)]``, every dimension at least 1. The one reading of the
    ``input_shape`` option for adapters that make random inputs.

    Raises:
        ProfilingError: not a shape or a list of shapes, or a dimension below 1.
    """
    from ..errors import ProfilingError

    if _is_shape(input_shape):
        shapes = [tuple(input_shape)]
    elif isinstance(input_shape, (list, tuple)) and input_shape and all(_is_shape(s) for s in input_shape):
        shapes = [tuple(s) for s in input_shape]
    else:
        raise ProfilingError(
            f"input_shape {input_shape!r} is not a shape: pass e.g. (1, 3, 224, 224), "
            "or a list of shapes for a model with several inputs"
        )
    for shape in shapes:
        if any(d <= 0 for d in shape):
            raise ProfilingError(f"input shape {shape} has a non-positive dimension; every dimension must be >= 1")
    return shapes


def shape_of(value: Any) -> tuple[int, ...] | None:
    """A tensor-like's shape as integers (unknown dimensions as 1), or None."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) if d is not None else 1 for d in shape)
    except TypeError:
        return None


@contextlib.contextmanager
def patched(owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    """Wrap ``owner.name`` for a block; afterwards the class is as it was (an attribute
    inherited from a base class is removed again, not copied down). Cell watchers use it."""
    own = name in owner.__dict__
    original = owner.__dict__[name] if own else getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def first_shape(values: Sequence[Any] | Any) -> tuple[int, ...] | None:
    """The shape of the first of several inputs (or of the one input)."""
    first = values[0] if isinstance(values, (list, tuple)) and values else values
    return shape_of(first)
