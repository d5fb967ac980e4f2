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
import dataclasses
import signal
import sys
import threading
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from ...formulas import OpSpec, Shape
from ...schema import Phase
from .aten import FUNCTIONS, Translator, lookup, shape_of
from .leaves import Leaf, leaf_of

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
    within: str = ""  # the function whose decomposition issued it (see .sdpa_scope)


@dataclass(slots=True)
class LayerState:
    scope: str
    type: str
    params: int
    calls: int = 0
    output_shapes: tuple[Shape, ...] = ()
    module_class: str = ""  # the fully qualified class (presets for tools that hook exact types)


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

    owner: tuple[Root, str, str]  # (root, scope, module type): what its ops are recorded under
    layer: LayerState
    stops: list[Any]
    module: torch.nn.Module
    frame: FrameType | None
    # a leaf run with the dispatch mode set aside: its ops are noted when it returns
    aside: Leaf | None = None
    # a leaf variant's first call in the process: dispatched, then compared with its replay;
    # ``start`` is where its ops begin in the pending list (also for a leaf run aside)
    check: Leaf | None = None
    start: int = 0
    # a leaf that was running aside when Ctrl-C arrived: the mode was put back at once (the rest
    # of its ops went through it); if it still returns, its calls are replayed whole
    resumed: Leaf | None = None


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


_TENSOR = torch.Tensor
_PARAMETER = torch.nn.Parameter
_SCALARS = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout})
_SEQUENCES = (list, tuple)


@dataclass(frozen=True, slots=True)
class _Template:
    """What every call of one signature records alike: its translation, whether it
    worked on floating-point data, and (only without a translation) its raw shapes."""

    native: str
    spec: OpSpec | None
    note: str
    floating: bool
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    within: str = ""


_NOWHERE: tuple[Root | None, str, str] = (None, "", "")  # ops outside any module

# op overload -> what it is (reading an op's schema costs tens of microseconds: once per process)
_OP_INFO: dict[Any, _OpInfo] = {}

# Templates by call signature, shared by every recorder in the process: a template is a pure
# function of its signature (translators read shapes, dtypes and scalars, all in the key), so
# a model profiled again, or another model with the same layers, translates nothing twice.
_TEMPLATES: dict[tuple[Any, ...], _Template] = {}
_TEMPLATES_MAX = 200_000  # then start afresh: a bound on memory, not a cost on the hot path

# a leaf call's ops by its key (see .leaves.Leaf.key): (template, parameter names it reads)
_LeafOps = tuple[tuple[_Template, tuple[str, ...]], ...]
_LEAF_OPS: dict[Hashable, _LeafOps] = {}

# leaf variants checked in this process: True, replayed; False, its replay differed (dispatch path)
_VARIANTS: dict[Hashable, bool] = {}
_module_hooks = torch.nn.modules.module

# a recorded call, until the block ends: (template, (root, scope, module type), phase, params read)
_Pending = tuple[_Template, tuple["Root | None", str, str], Phase, int]


def _scan(parts: list[Any], params: list[int], numel: Mapping[int, int], values: Any, nested: bool = False) -> bool:
    """Append a flat, unambiguous encoding of ``values`` (an op's arguments or outputs)
    to ``parts`` and the keys of the parameters they read to ``params``.

    A plain tensor is encoded by shape and dtype (translators read shapes only; the
    dtype decides floating), a scalar by its type and value (1, 1.0 and True hash
    alike but may translate apart), a list or tuple by its type, length and items (one
    level: ``nested`` is set for its items). A parameter is found by identity, or as the
    base of a view (``weight.t()``). False: some value has no such encoding (a tensor
    subclass may hold symbolic sizes; deeper nesting; other objects), and the call is not
    cached."""
    for value in values:
        kind = type(value)
        if kind is _TENSOR or kind is _PARAMETER:
            parts.append(value.shape)
            parts.append(value.dtype)
            key = id(value)
            if key in numel:
                params.append(key)
            else:
                base = value._base
                if base is not None and id(base) in numel:
                    params.append(id(base))
        elif kind in _SCALARS:
            parts.append(kind)
            parts.append(value)
        elif (kind is list or kind is tuple) and not nested:
            parts.append(kind)
            parts.append(len(value))
            if not _scan(parts, params, numel, value, True):
                return False
        else:
            return False
    return True


