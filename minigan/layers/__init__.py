"""The building blocks: each layer has a hand-written forward and backward.

See ``base.Layer`` for the contract they all follow.
"""

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .base import Layer
from .conv import Conv2D, ConvTranspose2D
from .conv_reference import col2im, im2col
from .conditional_norm import ConditionalBatchNorm
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .join import Concat, Projection
from .norm import BatchNorm
from .sequential import Sequential
from .shape import Flatten, Pack, Reshape

__all__ = [
    "BatchNorm",
    "Concat",
    "ConditionalBatchNorm",
    "Conv2D",
    "ConvTranspose2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "Pack",
    "Projection",
    "LeakyReLU",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "col2im",
    "im2col",
]
