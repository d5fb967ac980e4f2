"""Record every aten op a PyTorch model runs, with the module that ran it.

A ``TorchDispatchMode`` sees each aten op below autograd (so fused kernels such
as ``_native_multi_head_attention`` and the CPU flash-attention kernel are seen
as what they are) and translates it with the aten table. Scope comes from
*global* module hooks (``register_module_forward_pre_hook``), which never touch
the model's own hook dictionaries. In backward, each autograd node was tagged
with the module whose forward created it, and the node being executed names
the scope.

Several top-level modules may run under one recorder (the ``%%profile`` magic
captures every model a cell calls): each becomes a :class:`Root` with its own
records and layers.

Threads and nesting. PyTorch's module hooks are process-global, its dispatch
modes are per thread. flopmagic installs one pair of global hooks while any
recorder is active and routes each call to the recorder active *on the calling
thread*, so profiles in different threads are independent and each exact; a
forward on a thread with no active recorder is not recorded anywhere. A
recorder started while another is active on the same thread (``flopmagic.profile``
inside a ``%%profile`` cell, or inside a forward being profiled) is exact on its
own; the outer one is suspended meanwhile and does not count the inner one's
work (flopmagic's own run on its own inputs), then resumes.

Faults. The hooks accept every way PyTorch calls them (with and without keyword
arguments, and the 3-argument call of the error path); an entry of the module
stack whose forward is no longer running (a ``KeyboardInterrupt`` skips PyTorch's
error-path hooks) is dropped when the next module starts, and everything is
reset when the recorder's block ends, on every path.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ...formulas import OpSpec, Shape
from ...schema import Phase
from .aten import FUNCTIONS, Translator, lookup, shape_of

__all__ = ["RawCall", "Recorder", "Root"]

_aten = torch.ops.aten
_prim = torch.ops.prim

# Metadata queries are not computation; FlopCounterMode skips the same set.
_METADATA = frozenset(
    {
        _aten.sym_is_contiguous.default,
        _aten.is_contiguous.default,
        _aten.is_contiguous.memory_format,
        _aten.is_strides_like_format.default,
        _aten.is_non_overlapping_and_dense.default,
        _aten.size.default,
        _aten.sym_size.default,
        _aten.stride.default,
        _aten.sym_stride.default,
        _aten.storage_offset.default,
        _aten.sym_storage_offset.default,
        _aten.numel.default,
        _aten.sym_numel.default,
        _aten.dim.default,
        _prim.layout.default,
        _prim.device.default,
    }
)


@dataclass(slots=True)
class RawCall:
    """One recorded op before pricing. ``spec`` is None when no translation exists."""

    native: str
    spec: OpSpec | None
    scope: str
    module_type: str
    params: int
    phase: Phase
    floating: bool
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    note: str = ""

    @property
    def within(self) -> str:  # presets2: a call inside F.scaled_dot_product_attention is a MarkedCall (sdpa_scope)
        return ""


@dataclass(slots=True)
class LayerState:
    scope: str
    type: str
    params: int
    calls: int = 0
    output_shapes: tuple[Shape, ...] = ()
    module_class: str = ""  # presets2: the fully qualified class, once per layer (exact-type hooks)


@dataclass(slots=True)
class Root:
    """A top-level module and everything recorded under it."""

    module: torch.nn.Module
    names: dict[int, str]
    own_params: dict[str, int]
    calls: list[RawCall] = field(default_factory=list)
    layers: dict[str, LayerState] = field(default_factory=dict)
    runs: int = 0
    input_shapes: tuple[Shape, ...] = ()
    first_call: tuple[tuple[Any, ...], dict[str, Any]] | None = None


@dataclass(slots=True)
class _Entry:
    """A module call in progress: where its ops go, and the frame that called its hook."""

    root: Root
    scope: str
    module_type: str
    stops: list[Any]
    module: torch.nn.Module
    frame: FrameType | None


@dataclass(frozen=True, slots=True)
class _OpInfo:
    native: str
    packet: str
    translator: Translator | None
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    skip: bool = False  # a metadata query or not an OpOverload: run it, record nothing


def _op_info(func: Any) -> _OpInfo:
    if func in _METADATA or not isinstance(func, torch._ops.OpOverload):
        return _OpInfo(str(func), "", None, (), {}, skip=True)
    packet = str(func._overloadpacket)
    schema = func._schema
    names = tuple(arg.name for arg in schema.arguments)
    defaults = {arg.name: arg.default_value for arg in schema.arguments if arg.has_default_value()}
    return _OpInfo(str(func), packet, lookup(packet), names, defaults)


def _bind(info: _OpInfo, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments by schema name, in schema order (positional, keyword, then defaults)."""
    bound = dict(zip(info.names, args))
    for name in info.names[len(args) :]:
        if name in kwargs:
            bound[name] = kwargs[name]
        elif name in info.defaults:
            bound[name] = info.defaults[name]
    return bound


