"""Profiling leaves the user's random generators as they were (reproduction 6).

Seed, profile, draw must give what seed, draw gives: for random inputs from
``input_shape``, dropout draws in a training count, a spec's weight
initialisation, and failing profiles, for Python's ``random``, NumPy's global
generator, PyTorch's CPU generator and every CUDA device's, and TensorFlow's.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

import flopmagic
from flopmagic import ProfilingError


def _seed(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def _draws() -> tuple[float, ...]:
    values = [random.random(), float(np.random.rand()), float(torch.rand(1)), float(torch.randn(1))]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            values.append(float(torch.rand(1, device=f"cuda:{index}")))
    return tuple(values)


def _expected() -> tuple[float, ...]:
    _seed()
    return _draws()


def _dropout_model() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))


# each case gets its model built before the seed (building is the user's own draw)
CASES = {
    "random inputs": lambda model: flopmagic.profile(model, input_shape=(4, 8)),
    "training dropout": lambda model: flopmagic.profile(model, input_shape=(4, 8), training=True),
    "spec weight init": lambda model: flopmagic.profile("torchvision:resnet18", input_shape=(1, 3, 32, 32)),
    "meta spec": lambda model: flopmagic.profile("torchvision:resnet18", device="meta"),
    "torch backend": lambda model: flopmagic.profile(model, input_shape=(4, 8), backend="torch", training=True),
    "compare": lambda model: flopmagic.compare([model, model], input_shape=(4, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_profiling_does_not_consume_the_users_draws(case):
    model = _dropout_model()
    expected = _expected()
    _seed()
    CASES[case](model)
    assert _draws() == expected


def test_a_failing_profile_does_not_consume_the_users_draws():
    class FailsAfterDrawing(nn.Module):
        def forward(self, x):
            torch.rand(100)
            random.random()
            np.random.rand()
            raise RuntimeError("failed after drawing")

    expected = _expected()
    _seed()
    with pytest.raises(ProfilingError, match="failed after drawing"):
        flopmagic.profile(FailsAfterDrawing(), input_shape=(2, 2))
    assert _draws() == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generators_are_restored():
    model = _dropout_model().cuda()
    expected = _expected()
    _seed()
    flopmagic.profile(model, input_shape=(4, 8), training=True)
    assert _draws() == expected


def test_tensorflow_and_keras_generators_are_restored():
    pytest.importorskip("tensorflow")
    from flopmagic.adapters import import_tensorflow

    import_tensorflow()
    import keras
    import tensorflow as tf

    def seed() -> None:
        keras.utils.set_random_seed(0)  # Python, NumPy, tf.random.set_seed and Keras's seed generator
        torch.manual_seed(0)
        tf.random.set_global_generator(tf.random.Generator.from_seed(0))

    def draws() -> tuple[float, ...]:
        return (
            *_draws(),
            float(tf.random.uniform(())),  # the op-seed sequence of tf.random.set_seed
            float(tf.random.get_global_generator().uniform(())),
            float(keras.random.uniform(())),  # Keras's global seed generator
        )

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    seed()
    expected = draws()
    seed()
    # a Keras model from a spec is built inside the profile: its initialisers draw seeds
    # from Python's random; then the model is traced
    flopmagic.profile("keras:MobileNetV3Small", input_shape=(1, 32, 32, 3))
    profile = flopmagic.profile(model)
    # Dense(6 -> 4) + Dense(4 -> 2) on one sample: 24 + 8 = 32 MACs
    assert profile.macs == 32
    assert draws() == expected
