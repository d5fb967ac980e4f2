"""The PyTorch recorder under faults, interrupts, threads and nesting.

Invariant: after any failure (an exception in a forward, caught or not, a
``KeyboardInterrupt`` or a real SIGINT mid-forward) the next profile in the same
process is exact, nothing is printed or warned, and no global hook is left
behind. Profiles on different threads are each exact; a profile nested in a
profiled region is exact and is not counted by the outer one.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
import warnings

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import flopmagic
from flopmagic import ProfilingError
from flopmagic.capture import CellCapture

# The reference model for "the next profile is exact":
# Linear(16, 32) + ReLU + Linear(32, 8) on a (4, 16) input:
# 4*16*32 + 4*32*8 = 2,048 + 1,024 = 3,072 MACs.
MLP_SHAPE = (4, 16)
MLP_MACS = 3_072


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))


def _torch_global_hooks() -> tuple[int, int]:
    module = torch.nn.modules.module
    return len(module._global_forward_pre_hooks), len(module._global_forward_hooks)


def _assert_clean_after(hooks_before: tuple[int, int]) -> None:
    """The next profile is exact, prints nothing, warns nothing; no hook is left."""
    assert _torch_global_hooks() == hooks_before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = flopmagic.profile(mlp(), input_shape=MLP_SHAPE)
    assert profile.macs == MLP_MACS
    assert [(layer.scope, layer.calls) for layer in profile.layers] == [("", 1), ("0", 1), ("1", 1), ("2", 1)]
    assert [str(w.message) for w in caught] == []


class CatchesItsFailingChild(nn.Module):
    """A model that tries a submodule and falls back when it raises (reproduction 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fragile = nn.Linear(3, 3)  # fed a 16-wide input: raises a shape error
        self.body = mlp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with contextlib.suppress(RuntimeError):
            self.fragile(x)
        return self.body(x)


def test_a_caught_error_inside_forward_leaves_the_profile_exact(capsys):
    hooks_before = _torch_global_hooks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = flopmagic.profile(CatchesItsFailingChild(), input_shape=MLP_SHAPE)
    # the failed Linear(3, 3) computed nothing; the body is the reference MLP
    assert profile.macs == MLP_MACS
    calls = {layer.scope: layer.calls for layer in profile.layers}
    # the root ran once; the child that raised did not complete a call
    assert calls == {"": 1, "fragile": 0, "body": 1, "body.0": 1, "body.1": 1, "body.2": 1}
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr() == ("", "")
    _assert_clean_after(hooks_before)


def test_a_caught_error_in_a_cell_does_not_shift_later_calls():
    """In capture mode (the magic), a model that raised and was caught does not swallow the
    forwards that follow in the same cell."""
    failing, model = nn.Linear(3, 3), mlp()
    with CellCapture({"failing": failing, "model": model}) as capture:
        with pytest.raises(RuntimeError):
            failing(torch.zeros(MLP_SHAPE))
        model(torch.zeros(MLP_SHAPE))
    profiles = {p.model: p for p in capture.results().profiles}
    assert profiles["model"].macs == MLP_MACS
    assert [(layer.scope, layer.calls) for layer in profiles["model"].layers] == [
        ("", 1),
        ("0", 1),
        ("1", 1),
        ("2", 1),
    ]


class Interrupted(nn.Module):
    """Raises KeyboardInterrupt inside its forward, as Ctrl-C does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise KeyboardInterrupt


class Nest(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.pre = nn.Linear(16, 16)
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.pre(x))


def test_keyboard_interrupt_mid_forward_then_exact():
    hooks_before = _torch_global_hooks()
    model = Nest(Nest(Interrupted()))
    model.train()
    with pytest.raises(KeyboardInterrupt):
        flopmagic.profile(model, input_shape=MLP_SHAPE)
    assert all(m.training for m in model.modules())  # the user's flags are back
    _assert_clean_after(hooks_before)


def test_keyboard_interrupt_caught_inside_a_cell_drops_the_interrupted_calls():
    """PyTorch runs no hook when a KeyboardInterrupt leaves a forward; the stack entries of
    the interrupted calls must not capture the next model's forward."""
    interrupted, model = Nest(Nest(Interrupted())), mlp()
    with CellCapture({"interrupted": interrupted, "model": model}) as capture:
        with pytest.raises(KeyboardInterrupt):
            interrupted(torch.zeros(MLP_SHAPE))
        model(torch.zeros(MLP_SHAPE))
    profiles = {p.model: p for p in capture.results().profiles}
    assert profiles["model"].macs == MLP_MACS
    assert {layer.scope: layer.calls for layer in profiles["model"].layers} == {"": 1, "0": 1, "1": 1, "2": 1}


class SelfInterrupting(nn.Module):
    """Sends a real interrupt to the main thread from inside its forward."""

    def __init__(self, send: str) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.send = send

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.send == "signal":
            signal.raise_signal(signal.SIGINT)
        else:
            _thread.interrupt_main()
        for _ in range(100_000):  # the interrupt is delivered between bytecodes, here
            x = x + 0
        return self.linear(x)


@pytest.mark.parametrize("send", ["signal", "interrupt_main"])
def test_real_sigint_mid_forward_then_exact(send):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is handled by someone else in this process")
    hooks_before = _torch_global_hooks()
    with pytest.raises(KeyboardInterrupt):
        flopmagic.profile(Nest(SelfInterrupting(send)), input_shape=MLP_SHAPE)
    _assert_clean_after(hooks_before)


# -- a random layer of a random stack raises ---------------------------------------------------

FAULTS = {
    "runtime": RuntimeError("layer failed on purpose"),
    "value": ValueError("bad value on purpose"),
    "interrupt": KeyboardInterrupt(),
}


class Raises(nn.Module):
    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise FAULTS[self.fault]


class Catches(nn.Module):
    """Runs its child and, if it raises an Exception, carries on with its input."""

    def __init__(self, child: nn.Module) -> None:
        super().__init__()
        self.child = child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.child(x)
        except Exception:
            return x


LAYERS = {
    "linear": lambda: nn.Linear(16, 16),
    "relu": lambda: nn.ReLU(),
    "norm": lambda: nn.LayerNorm(16),
    "nest": lambda: Nest(nn.Linear(16, 16)),
}
# forward MACs of each layer on a (4, 16) input: a Linear(16, 16) is 4*16*16 = 1,024;
# Nest holds two of them; ReLU and LayerNorm multiply-accumulate nothing
LAYER_MACS = {"linear": 1_024, "relu": 0, "norm": 0, "nest": 2_048}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layers=st.lists(st.sampled_from(sorted(LAYERS)), min_size=1, max_size=6),
    position=st.integers(min_value=0, max_value=6),
    depth=st.integers(min_value=0, max_value=3),
    fault=st.sampled_from(sorted(FAULTS)),
    caught=st.booleans(),
    training=st.booleans(),
    in_cell=st.booleans(),
)
def test_any_fault_anywhere_then_the_next_profile_is_exact(layers, position, depth, fault, caught, training, in_cell):
    """A random stack where one layer (at a random depth) raises; the model may catch it.
    Caught: the profile of that very forward is exact. Either way, so is the next one:
    in the same cell (capture mode) and in the next API call."""
    hooks_before = _torch_global_hooks()
    failing: nn.Module = Raises(fault)
    for _ in range(depth):
        failing = Nest(failing)  # the Linear before the fault in each Nest runs: 1,024 MACs each
    if caught and fault != "interrupt":
        failing = Catches(failing)
    stack = [LAYERS[name]() for name in layers]
    stack.insert(min(position, len(stack)), failing)
    model = nn.Sequential(*stack)
    x = torch.zeros(MLP_SHAPE)
    expect_ok = caught and fault != "interrupt"
    expected_macs = sum(LAYER_MACS[name] for name in layers) + 1_024 * depth
    expected: type[BaseException] = KeyboardInterrupt if fault == "interrupt" else ProfilingError
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        if in_cell:
            after = mlp()
            with CellCapture({"model": model, "after": after}) as capture:
                try:
                    model(x)
                except (Exception, KeyboardInterrupt) as error:
                    assert not expect_ok, error
                after(x)  # the same cell goes on
            profiles = {p.model: p for p in capture.results().profiles}
            assert profiles["after"].macs == MLP_MACS
            assert {layer.scope: layer.calls for layer in profiles["after"].layers} == {"": 1, "0": 1, "1": 1, "2": 1}
            if expect_ok:
                assert profiles["model"].macs == expected_macs
        elif expect_ok and training and not set(layers) & {"linear", "norm", "nest"}:
            # the caught fault returns its input, so no parameter reaches the output: nothing to
            # differentiate, which flopmagic says instead of counting a backward that never runs
            with pytest.raises(ProfilingError, match="training=True needs an output that depends on parameters"):
                flopmagic.profile(model, x, training=training)
        elif expect_ok:
            profile = flopmagic.profile(model, x, training=training)
            assert sum(r.macs for r in profile.records if r.phase == "forward") == expected_macs
            assert profile.layers[0].calls == 1  # the root completed its one call
        else:
            with pytest.raises(expected):
                flopmagic.profile(model, x, training=training)
    assert [str(w.message) for w in caught_warnings] == []
    _assert_clean_after(hooks_before)