def _floating(tensors_in: list[torch.Tensor], tensors_out: list[torch.Tensor]) -> bool:
    """Whether the op worked on floating-point (or complex) data: outputs decide;
    inputs for in-place and no-output ops, and for a compare of floats (bools out)."""
    for tensor in tensors_out or tensors_in:
        if tensor.is_floating_point() or tensor.is_complex():
            return True
    return bool(tensors_out) and any(t.is_floating_point() for t in tensors_in)


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
        # what each op is (schema names, defaults, translator): the same for every recorder
        self.cache = _OP_INFO

    def info(self, func: Any) -> _OpInfo:
        info = self.cache.get(func)
        if info is None:
            info = self.cache[func] = _op_info(func)
        return info

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
        fast: bool = False,
    ) -> None:
        """``fast``: run the standard leaf modules (:mod:`.leaves`) with the dispatch mode
        set aside and replay their ops (inference on real tensors; the caller decides)."""
        self.track_backward = track_backward
        self.fast = fast
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
        self._pending: list[_Pending] = []
        # > 0 while a recorder started later on the same thread is active (nested profile)
        self.suspended = 0

    @contextlib.contextmanager
    def active(self, *, meta: bool = False) -> Iterator[None]:
        """Record every op run inside this block (``meta``: see :class:`_FunctionMode`)."""
        try:
            if meta:
                with _FunctionMode(self), self._dispatch_mode:
                    try:
                        yield
                    finally:
                        self._step_back_in()
            else:
                with self._dispatch_mode:
                    try:
                        yield
                    finally:
                        self._step_back_in()
        finally:
            self.flush()

    # -- roots and parameters -----------------------------------------------------------
    def add_root(
        self,
        module: torch.nn.Module,
        params: Sequence[torch.Tensor] | None = None,
        named: Sequence[tuple[str, torch.nn.Module]] | None = None,
    ) -> Root:
        """Register a top-level module. ``params``: the tensors that count as its parameters
        (its own, or the meta stand-ins a meta run swaps in), if the caller has listed them;
        ``named``: its ``named_modules(remove_duplicate=False)``, likewise."""
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
            return _NOWHERE
        if self._stack:
            return self._stack[-1].owner
        return _NOWHERE

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
            self._step_back_in()  # the dropped entry may be a leaf running aside
            stack.pop()

    def _pre_hook(self, module: torch.nn.Module, args: Any, frame: FrameType | None) -> None:
        if self.ignore_compiling and torch.compiler.is_compiling():
            return
        stack = self._stack
        if stack:
            self._drop_finished(frame)
        key = id(module)
        if stack:
            top = stack[-1]
            root = top.owner[0]
        else:
            root = self.roots.get(key) or self.add_root(module)
            root.runs += 1
        kind = type(module).__name__
        scope = root.names.get(key)
        if scope is None:  # a module outside the root's tree (built during forward)
            parent = stack[-1].owner[1] if stack else ""
            scope = f"{parent}.{kind}" if parent else kind
        layer = root.layers.get(scope)
        if layer is None:  # rows follow the order layers start running
            cls = type(module)  # the qualified class tells an exact torch.nn type from a subclass
            layer = root.layers[scope] = LayerState(
                scope, kind, root.own_params.get(scope, 0), module_class=f"{cls.__module__}.{cls.__qualname__}"
            )
        stops: list[Any] = []
        if self.track_backward:
            stops = [t.grad_fn for t in _flat_tensors(args) if t.grad_fn is not None]
        entry = _Entry((root, scope, kind), layer, stops, module, frame)
        stack.append(entry)
        if self.fast:
            self._maybe_step_aside(entry, module, args)

    # -- the leaf fast path (see .leaves) ----------------------------------------------------
    def _maybe_step_aside(self, entry: _Entry, module: torch.nn.Module, args: Any) -> None:
        leaf = leaf_of(module, args)
        if leaf is None:
            return
        state = _VARIANTS.get(leaf[0])
        if state is None:  # this variant's first call in the process: dispatch it, then compare
            entry.check = leaf
            entry.start = len(self._pending)
            return
        if not state or self.silenced or self.suspended:
            return
        # nothing that changes what a leaf runs: autocast (casts), a functorch transform
        # (vmap: the leaf sees per-sample shapes), a torch-function mode (may rewrite calls)
        if (
            torch._C._is_any_autocast_enabled()
            or torch._C._functorch.peek_interpreter_stack() is not None
            or torch._C._len_torch_function_stack()
        ):
            return
        # only when nothing else could see the leaf's ops: this recorder's mode on top of the
        # dispatch stack, and no global module hook but flopmagic's (another one runs inside)
        depth = torch._C._len_torch_dispatch_stack()
        if depth == 0 or torch._C._get_dispatch_stack_at(depth - 1) is not self._dispatch_mode:
            return
        hooks = _module_hooks
        if (
            len(hooks._global_forward_pre_hooks) != 1
            or len(hooks._global_forward_hooks) != 1
            or hooks._global_backward_hooks
            or hooks._global_backward_pre_hooks
        ):
            return
        torch._C._pop_torch_dispatch_stack(None)
        entry.aside = leaf
        entry.start = len(self._pending)

    def _resume(self) -> None:
        """Ctrl-C arrived (the SIGINT handler runs between two bytecodes of this thread): put
        the dispatch mode back now, so that a model which catches the ``KeyboardInterrupt``
        and goes on is recorded op by op from here, not only from its next module call."""
        stack = self._stack
        if stack and stack[-1].aside is not None:
            entry = stack[-1]
            entry.resumed, entry.aside = entry.aside, None
            torch._C._push_on_torch_dispatch_stack(self._dispatch_mode)

    def _step_back_in(self) -> None:
        """Put the dispatch mode back if a leaf set it aside and never returned (Ctrl-C)."""
        stack = self._stack
        if stack and stack[-1].aside is not None:
            stack[-1].aside = None
            torch._C._push_on_torch_dispatch_stack(self._dispatch_mode)

    def _note_leaf(self, entry: _Entry, leaf: Leaf, x: torch.Tensor, output: Any) -> None:
        """Note the ops of a leaf call run aside: looked up by the call's key (one dict
        lookup and an append per op), or replayed the first time a key is seen."""
        module = entry.module
        key = leaf[2]
        ops = _LEAF_OPS.get(key)
        if ops is None:
            ops = self._replay(entry, leaf, x, output)
            # kept only for a plain tensor output (what every replay here produces); otherwise
            # the call was replayed, not looked up
            if ops is not None and type(output) is torch.Tensor:
                if len(_LEAF_OPS) >= _TEMPLATES_MAX:
                    _LEAF_OPS.clear()
                _LEAF_OPS[key] = ops
            return
        numel = self.param_numel
        weights = module._parameters
        owner = entry.owner
        pending = self._pending
        for template, names in ops:
            params = 0
            for name in names:
                tensor = weights.get(name)
                if tensor is not None:
                    params += numel.get(id(tensor), 0)
            pending.append((template, owner, "forward", params))

    def _replay(self, entry: _Entry, leaf: Leaf, x: torch.Tensor, output: Any) -> _LeafOps | None:
        """Record a leaf call's ops as the dispatch mode would have; return them as
        (template, names of the module's parameters each reads), or None if it failed."""
        info = self._dispatch_mode.info
        record = self.record
        names = {id(t): name for name, t in entry.module._parameters.items() if t is not None}
        reads: list[tuple[str, ...]] = []

        def note(func: Any, op_args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
            record(info(func), op_args, kwargs, out)
            found: list[str] = []
            for value in op_args:
                for tensor in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(tensor, torch.Tensor):
                        name = names.get(id(tensor)) or (
                            names.get(id(tensor._base)) if tensor._base is not None else None
                        )
                        if name is not None:
                            found.append(name)
            reads.append(tuple(dict.fromkeys(found)))

        start = len(self._pending)
        try:
            # the views and scratch tensors a replay makes are not the model's ops: no mode sees them
            with torch._C._DisableTorchDispatch():
                leaf[1](entry.module, x, output, note)
        except Exception as error:  # never lose the call: report it instead of guessing
            del self._pending[start:]
            why = f"could not replay its ops ({type(error).__name__}: {error})"
            self._pending.append(
                (_Template(f"{entry.owner[2]} (replayed)", None, why, True), entry.owner, "forward", 0)
            )
            return None
        return tuple((item[0], read) for item, read in zip(self._pending[start:], reads, strict=True))

    def _check(self, entry: _Entry, x: torch.Tensor, output: Any) -> None:
        """Compare a variant's first replay with what the dispatch mode recorded for it."""
        leaf = entry.check
        assert leaf is not None
        start = entry.start
        seen = self._pending[start:]
        del self._pending[start:]
        try:
            self._replay(entry, leaf, x, output)
            _VARIANTS[leaf[0]] = self._pending[start:] == seen
        finally:
            self._pending[start:] = seen

    def _post_hook(self, module: torch.nn.Module, args: Any, kwargs: Mapping[str, Any], output: Any, ok: bool) -> None:
        """``ok``: the forward returned (False: PyTorch's error path, the call is not counted)."""
        stack = self._stack
        if not stack or (self.ignore_compiling and torch.compiler.is_compiling()):
            return
        # normally the top entry; entries above it are calls a BaseException cut short
        entry = stack[-1]
        if entry.module is not module:
            for depth in range(len(stack) - 2, -1, -1):
                if stack[depth].module is module:
                    break
            else:
                return
            self._step_back_in()
            del stack[depth + 1 :]
            entry = stack[-1]
        if entry.aside is not None:
            if ok:
                self._note_leaf(entry, entry.aside, args[0], output)
            self._step_back_in()
        elif entry.resumed is not None and ok:  # interrupted, caught inside, returned: replay it whole
            del self._pending[entry.start :]
            self._note_leaf(entry, entry.resumed, args[0], output)
        elif entry.check is not None and ok and not kwargs:
            self._check(entry, args[0], output)
        stack.pop()
        if not ok:
            return
        if not stack:
            root = entry.owner[0]
            if root.first_call is None:  # the root's first call: remember its inputs
                root.first_call = (tuple(args), dict(kwargs))
                root.input_shapes = output_shapes((args, kwargs))
        layer = entry.layer
        layer.calls += 1
        if layer.calls == 1:
            layer.output_shapes = output_shapes(output)
        if self.track_backward:
            self._tag(output, entry.owner, entry.stops)

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
            with _sigint_resumes() if self.fast else contextlib.nullcontext():
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
        """Note one op. The hot path: one walk over the arguments gives both the call's
        signature and the parameters it reads. Translators read shapes and arguments
        only, so an op called again with the same signature (inputs, outputs, scalars)
        reuses the first call's template (one translation, one spec object, which the
        pricing step then prices once: its cache keys on the spec's identity), also
        across recorders (:data:`_TEMPLATES`)."""
        if self.silenced:  # inside a function recorded as one op
            return
        numel = self.param_numel
        parts: list[Any] = [info.native, len(args)]
        read: list[int] = []
        cacheable = _scan(parts, read, numel, args)
        if cacheable and kwargs:
            for name, value in kwargs.items():
                parts.append(name)
                if not _scan(parts, read, numel, (value,)):
                    cacheable = False
                    break
        if cacheable:
            parts.append(None)  # outputs follow (data-dependent shapes, such as a boolean mask's)
            if type(out) is _TENSOR:  # the common case, without a call
                parts.append(out.shape)
                parts.append(out.dtype)
            else:
                cacheable = _scan(parts, [], numel, (out,))
        key = tuple(parts) if cacheable else None
        template = _TEMPLATES.get(key) if key is not None else None
        if template is None:
            template = self._template(info, args, kwargs, out)
            if key is not None:
                if len(_TEMPLATES) >= _TEMPLATES_MAX:
                    _TEMPLATES.clear()
                _TEMPLATES[key] = template
        if not cacheable:  # the walk stopped early: find the parameters the slow way
            tensors_in = _flat_tensors(args)
            if kwargs:
                tensors_in += _flat_tensors(kwargs.values())
            params = self._params_read(tensors_in)
        elif not read:
            params = 0
        elif len(read) == 1:
            params = numel[read[0]]
        else:  # a parameter read twice by one op counts once
            params = sum(numel[k] for k in dict.fromkeys(read))
        phase = self.phase if self.phase is not None else self._phase()
        stack = self._stack
        owner = stack[-1].owner if phase == "forward" and stack else self._current(phase)
        self._pending.append((template, owner, phase, params))

    def _template(self, info: _OpInfo, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> _Template:
        spec: OpSpec | None = None
        note = ""
        if info.translator is not None:
            try:
                spec = info.translator(_bind(info, args, kwargs), out)
            except Exception as error:  # report the op instead of guessing its cost
                note = f"could not read its arguments ({type(error).__name__}: {error})"
        tensors_in = _flat_tensors(args)
        if kwargs:
            tensors_in += _flat_tensors(kwargs.values())
        if isinstance(out, torch.Tensor):  # the common case
            tensors_out = [out]
        else:
            tensors_out = _flat_tensors(out if isinstance(out, (list, tuple)) else (out,))
        return self._make_template(info.native, spec, tensors_in, tensors_out, note)

    @staticmethod
    def _make_template(
        native: str, spec: OpSpec | None, tensors_in: list[torch.Tensor], tensors_out: list[torch.Tensor], note: str
    ) -> _Template:
        # raw shapes are kept only for ops without a spec (unsupported): the spec has them otherwise
        if spec is not None:
            return _Template(native, spec, note, _floating(tensors_in, tensors_out))
        return _Template(
            native,
            None,
            note,
            _floating(tensors_in, tensors_out),
            tuple(shape_of(t) for t in tensors_in),
            tuple(shape_of(t) for t in tensors_out),
        )

    def append(
        self,
        native: str,
        spec: OpSpec | None,
        tensors_in: list[torch.Tensor],
        tensors_out: list[torch.Tensor],
        note: str,
    ) -> None:
        """Note one op recorded whole (a torch-level function on meta tensors)."""
        phase = self.phase if self.phase is not None else self._phase()
        stack = self._stack
        owner = stack[-1].owner if phase == "forward" and stack else self._current(phase)
        template = self._make_template(native, spec, tensors_in, tensors_out, note)
        self._pending.append((template, owner, phase, self._params_read(tensors_in)))

    def pending(self) -> int:
        """How many calls are noted so far (a position for :meth:`mark`)."""
        return len(self._pending)

    def mark(self, start: int, within: str) -> None:
        """Label the calls noted since ``start`` as issued inside the function ``within``."""
        pending = self._pending
        for index in range(start, len(pending)):
            template, owner, phase, params = pending[index]
            if template.within != within:
                pending[index] = (dataclasses.replace(template, within=within), owner, phase, params)

    def flush(self) -> None:
        """Turn the calls noted so far into :class:`RawCall` objects on their roots (or
        :attr:`loose`), in the order they ran. Called when a recording block ends: the
        hot path only appends a tuple per op."""
        pending, self._pending = self._pending, []
        loose = self.loose
        for template, (root, scope, module_type), phase, params in pending:
            call = RawCall(
                template.native,
                template.spec,
                scope,
                module_type,
                params,
                phase,
                template.floating,
                template.inputs,
                template.outputs,
                template.note,
                template.within,
            )
            (root.calls if root is not None else loose).append(call)


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
        first = rest[0]
        kwargs = first if type(first) is dict or isinstance(first, Mapping) else {}
        stack[-1]._post_hook(module, args, kwargs, rest[-1], True)
    else:
        stack[-1]._post_hook(module, args, {}, rest[-1] if rest else None, False)


@contextlib.contextmanager
def _sigint_resumes() -> Iterator[None]:
    """While the block runs on the main thread, Ctrl-C first puts back the dispatch mode of
    any leaf running aside (:meth:`Recorder._resume`), then runs the handler that was there.
    A signal's handler runs in the main thread between two bytecodes, so it sees the leaf
    still running. Elsewhere (another thread, no Python-level handler) nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_DFL, SIG_IGN or a handler not set from Python: leave it
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> Any:
        for recorder in _thread_recorders():
            recorder._resume()
        return previous(signum, frame)

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # an interpreter that refuses handlers: no resume, as before
        yield
        return
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:  # someone who set another keeps theirs
            signal.signal(signal.SIGINT, previous)


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
