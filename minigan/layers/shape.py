"""Layers that only change an array's shape. The gradient is reshaped back."""

import math

from ..backend import get_array_module
from .base import Layer


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...).   dx = dout reshaped to x's shape.

    The flat order is always (d1, d2, ...) row-major, as PyTorch's flatten, whatever
    x's memory order. After a convolution x is channels-last in memory (see conv.py):
    then the forward reshape is a copy, and the backward copies dx back into x's
    memory order, so the layers before it get their gradient laid out like their output.
    Keeps: the input (a reference, for its shape and memory order).
    """

    def forward(self, x):
        self.check_input(x, (2, 3, 4, 5), "(N, ...) with at least 2 axes")
        self.x = x
        return x.reshape(x.shape[0], -1)

    def backward(self, dout, param_grads=True):
        dx = dout.reshape(self.x.shape)
        if self.x.flags.c_contiguous:
            return dx
        laid_out = get_array_module(dout).empty_like(self.x, dtype=dout.dtype)  # x's shape and memory order
        laid_out[...] = dx
        return laid_out


class Reshape(Layer):
    """(N, ...) -> (N, *shape). ``shape`` excludes the batch axis, e.g. Reshape((128, 7, 7)).

    Keeps: the input shape.
    """

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if any(s <= 0 for s in self.shape):
            raise ValueError(f"Reshape: every size in shape must be positive, got {self.shape}")

    def forward(self, x):
        per_example = math.prod(x.shape[1:]) if getattr(x, "ndim", 0) >= 1 else None
        if per_example != math.prod(self.shape):
            raise ValueError(
                f"{self!r}: expected input of shape (N, ...) with {math.prod(self.shape)} values "
                f"per example, got {getattr(x, 'shape', type(x).__name__)}"
            )
        self.x_shape = x.shape
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, dout, param_grads=True):
        return dout.reshape(self.x_shape)

    def __repr__(self):
        return f"Reshape({self.shape})"


class Pack(Layer):
    """PacGAN's packing: m consecutive examples become one, (N, d, ...) -> (N/m, m*d, ...).

    A discriminator that starts with Pack(m) judges m samples at once, all real or
    all fake, and can see when they are too alike: a collapsed generator gives
    itself away (Lin et al., 2018). For points (N, 2) -> (N/m, 2m); for images
    (N, C, h, w) -> (N/m, m*C, h, w), the m images stacked as channels.
    It is a reshape, so dx = dout reshaped back. Keeps: the input shape.
    """

    def __init__(self, m):
        super().__init__()
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"Pack: m must be an integer >= 1, got {m!r}")
        self.m = m

    def forward(self, x):
        self.check_input(x, (2, 3, 4), "(N, d, ...)")
        if x.shape[0] % self.m:
            raise ValueError(f"{self!r}: the batch size must be a multiple of {self.m}, got input {x.shape}")
        self.x_shape = x.shape
        return x.reshape((x.shape[0] // self.m, self.m * x.shape[1]) + x.shape[2:])

    def backward(self, dout, param_grads=True):
        return dout.reshape(self.x_shape)

    def __repr__(self):
        return f"Pack({self.m})"
