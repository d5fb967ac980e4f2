"""Profiling never changes the user's model: a property test over random module stacks.

Weights, buffers (BatchNorm running statistics), training flags, hooks,
``requires_grad`` and ``.grad`` are identical afterwards, in inference and in
training counts, on real and meta runs, and when the forward raises.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

import flopmagic
from flopmagic import ProfilingError

CHANNELS, SIZE = 4, 6


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
        self.bn = nn.BatchNorm2d(CHANNELS)

    def forward(self, x):
        return x + self.bn(self.conv(x))


class Twice(nn.Module):
    """Calls the same child twice (shared module)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(self.inner(x))


class Fails(nn.Module):
    def forward(self, x):
        raise RuntimeError("forward failed on purpose")


BLOCKS = {
    "conv": lambda bias: nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1, bias=bias),
    "bn": lambda bias: nn.BatchNorm2d(CHANNELS, affine=bias),
    "relu": lambda bias: nn.ReLU(),
    "dropout": lambda bias: nn.Dropout(0.5),
    "groupnorm": lambda bias: nn.GroupNorm(2, CHANNELS, affine=bias),
    "residual": lambda bias: Residual(),
    "twice": lambda bias: Twice(nn.Conv2d(CHANNELS, CHANNELS, 1, bias=bias)),
}


def _noop_forward_hook(module, args, output):
    return None


def _noop_pre_hook(module, args):
    return None


def _snapshot(model: nn.Module):
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [(p.grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        "params": [id(p) for p in model.parameters()],
        "buffers": [id(b) for b in model.buffers()],
        "hooks": [
            (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in model.modules()
        ],
    }


def _assert_same(before, after):
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"{key} changed"
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["params"] == after["params"]
    assert before["buffers"] == after["buffers"]
    assert before["hooks"] == after["hooks"]
    for (grad_before, value_before), (grad_after, _) in zip(before["grads"], after["grads"]):
        assert grad_after is grad_before
        if value_before is not None:
            assert torch.equal(grad_after, value_before)


_EVERY_BLOCK = [(name, True) for name in sorted(BLOCKS)]


def _pinned(test):
    """Every training x meta x fail combination over every block kind, always run:
    random draws alone rarely combined BatchNorm with a real training count."""
    for training in (False, True):
        for meta in (False, True):
            for fail in (False, True):
                flags = [True, False] * 4
                test = example(_EVERY_BLOCK, flags, flags[::-1], flags, flags, training, meta, fail)(test)
    return test


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_pinned
@given(
    blocks=st.lists(st.tuples(st.sampled_from(sorted(BLOCKS)), st.booleans()), min_size=1, max_size=5),
    train_flags=st.lists(st.booleans(), min_size=8, max_size=8),
    frozen=st.lists(st.booleans(), min_size=8, max_size=8),
    with_grads=st.lists(st.booleans(), min_size=8, max_size=8),
    hooked=st.lists(st.booleans(), min_size=8, max_size=8),
    training=st.booleans(),
    meta=st.booleans(),
    fail=st.booleans(),
)
def test_profiling_leaves_the_model_unchanged(blocks, train_flags, frozen, with_grads, hooked, training, meta, fail):
    layers = [BLOCKS[name](bias) for name, bias in blocks]
    layers += [nn.Flatten(), nn.Linear(CHANNELS * SIZE * SIZE, 3)]
    if fail:
        layers.append(Fails())
    model = nn.Sequential(*layers)
    with torch.no_grad():  # make BatchNorm statistics non-trivial so a change would show
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    for i, module in enumerate(model.modules()):
        module.training = train_flags[i % len(train_flags)]
        if hooked[i % len(hooked)]:
            module.register_forward_hook(_noop_forward_hook)
            module.register_forward_pre_hook(_noop_pre_hook)
    for i, param in enumerate(model.parameters()):
        param.requires_grad_(not frozen[i % len(frozen)])
        if with_grads[i % len(with_grads)]:
            param.grad = torch.randn_like(param)
    if training and not any(p.requires_grad for p in model.parameters()):
        next(model.parameters()).requires_grad_(True)
    before = _snapshot(model)

    kwargs = {"input_shape": (2, CHANNELS, SIZE, SIZE), "training": training, "device": "meta" if meta else None}
    if fail:
        with pytest.raises(ProfilingError, match="forward failed on purpose"):
            flopmagic.profile(model, **kwargs)
    else:
        profile = flopmagic.profile(model, **kwargs)
        assert profile.macs > 0
    _assert_same(before, _snapshot(model))


def test_training_count_restores_batchnorm_statistics_and_leaves_no_grad():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    before = _snapshot(model)
    profile = flopmagic.profile(model, input_shape=(2, 3, 8, 8), training=True)
    assert any(r.phase == "backward" for r in profile.records)
    assert any(r.op == "batch_norm" and r.attrs["training"] for r in profile.records)  # ran in train mode
    _assert_same(before, _snapshot(model))
    assert all(p.grad is None for p in model.parameters())
    assert model[1].num_batches_tracked.item() == 0


def test_fvcore_and_flop_counter_backends_leave_the_model_unchanged():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    before = _snapshot(model)
    flopmagic.profile(model, input_shape=(1, 3, 8, 8), backend="fvcore")
    flopmagic.profile(model, input_shape=(1, 3, 8, 8), backend="torch", training=True)
    _assert_same(before, _snapshot(model))


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("fail", [False, True])
def test_profiling_keeps_the_collector_out_of_the_forward_and_restores_its_setting(enabled, fail):
    """The cyclic collector is off during the profiled forward (no full collection lands
    inside it) and afterwards exactly as the user left it, on the error path too."""
    import gc

    seen: list[bool] = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(gc.isenabled())
            if fail:
                raise ValueError("boom")
            return x * 2

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        if fail:
            with pytest.raises(ProfilingError):
                flopmagic.profile(Probe(), torch.ones(4))
        else:
            # x * 2 on 4 elements: 4 multiplies = 4 FLOPs
            assert flopmagic.profile(Probe(), torch.ones(4)).flops == 4
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_the_hook_dictionaries_the_guard_restores_are_every_hook_dictionary_a_module_has() -> None:
    # Drift guard: the guard's hand-kept list of hook dictionaries, and its one-expression
    # check of them, must cover every ``*hooks*`` dictionary PyTorch gives a module.
    from flopmagic.adapters.torch.state import _HOOK_DICTS, _any_hooks

    present = {name for name, value in vars(nn.Linear(1, 1)).items() if "hooks" in name and isinstance(value, dict)}
    assert present == set(_HOOK_DICTS)
    for name in _HOOK_DICTS:
        assert _any_hooks({name: {1: print}}), name
        assert not _any_hooks({name: {}}), name


def test_a_hook_added_during_the_forward_is_removed_afterwards() -> None:
    # the model registers a hook on its own child while running: the guard takes it away
    class Registers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.child = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.child.register_forward_hook(_noop_forward_hook)
            self.child.register_forward_pre_hook(_noop_pre_hook)
            return self.child(x)

    model = Registers()
    flopmagic.profile(model, input_shape=(1, 2))
    assert not model.child._forward_hooks and not model.child._forward_pre_hooks