# -- threads -------------------------------------------------------------------------------------

# Sequential(Linear(512, 1024), ReLU, Linear(1024, 1024), ReLU, Linear(1024, 512)) on (2, 512):
# 2 * (512*1024 + 1024*1024 + 1024*512) = 2 * 2,097,152 = 4,194,304 MACs.
BIG_MLP_MACS = 4_194_304


def big_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 512))


def test_profiles_on_two_threads_are_each_exact():
    hooks_before = _torch_global_hooks()
    resnet = torchvision.models.resnet18()
    # resnet18's count at 64x64 is whatever one profile alone says; the threads must agree with it
    resnet_macs = flopmagic.profile(resnet, input_shape=(1, 3, 64, 64)).macs
    assert resnet_macs > 0
    runs = {"resnet18": 12, "mlp": 60}
    results: dict[str, list[int]] = {"resnet18": [], "mlp": []}
    errors: list[BaseException] = []
    start = threading.Barrier(3)
    stop = threading.Event()

    def profile_many(name: str, make: object, shape: tuple[int, ...]) -> None:
        model = make() if callable(make) and not isinstance(make, nn.Module) else make
        try:
            start.wait()
            for _ in range(runs[name]):
                results[name].append(flopmagic.profile(model, input_shape=shape).macs)
        except BaseException as error:
            errors.append(error)

    def plain_forwards() -> None:
        """Unprofiled forwards on a third thread: never counted by either profile."""
        model, x = big_mlp(), torch.zeros(2, 512)
        start.wait()
        with torch.no_grad():
            while not stop.is_set():
                model(x)

    threads = [
        threading.Thread(target=profile_many, args=("resnet18", resnet, (1, 3, 64, 64))),
        threading.Thread(target=profile_many, args=("mlp", big_mlp, (2, 512))),
    ]
    bystander = threading.Thread(target=plain_forwards)
    for thread in [*threads, bystander]:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    stop.set()
    bystander.join(timeout=60)
    assert errors == []
    assert results == {"resnet18": [resnet_macs] * runs["resnet18"], "mlp": [BIG_MLP_MACS] * runs["mlp"]}
    assert _torch_global_hooks() == hooks_before


