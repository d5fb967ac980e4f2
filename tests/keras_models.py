"""The Keras twins of tests/torch_models.py (same architectures, NHWC inputs)."""

from __future__ import annotations

import keras
from keras import layers


def lenet() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="sigmoid"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="sigmoid"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="sigmoid"),
            layers.Dense(84, activation="sigmoid"),
            layers.Dense(10),
        ],
        name="lenet",
    )


def vgg_blocks() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ],
        name="vgg_blocks",
    )


def separable_block() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((16, 16, 32)),
            layers.DepthwiseConv2D(3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(6.0),
            layers.Conv2D(64, 1, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(6.0),
        ],
        name="separable",
    )


def transformer_block() -> keras.Model:
    x = keras.Input((10, 32))
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=8)(x, x)
    h = layers.LayerNormalization()(x + attended)
    ffn = layers.Dense(32)(layers.Dense(64, activation="relu")(h))
    return keras.Model(x, layers.LayerNormalization()(h + ffn), name="transformer")
