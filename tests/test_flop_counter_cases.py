"""The ``torch`` preset on the shapes and modules of PyTorch's own FlopCounterMode tests.

Cases written afresh after pytorch/pytorch test/test_flop_counter.py (``TestFlopCounter``);
each test names the original it follows. FlopCounterMode is computed live in the same test.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
flop_counter = pytest.importorskip("torch.utils.flop_counter")
nn = torch.nn

import flopmagic  # noqa: E402
from torch_models import Op  # noqa: E402


def _flop_counter_mode(model: Any, inputs: tuple[Any, ...]) -> int:
    with flop_counter.FlopCounterMode(display=False) as mode, torch.no_grad():
        model(*inputs)
    return int(mode.get_total_flops())


def _assert_preset_equals_flop_counter_mode(model: Any, inputs: tuple[Any, ...]) -> int:
    flops = _flop_counter_mode(model, inputs)
    assert flopmagic.profile(model, inputs).under("torch").flops == flops
    return flops


class _Variety(nn.Module):  # type: ignore[misc]
    """test_flop_counter_variety: mm, addmm (beta/alpha), matmul, einsum and an nn.Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(9, 10)

    def forward(self, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any, h: Any) -> Any:
        return (
            torch.mm(a, b).sum()
            + torch.addmm(c, a, b, beta=0.5, alpha=0.5).sum()
            + torch.matmul(d, e).sum()
            + torch.einsum("ab,bc->ac", f, g).sum()
            + self.linear(h).sum()
        )


def test_variety() -> None:
    r = torch.randn
    inputs = (r(4, 5), r(5, 6), r(4, 6), r(5, 6), r(6, 7), r(6, 7), r(7, 8), r(8, 9))
    # 2 * (4*5*6 + 4*5*6 + 5*6*7 + 6*7*8 + 8*9*10) = 2 * 1506 = 3012 (the original's number)
    assert _assert_preset_equals_flop_counter_mode(_Variety(), inputs) == 3012


_OP_CASES = [
    # test_op, case by case: (function, input shapes, the original's FLOPs and its arithmetic)
    (torch.mm, [(4, 5), (5, 6)], 240),  # 4 * 6 * 2 * 5
    (torch.bmm, [(3, 4, 5), (3, 5, 6)], 720),  # 3 * 4 * 6 * 2 * 5
    (torch.addmm, [(4, 6), (4, 5), (5, 6)], 240),
    (torch.addmm, [(4, 1), (4, 5), (5, 6)], 240),  # broadcast bias
    (torch.addmm, [(6,), (4, 5), (5, 6)], 240),
    (torch.baddbmm, [(3, 4, 6), (3, 4, 5), (3, 5, 6)], 720),
    (lambda x, w: torch.conv2d(x, w, padding=1), [(2, 3, 6, 6), (6, 3, 4, 4)], 28800),  # 2*5*5 * 16 * 6 * 2 * 3
    (lambda x, w: torch.conv1d(x, w, padding=1), [(2, 3, 6), (6, 3, 4)], 1440),  # 2*5 * 4 * 6 * 2 * 3
]


@pytest.mark.parametrize(("fn", "shapes", "expected"), _OP_CASES, ids=[str(i) for i in range(len(_OP_CASES))])
def test_op(fn: Any, shapes: list[tuple[int, ...]], expected: int) -> None:
    inputs = tuple(torch.randn(*s) for s in shapes)
    assert _assert_preset_equals_flop_counter_mode(Op(fn), inputs) == expected


def test_noop() -> None:
    # test_noop: cos has no formula in FlopCounterMode (0); the default convention prices it
    x = torch.randn(4, 5)
    assert _assert_preset_equals_flop_counter_mode(Op(torch.cos), (x,)) == 0
    assert flopmagic.profile(Op(torch.cos), (x,)).flops > 0


def test_module_resnet18_forward() -> None:
    # test_module, forward only and at 64x64 to stay quick (the original runs 224x224 with backward)
    models = pytest.importorskip("torchvision.models")
    model = models.resnet18(weights=None).eval()
    _assert_preset_equals_flop_counter_mode(model, (torch.randn(1, 3, 64, 64),))


class _Backward(nn.Module):  # type: ignore[misc]
    """test_backward: mm, expand, bmm, then backward through both matmuls."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(4, 5))

    def forward(self, b: Any, c: Any) -> Any:
        return torch.bmm(torch.mm(self.a, b).unsqueeze(0).expand(7, 4, 6), c)


def test_backward() -> None:
    model, inputs = _Backward(), (torch.randn(5, 6), torch.randn(7, 6, 7))
    with flop_counter.FlopCounterMode(display=False) as mode:
        model(*inputs).sum().backward()
    # the original's 5184: forward 240 + 2352; backward: bmm grad_input 2352, mm grad_a 240
    assert mode.get_total_flops() == 5184
    assert flopmagic.profile(model, inputs, training=True).under("torch").flops == 5184