def test_the_same_model_on_two_threads_is_refused_not_miscounted():
    entered, release = threading.Event(), threading.Event()

    class Waits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if threading.current_thread().name == "holder":
                entered.set()
                release.wait(timeout=60)
            return self.linear(x)

    model = Waits()
    outcome: list[int] = []
    holder = threading.Thread(
        target=lambda: outcome.append(flopmagic.profile(model, input_shape=MLP_SHAPE).macs), name="holder"
    )
    holder.start()
    try:
        assert entered.wait(timeout=60)
        with pytest.raises(ProfilingError, match="being profiled on thread 'holder'"):
            flopmagic.profile(model, input_shape=MLP_SHAPE)
    finally:
        release.set()
        holder.join(timeout=60)
    assert outcome == [4 * 16 * 16]  # 1,024 MACs: the holder's profile is exact
    assert flopmagic.profile(model, input_shape=MLP_SHAPE).macs == 1_024  # released afterwards


# -- nesting -------------------------------------------------------------------------------------


class ProfilesInside(nn.Module):
    """A forward that profiles another model (a profile nested in a profiled region)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.inner_macs: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inner_macs.append(flopmagic.profile(mlp(), input_shape=MLP_SHAPE).macs)
        return self.linear(x)


def test_a_nested_profile_is_exact_and_not_counted_by_the_outer_one():
    model = ProfilesInside()
    outer = flopmagic.profile(model, input_shape=MLP_SHAPE)
    assert model.inner_macs == [MLP_MACS]
    # the outer profile counts its own Linear(16, 16) only: 4*16*16 = 1,024 MACs
    assert outer.macs == 1_024
    assert [layer.scope for layer in outer.layers] == ["", "linear"]


def test_a_profile_inside_a_profiled_cell_is_exact_and_not_captured():
    model = mlp()
    with CellCapture({"model": model}) as capture:
        model(torch.zeros(MLP_SHAPE))
        inner = flopmagic.profile(big_mlp(), input_shape=(2, 512))
        model(torch.zeros(MLP_SHAPE))
    assert inner.macs == BIG_MLP_MACS
    profiles = capture.results().profiles
    assert [(p.model, p.macs) for p in profiles] == [("model", 2 * MLP_MACS)]  # two calls of the cell's model


# -- CUDA: backward runs on autograd's device threads ---------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_counts_equal_cpu_and_threads_stay_exact():
    """On CUDA, autograd runs backward on its own device thread: the per-thread routing must
    still see those ops (the dispatch mode follows autograd there), and two threads profiling
    CUDA training steps at once must each be exact."""
    cpu = flopmagic.profile(big_mlp(), input_shape=(2, 512), training=True)
    assert any(r.phase == "backward" for r in cpu.records)
    cuda = flopmagic.profile(big_mlp().cuda(), input_shape=(2, 512), training=True)
    assert (cuda.macs, cuda.flops) == (cpu.macs, cpu.flops)
    results: list[int] = []
    errors: list[BaseException] = []

    def many() -> None:
        model = big_mlp().cuda()
        try:
            for _ in range(20):
                results.append(flopmagic.profile(model, input_shape=(2, 512), training=True).macs)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=many) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert results == [cpu.macs] * 40