_PLAIN = (torch.Tensor, torch.nn.Parameter)
_SCALARS = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout})
_SEQUENCES = (list, tuple)


def _encode(parts: list[Any], value: Any, nested: bool) -> bool:
    """Append a flat, unambiguous encoding of one argument: a plain tensor by shape and
    dtype (translators read shapes only; dtype decides floating), a scalar by its type
    and value (1, 1.0 and True hash alike but may translate apart), a list or tuple by
    its type, length and items (one level). False: no such encoding (a tensor subclass
    may hold symbolic sizes; other objects), the call is not cached."""
    kind = type(value)
    if kind in _PLAIN:
        parts += (torch.Tensor, value.shape, value.dtype)
        return True
    if kind in _SCALARS:
        parts += (kind, value)
        return True
    if kind in _SEQUENCES and not nested:
        parts += (kind, len(value))
        for item in value:  # noqa: SIM110 (a loop: no generator per call on the hot path)
            if not _encode(parts, item, True):
                return False
        return True
    return False


def _signature(info: _OpInfo, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> tuple[Any, ...] | None:
    """The op's call signature, outputs included (data-dependent shapes such as a boolean
    mask's): everything a translator reads. None when an argument has no flat encoding."""
    parts: list[Any] = [info.native, len(args)]
    for value in args:
        if not _encode(parts, value, False):
            return None
    for name, value in kwargs.items():
        parts.append(name)
        if not _encode(parts, value, False):
            return None
    parts.append(None)  # outputs follow
    if not _encode(parts, out, False):
        return None
    return tuple(parts)


def _flat_tensors(values: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


def output_shapes(output: Any) -> tuple[Shape, ...]:
    """Shapes of every tensor in a module's output (tuples, dicts, dataclass outputs)."""
    if isinstance(output, torch.Tensor):  # the common case, without walking a tree
        return (shape_of(output),)
    from torch.utils._pytree import tree_leaves

    try:
        leaves = tree_leaves(output)
    except Exception:  # an output type pytree cannot walk: report what is directly visible
        leaves = [output]
    return tuple(shape_of(t) for t in leaves if isinstance(t, torch.Tensor))


class _Mode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recorder = recorder
        self.cache: dict[Any, _OpInfo] = {}

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        # one dict lookup per op: the cache also knows which ops are not recorded
        info = self.cache.get(func)
        if info is None:
            info = self.cache[func] = _op_info(func)
        recorder = self.recorder
        if info.skip or recorder.suspended or (recorder.ignore_compiling and torch.compiler.is_compiling()):
            return func(*args, **kwargs)
        if info.translator is None and info.packet not in recorder.overrides:
            # An op with no entry may be a composite: record what it decomposes into.
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        recorder.record(info, args, kwargs, out)
        return out


class _FunctionMode(TorchFunctionMode):
    """For meta-device runs: records the torch-level functions in ``FUNCTIONS`` (scaled
    dot-product attention) as one op, the way the CPU runs them as one fused kernel,
    instead of the math decomposition PyTorch picks for meta tensors.

    Used only on meta tensors: an active function mode makes PyTorch skip its fused
    fast paths, which meta tensors cannot take anyway.
    """

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recorder = recorder

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        entry = FUNCTIONS.get(func)
        if entry is None or self.recorder.silenced or self.recorder.suspended:
            return func(*args, **kwargs)
        native, translate = entry
        self.recorder.silenced = True
        try:
            out = func(*args, **kwargs)
        finally:
            self.recorder.silenced = False
        spec: OpSpec | None = None
        note = ""
        try:
            spec = translate(args, kwargs, out)
        except Exception as error:  # report the op instead of guessing its cost
            note = f"could not read its arguments ({type(error).__name__}: {error})"
        self.recorder.append(
            native, spec, _flat_tensors(args) + _flat_tensors(kwargs.values()), _flat_tensors((out,)), note
        )
        return out


class Recorder:
    """Collects raw calls per root module while its context managers are active."""

    def __init__(
        self,
        *,
        track_backward: bool = False,
        overrides: Mapping[str, Any] | None = None,
        ignore_compiling: bool = False,
    ) -> None:
        self.track_backward = track_backward
        # Capture mode: work PyTorch does while compiling or exporting a model (tracing
        # with fake tensors) is not what the user's code computes; step aside.
        self.ignore_compiling = ignore_compiling
        self.overrides = dict(overrides or {})
        self.roots: dict[int, Root] = {}
        self.loose: list[RawCall] = []  # ops outside any module (the magic reports them)
        self.param_numel: dict[int, int] = {}
        self._keep: list[torch.Tensor] = []
        # None: tell forward from backward by asking the autograd engine (capture mode,
        # where the user's own code may call backward()).
        self.phase: Phase | None = "forward"
        self._stack: list[_Entry] = []
        self._node_scope: dict[Any, tuple[Root, str, str]] = {}
        self._dispatch_mode = _Mode(self)
        self.silenced = False
        self._specs: dict[tuple[Any, ...], tuple[OpSpec | None, str]] = {}
        # > 0 while a recorder started later on the same thread is active (nested profile)
        self.suspended = 0

    @contextlib.contextmanager
    def active(self, *, meta: bool = False) -> Iterator[None]:
        """Record every op run inside this block (``meta``: see :class:`_FunctionMode`)."""
        if meta:
            with _FunctionMode(self), self._dispatch_mode:
                yield
        else:
            with self._dispatch_mode:
                yield

    # -- roots and parameters -----------------------------------------------------------
    def add_root(
        self,
        module: torch.nn.Module,
        params: Sequence[torch.Tensor] | None = None,
        named: Sequence[tuple[str, torch.nn.Module]] | None = None,
    ) -> Root:
        """Register a top-level module; ``params`` replaces its parameters (meta stand-ins);
        ``named`` is its ``named_modules(remove_duplicate=False)`` if the caller has it."""
        existing = self.roots.get(id(module))
        if existing is not None:
            return existing
        names: dict[int, str] = {}
        subs: dict[int, torch.nn.Module] = {}
        for name, sub in named if named is not None else module.named_modules(remove_duplicate=False):
            if id(sub) not in names:  # a shared module keeps its first name
                names[id(sub)] = name
                subs[id(sub)] = sub
        seen: set[int] = set()
        own: dict[str, int] = {}
        for key, sub in subs.items():
            count = 0
            for param in sub._parameters.values():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    count += param.numel()
            own[names[key]] = count
        tensors = list(params) if params is not None else list(module.parameters())
        for tensor in tensors:
            self.param_numel[id(tensor)] = tensor.numel()
            self._keep.append(tensor)
        root = Root(module=module, names=names, own_params=own)
        self.roots[id(module)] = root
        return root

    def _params_read(self, tensors: list[torch.Tensor]) -> int:
        numel = self.param_numel
        total = 0
        seen: set[int] = set()
        for tensor in tensors:
            key = id(tensor)
            if key not in numel:
                base = tensor._base
                if base is None:
                    continue
                key = id(base)
                if key not in numel:
                    continue
            if key not in seen:
                seen.add(key)
                total += numel[key]
        return total

    # -- scopes ---------------------------------------------------------------------------
    def _phase(self) -> Phase:
        if self.phase is not None:
            return self.phase
        return "backward" if torch._C._current_autograd_node() is not None else "forward"

    def _current(self, phase: Phase) -> tuple[Root | None, str, str]:
        if phase == "backward":
            node = torch._C._current_autograd_node()
            tagged = self._node_scope.get(node) if node is not None else None
            if tagged is not None:
                return tagged
            if self.roots:
                root = next(iter(self.roots.values()))
                return root, "", type(root.module).__name__
            return None, "", ""
        if self._stack:
            entry = self._stack[-1]
            return entry.root, entry.scope, entry.module_type
        return None, "", ""

    def _stepping_aside(self) -> bool:
        return self.ignore_compiling and torch.compiler.is_compiling()

    def _drop_finished(self, frame: FrameType | None) -> None:
        """Drop stack entries whose forward is no longer running: a module interrupted by a
        ``BaseException`` (Ctrl-C) that PyTorch's error-path hooks do not see, then caught.
        An entry is running while its hook's caller frame is an ancestor of ``frame``."""
        stack = self._stack
        while stack:
            target = stack[-1].frame
            current = frame
            while current is not None and current is not target:
                current = current.f_back
            if current is not None:
                return
            stack.pop()

    def _pre_hook(self, module: torch.nn.Module, args: Any, frame: FrameType | None) -> None:
        if self._stepping_aside():
            return
        if self._stack:
            self._drop_finished(frame)
        if self._stack:
            root = self._stack[-1].root
        else:
            root = self.roots.get(id(module)) or self.add_root(module)
            root.runs += 1
        scope = root.names.get(id(module))
        if scope is None:  # a module outside the root's tree (built during forward)
            parent = self._stack[-1].scope if self._stack else ""
            scope = f"{parent}.{type(module).__name__}" if parent else type(module).__name__
        if scope not in root.layers:  # rows follow the order layers start running
            kind = type(module)
            qualified = f"{kind.__module__}.{kind.__qualname__}"  # presets2: exact type vs subclass
            root.layers[scope] = LayerState(scope, kind.__name__, root.own_params.get(scope, 0), module_class=qualified)
        stops: list[Any] = []
        if self.track_backward:
            stops = [t.grad_fn for t in _flat_tensors(args) if t.grad_fn is not None]
        self._stack.append(_Entry(root, scope, type(module).__name__, stops, module, frame))

    def _post_hook(self, module: torch.nn.Module, args: Any, kwargs: Mapping[str, Any], output: Any, ok: bool) -> None:
        """``ok``: the forward returned (False: PyTorch's error path, the call is not counted)."""
        stack = self._stack
        if not stack or self._stepping_aside():
            return
        # normally the top entry; entries above it are calls a BaseException cut short
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth].module is module:
                break
        else:
            return
        entry = stack[depth]
        del stack[depth:]
        if not ok:
            return
        root, scope = entry.root, entry.scope
        if not stack and root.first_call is None:  # the root's first call: remember its inputs
            root.first_call = (tuple(args), dict(kwargs))
            root.input_shapes = output_shapes((args, kwargs))
        layer = root.layers[scope]
        layer.calls += 1
        if layer.calls == 1:
            layer.output_shapes = output_shapes(output)
        if self.track_backward:
            self._tag(output, (root, scope, entry.module_type), entry.stops)

    def _tag(self, output: Any, owner: tuple[Root, str, str], stops: list[Any]) -> None:
        """Attribute the autograd nodes this module call created to it (innermost first)."""
        from torch.utils._pytree import tree_leaves

        stop = set(stops)
        pending = [t.grad_fn for t in tree_leaves(output) if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        visited: set[Any] = set()
        while pending:
            node = pending.pop()
            if node is None or node in stop or node in visited:
                continue
            visited.add(node)
            self._node_scope.setdefault(node, owner)
            pending.extend(next_node for next_node, _ in node.next_functions if next_node is not None)

    @contextlib.contextmanager
    def hooks(self) -> Iterator[None]:
        """Route the global module hooks to this recorder on this thread for the block.

        On exit (normal, error or ``KeyboardInterrupt``) the recorder is unlinked, its
        module stack cleared, an outer recorder resumed and the global hooks removed
        when no recorder is left."""
        stack = _thread_recorders()
        outer = stack[-1] if stack else None
        _HOOKS.acquire()
        try:
            if outer is not None:
                outer.suspended += 1
            stack.append(self)
            yield
        finally:
            try:
                for index in range(len(stack) - 1, -1, -1):
                    if stack[index] is self:
                        del stack[index]
                        break
                self._stack.clear()
                if outer is not None:
                    outer.suspended -= 1
            finally:
                _HOOKS.release()

    # -- recording ---------------------------------------------------------------------------
    def record(self, info: _OpInfo, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> None:
        if self.silenced:  # inside a function recorded as one op
            return
        spec: OpSpec | None = None
        note = ""
        if info.translator is not None:
            # Translators read shapes and arguments only: an op called again with the same
            # signature (inputs, outputs, scalars) gets the same spec object, which the
            # pricing step then prices once (its cache keys on the spec's identity).
            key = _signature(info, args, kwargs, out)
            cached = self._specs.get(key) if key is not None else None
            if cached is not None:
                spec, note = cached
            else:
                try:
                    spec = info.translator(_bind(info, args, kwargs), out)
                except Exception as error:  # report the op instead of guessing its cost
                    note = f"could not read its arguments ({type(error).__name__}: {error})"
                if key is not None:
                    self._specs[key] = (spec, note)
        tensors_in = _flat_tensors(args)
        if kwargs:
            tensors_in += _flat_tensors(kwargs.values())
        if isinstance(out, torch.Tensor):  # the common case
            tensors_out = [out]
        else:
            tensors_out = _flat_tensors(out if isinstance(out, (list, tuple)) else (out,))
        self.append(info.native, spec, tensors_in, tensors_out, note)

    def append(
        self,
        native: str,
        spec: OpSpec | None,
        tensors_in: list[torch.Tensor],
        tensors_out: list[torch.Tensor],
        note: str,
    ) -> None:
        phase = self.phase if self.phase is not None else self._phase()
        root: Root | None
        if phase == "forward" and self._stack:  # the common case, without a call
            entry = self._stack[-1]
            root, scope, module_type = entry.root, entry.scope, entry.module_type
        else:
            root, scope, module_type = self._current(phase)
        floating = False
        for tensor in tensors_out or tensors_in:  # outputs decide; inputs for in-place/no-output ops
            if tensor.is_floating_point() or tensor.is_complex():
                floating = True
                break
        if not floating and tensors_out:  # a compare of floats gives bools: the work was on floats
            floating = any(t.is_floating_point() for t in tensors_in)
        params = self._params_read(tensors_in)
        # raw shapes are kept only for ops without a spec (unsupported): the spec has them otherwise
        call = RawCall(
            native=native,
            spec=spec,
            scope=scope,
            module_type=module_type,
            params=params,
            phase=phase,
            floating=floating,
            inputs=() if spec is not None else tuple(shape_of(t) for t in tensors_in),
            outputs=() if spec is not None else tuple(shape_of(t) for t in tensors_out),
            note=note,
        )
        (root.calls if root is not None else self.loose).append(call)


# -- one pair of global hooks, routed to the recorder active on the calling thread ----------

_local = threading.local()


def _thread_recorders() -> list[Recorder]:
    """This thread's active recorders, innermost last."""
    stack: list[Recorder] | None = getattr(_local, "recorders", None)
    if stack is None:
        stack = _local.recorders = []
    return stack


def _global_pre_hook(module: torch.nn.Module, args: Any, *rest: Any) -> None:
    stack: list[Recorder] | None = getattr(_local, "recorders", None)
    if stack:
        stack[-1]._pre_hook(module, args, sys._getframe(1))


def _global_post_hook(module: torch.nn.Module, args: Any, *rest: Any) -> None:
    """PyTorch calls ``(module, args, kwargs, output)`` after a forward (the hook is
    registered with kwargs), and ``(module, args, output)`` on its error path."""
    stack: list[Recorder] | None = getattr(_local, "recorders", None)
    if not stack:
        return
    if len(rest) >= 2:
        kwargs = rest[0] if isinstance(rest[0], Mapping) else {}
        stack[-1]._post_hook(module, args, kwargs, rest[-1], True)
    else:
        stack[-1]._post_hook(module, args, {}, rest[-1] if rest else None, False)


class _GlobalHooks:
    """Installs the two global hooks while at least one recorder (any thread) is active."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._handles: tuple[Any, Any] | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._handles is None:
                module = torch.nn.modules.module
                pre = module.register_module_forward_pre_hook(_global_pre_hook)
                try:
                    post = module.register_module_forward_hook(_global_post_hook, with_kwargs=True, always_call=True)
                except BaseException:
                    pre.remove()
                    raise
                self._handles = (pre, post)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0 and self._handles is not None:
                for handle in self._handles:
                    handle.remove()
                self._handles = None
                self._users = 0

    @property
    def installed(self) -> bool:
        return self._handles is not None


_HOOKS = _GlobalHooks()
