"""Small PyTorch models the tests share (their counts are derived in the tests)."""

from __future__ import annotations

from typing import Any

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


def vgg_blocks() -> nn.Module:
    """Two VGG blocks (conv3x3-relu x2, maxpool) and a classifier, on 3x32x32."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 10),
    )


# conv 32*32*16 * 3*9 = 442,368; 32*32*16 * 16*9 = 2,359,296; 16*16*32 * 16*9 = 1,179,648;
# 16*16*32 * 32*9 = 2,359,296; linear 2048*10 = 20,480 -> 6,361,088 MACs
VGG_MACS = 442_368 + 2_359_296 + 1_179_648 + 2_359_296 + 20_480
# 16*27 + 16 = 448; 16*144 + 16 = 2,320; 32*144 + 32 = 4,640; 32*288 + 32 = 9,248; 20,480 + 10 = 20,490
VGG_PARAMS = 448 + 2_320 + 4_640 + 9_248 + 20_490


def separable_block() -> nn.Module:
    """Depthwise 3x3 + BN + ReLU6, pointwise 1x1 32 -> 64 + BN + ReLU6, on 32x16x16."""
    return nn.Sequential(
        nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU6(),
        nn.Conv2d(32, 64, 1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU6(),
    )


# depthwise 16*16*32 * 9 = 73,728; pointwise 16*16*64 * 32 = 524,288 -> 598,016 MACs
SEPARABLE_MACS = 73_728 + 524_288
# depthwise 32*9 = 288; BN 2*32; pointwise 64*32 = 2,048; BN 2*64 -> 2,528 (running stats are buffers)
SEPARABLE_PARAMS = 288 + 64 + 2_048 + 128


class TransformerBlock(nn.Module):
    """Post-norm encoder block: E = 32, 4 heads, FFN 64."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(32, 4, batch_first=True)
        self.norm1 = nn.LayerNorm(32)
        self.ffn = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))
        self.norm2 = nn.LayerNorm(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.ffn(x))


# L = 10 tokens: QKV 3*10*32*32 = 30,720; scores and AV 2 * 4 heads * 10*10*8 = 6,400;
# output 10*32*32 = 10,240; FFN 2 * 10*32*64 = 40,960 -> 88,320 MACs
TRANSFORMER_MACS = 30_720 + 6_400 + 10_240 + 40_960
# attention 4 * (32*32 + 32) = 4,224; norms 2 * 64; FFN 32*64 + 64 + 64*32 + 32 = 4,192 -> 8,544
TRANSFORMER_PARAMS = 4_224 + 128 + 4_192


class Op(nn.Module):
    """A module whose forward is one function call: an op profiled as a model."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)
