"""Small PyTorch models the tests share (their counts are derived in the tests)."""

from __future__ import annotations

import torch
from torch import nn


def lenet() -> nn.Module:
    """LeNet from the seed listing: conv 5x5 pad 2 -> avgpool -> conv 5x5 -> avgpool -> 120 -> 84 -> 10 on 1x28x28."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )


# conv1 28*28*6 * 1*25 = 117,600; conv2 10*10*16 * 6*25 = 240,000;
# fc 400*120 = 48,000, 120*84 = 10,080, 84*10 = 840 -> 416,520 MACs
LENET_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840
# conv1 6*25 + 6 = 156; conv2 16*6*25 + 16 = 2,416; fc1 400*120 + 120 = 48,120;
# fc2 120*84 + 84 = 10,164; fc3 84*10 + 10 = 850 -> 61,706
LENET_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850


class SelfAttention(nn.Module):
    """Single-head self-attention with D_x = D_k = D_v = D, no output projection (the seed's example)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.q(x) @ self.k(x).transpose(-1, -2)
        return torch.softmax(scores, dim=-1) @ self.v(x)


class MLP(nn.Module):
    """D -> 4D -> D with GELU (the seed's transformer MLP)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.up = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.down = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))
