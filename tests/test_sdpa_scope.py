"""The wrapper that marks the records of ``F.scaled_dot_product_attention`` calls: installed
only while a profile records, restored on every exit path, invisible to other threads and
to TorchScript, and its marks survive a JSON round trip."""

from __future__ import annotations

import json
import threading
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import flopmagic  # noqa: E402
from flopmagic.adapters.torch import sdpa_scope  # noqa: E402

ORIGINAL = F.scaled_dot_product_attention
SDPA = "scaled_dot_product_attention"


class _Attention(nn.Module):  # type: ignore[misc]
    """SDPA with dropout (CPU's math path); ``fault`` is raised after it, inside the forward."""

    def __init__(self, fault: BaseException | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.fault = fault
        self.seen: list[Any] = []

    def forward(self, x: Any) -> Any:
        self.seen.append(F.scaled_dot_product_attention)
        out = F.scaled_dot_product_attention(self.proj(x), x, x, dropout_p=0.5)
        if self.fault is not None:
            raise self.fault
        return out


def test_installed_only_while_a_profile_records() -> None:
    model = _Attention()
    profile = flopmagic.profile(model, input_shape=(1, 2, 4, 8))
    assert model.seen[0] is not ORIGINAL and model.seen[0].__wrapped__ is ORIGINAL
    assert F.scaled_dot_product_attention is ORIGINAL and not sdpa_scope._WRAPPER.installed
    marked = [r for r in profile.records if r.within == SDPA]
    assert [r.native for r in marked].count("aten.bmm.default") == 2
    # the projection ran outside the call: not marked
    assert [r.within for r in profile.records if r.op == "linear"] == [""]


@pytest.mark.parametrize("fault", [RuntimeError("boom"), KeyboardInterrupt()])
def test_restored_when_the_forward_fails(fault: BaseException) -> None:
    expected = KeyboardInterrupt if isinstance(fault, KeyboardInterrupt) else flopmagic.ProfilingError
    model = _Attention(fault)
    with pytest.raises(expected):
        flopmagic.profile(model, input_shape=(1, 2, 4, 8))
    assert model.seen[0] is not ORIGINAL
    assert F.scaled_dot_product_attention is ORIGINAL and not sdpa_scope._WRAPPER.installed
    # and the next profile is exact
    assert len([r for r in flopmagic.profile(_Attention(), input_shape=(1, 2, 4, 8)).records if r.within]) > 2


def test_nested_blocks_restore_once_and_a_later_patch_is_kept() -> None:
    with sdpa_scope.marked():
        wrapper = F.scaled_dot_product_attention
        with sdpa_scope.marked():
            assert F.scaled_dot_product_attention is wrapper
        assert F.scaled_dot_product_attention is wrapper  # the outer block still records
    assert F.scaled_dot_product_attention is ORIGINAL

    def theirs(*args: Any, **kwargs: Any) -> Any:
        return ORIGINAL(*args, **kwargs)

    try:
        with sdpa_scope.marked():
            F.scaled_dot_product_attention = theirs  # another tool patches it meanwhile
        assert F.scaled_dot_product_attention is theirs
    finally:
        F.scaled_dot_product_attention = ORIGINAL


def test_other_threads_pass_through() -> None:
    q = torch.randn(1, 2, 4, 8)
    results: list[Any] = []
    with sdpa_scope.marked():
        thread = threading.Thread(target=lambda: results.append(F.scaled_dot_product_attention(q, q, q)))
        thread.start()
        thread.join()
    assert torch.equal(results[0], ORIGINAL(q, q, q))


def test_torchscript_compiles_the_wrapper_as_the_builtin() -> None:
    def attend(q: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, q, q)

    q = torch.randn(1, 2, 4, 8)
    with sdpa_scope.marked(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, still supported
        scripted = torch.jit.script(attend)
    assert "aten::scaled_dot_product_attention" in str(scripted.graph)
    assert torch.equal(scripted(q), ORIGINAL(q, q, q))


def test_marks_survive_json_and_reprice_the_same() -> None:
    profile = flopmagic.profile(_Attention(), input_shape=(1, 2, 4, 8))
    loaded = flopmagic.ModelProfile.from_dict(json.loads(profile.to_json()))
    assert loaded == profile
    assert loaded.under("fvcore").macs == profile.under("fvcore").macs
    # only the projection counts under fvcore: 1 x 2 x 4 rows x 8 x 8 MACs
    assert profile.under("fvcore").macs == 2 * 4 * 8 * 8


def test_meta_device_records_one_marked_op() -> None:
    profile = flopmagic.profile(_Attention(), input_shape=(1, 2, 4, 8), device="meta")
    marked = [(r.native, r.op) for r in profile.records if r.within == SDPA]
    assert marked == [("aten.scaled_dot_product_attention", "attention")]


def test_a_captured_cell_marks_model_and_loose_calls() -> None:
    from flopmagic.capture import CellCapture

    model, q = _Attention(), torch.randn(1, 2, 4, 8)
    with CellCapture({"model": model}) as capture:
        model(q)
        F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)  # the cell's own call, outside modules
    assert F.scaled_dot_product_attention is ORIGINAL
    (profile,) = capture.results().profiles
    marked = [r for r in profile.records if r.within == SDPA]
    # two math-path calls, each Q K^T and P V: 2 x 2 bmm's
    assert [r.native for r in marked].count("aten.bmm.default") == 4
    assert {r.scope for r in marked if r.native == "aten.bmm.default"} == {"", "(other ops)"}
    assert profile.under("fvcore").macs == 2 * 4 * 8 * 8  # the projection only


def test_torch_compile_traces_through_the_wrapper_in_one_graph() -> None:
    # while another thread's profile has it installed (torch.compile does not run under a
    # recorder's own dispatch mode at all)
    def attend(q: Any) -> Any:
        return F.scaled_dot_product_attention(q, q, q) * 2

    q = torch.randn(1, 2, 4, 8)
    torch._dynamo.reset()
    try:
        with sdpa_scope.marked():
            assert F.scaled_dot_product_attention is not ORIGINAL
            out = torch.compile(attend, backend="eager", fullgraph=True)(q)  # a graph break would raise
    finally:
        torch._dynamo.reset()
    assert torch.equal(out, ORIGINAL(q, q, q) * 2)
