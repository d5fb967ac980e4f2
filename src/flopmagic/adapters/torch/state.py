"""Leave the user's model exactly as it was: snapshot before profiling, restore after.

Covers training flags, ``requires_grad``, ``.grad`` tensors, buffers (BatchNorm
running statistics are updated by a training-mode forward), parameter and
buffer identity (``functional_call`` swaps them), and every hook dictionary.
Restoring happens in ``finally``, so it also holds when the forward raises.

One model, one profile at a time: the guard claims the model for its thread, and
a profile of the same model object started on another thread meanwhile raises a
``ProfilingError`` naming the thread that holds it (both would flip the same
training flags and swap the same parameters). The same thread may nest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch

from ...errors import ProfilingError

__all__ = ["ModelStateGuard"]

_claims_lock = threading.Lock()
_claims: dict[int, tuple[int, str, int]] = {}  # id(model) -> (thread id, thread name, depth)


def _claim(model: torch.nn.Module) -> None:
    me = threading.get_ident()
    with _claims_lock:
        held = _claims.get(id(model))
        if held is not None and held[0] != me:
            raise ProfilingError(
                f"{type(model).__name__} is being profiled on thread {held[1]!r}; a model can be profiled by "
                "one thread at a time (profile a copy, e.g. copy.deepcopy(model), to run both at once)"
            )
        depth = held[2] + 1 if held is not None else 1
        _claims[id(model)] = (me, threading.current_thread().name, depth)


def _release(model: torch.nn.Module) -> None:
    with _claims_lock:
        held = _claims.get(id(model))
        if held is None:
            return
        if held[2] <= 1:
            del _claims[id(model)]
        else:
            _claims[id(model)] = (held[0], held[1], held[2] - 1)


_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def _any_hooks(state: dict[str, Any]) -> bool:
    """Whether a module (its ``__dict__``) holds a hook in any of its hook dictionaries:
    one expression, no loop (this runs for every module twice per profile)."""
    get = state.get
    return bool(
        get("_forward_hooks")
        or get("_forward_pre_hooks")
        or get("_forward_hooks_with_kwargs")
        or get("_forward_hooks_always_called")
        or get("_forward_pre_hooks_with_kwargs")
        or get("_backward_hooks")
        or get("_backward_pre_hooks")
        or get("_state_dict_hooks")
        or get("_state_dict_pre_hooks")
        or get("_load_state_dict_pre_hooks")
        or get("_load_state_dict_post_hooks")
    )


def _hooks_of(state: dict[str, Any]) -> dict[str, dict[Any, Any]] | None:
    """Copies of a module's non-empty hook dictionaries; None when it has no hooks."""
    if not _any_hooks(state):
        return None
    return {name: dict(hooks) for name in _HOOK_DICTS if (hooks := state.get(name))}


@dataclass(slots=True)
class _Buffer:
    module: torch.nn.Module
    name: str
    tensor: torch.Tensor
    copy: torch.Tensor


class ModelStateGuard:
    """Snapshot of everything profiling could touch; :meth:`restore` puts it back."""

    def __init__(
        self,
        model: torch.nn.Module,
        modules: list[torch.nn.Module] | None = None,
        params: list[torch.Tensor] | None = None,
    ) -> None:
        """``modules`` and ``params``: the model's, when the caller has listed them already.

        Raises:
            ProfilingError: another thread is profiling the same model.
        """
        self.model = model
        self._released = False
        self.modules = modules if modules is not None else list(model.modules())
        self.training = [m.training for m in self.modules]
        # only the hook dictionaries that hold anything are copied; empty ones must stay empty
        self.hooks = [_hooks_of(m.__dict__) for m in self.modules]
        self.param_slots = [(m, name, p) for m in self.modules for name, p in m._parameters.items() if p is not None]
        params = params if params is not None else list(model.parameters())
        self.params = params
        self.requires_grad = [p.requires_grad for p in params]
        self.grads = [p.grad for p in params]
        self.param_versions = [p._version for p in params]
        with torch.no_grad():  # no autograd history: a plain clone
            self.buffers = [
                _Buffer(m, name, b, b.clone()) for m in self.modules for name, b in m._buffers.items() if b is not None
            ]
        _claim(model)  # last: nothing above can fail after the claim

    def restore(self) -> list[str]:
        """Put everything back; return what could not be undone (parameters a
        forward changed in place), for the profile's notes. Releases the model."""
        try:
            return self._restore()
        finally:
            if not self._released:
                self._released = True
                _release(self.model)

    def _restore(self) -> list[str]:
        for module, flag in zip(self.modules, self.training):
            module.__dict__["training"] = flag  # a plain attribute: skip nn.Module.__setattr__
        for module, saved in zip(self.modules, self.hooks):
            state = module.__dict__
            if saved is None and not _any_hooks(state):
                continue  # no hooks before, none now: the common case, without a loop
            for name in _HOOK_DICTS:
                current = state.get(name)
                if current is None:
                    continue
                hooks = saved.get(name, {}) if saved is not None else {}
                if current != hooks:
                    current.clear()
                    current.update(hooks)
        for module, name, param in self.param_slots:
            if module._parameters.get(name) is not param:
                module._parameters[name] = param
        for tensor, flag, grad in zip(self.params, self.requires_grad, self.grads):
            if tensor.requires_grad != flag:
                tensor.requires_grad_(flag)
            if tensor.grad is not grad:
                tensor.grad = grad
        for buf in self.buffers:
            if buf.module._buffers.get(buf.name) is not buf.tensor:
                buf.module._buffers[buf.name] = buf.tensor
        if self.buffers:
            # Unconditionally: kernels such as batch norm's update running statistics
            # in place without bumping the version counter. One foreach call for all.
            with torch.no_grad():
                torch._foreach_copy_([b.tensor for b in self.buffers], [b.copy for b in self.buffers])
        return [
            f"the model changed a parameter of shape {tuple(p.shape)} in place during forward"
            for p, version in zip(self.params, self.param_versions)
            if p._version != version
        ]
