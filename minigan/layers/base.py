"""The Layer contract every building block follows.

    forward(x)                 -> out      keeps what backward needs
    backward(dout, param_grads=True) -> dx  ADDS dL/dparam into ``grads``
                                            (skipped when param_grads=False)

A layer with parameters also takes ``input_grad=False``: it then adds its weight
gradients and returns None instead of dx. That is for a network's FIRST layer,
whose input is data or noise: nobody needs dL/dx there, and skipping it saves a
matrix product (see ``Sequential.backward``).

``params`` and ``grads`` are dicts with the same keys ("W", "b", "gamma", ...).
Gradients accumulate with ``+=`` so one network can see the real batch and the
fake batch before a single optimizer step; ``zero_grad()`` clears them.
State that is not learned (BatchNorm's running statistics) lives in ordinary
attributes named in ``buffer_names``, outside ``params``.
"""

import numpy as np

from ..backend import get_array_module, to_device


class Layer:
    buffer_names = ()  # non-learned array attributes, e.g. ("running_mean", "running_var")

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout, param_grads=True):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def _init_grads(self):
        """Zero gradients with the same keys, shapes and dtypes as ``params``."""
        self.grads = {k: get_array_module(p).zeros_like(p) for k, p in self.params.items()}

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0
        return self

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def _map_arrays(self, fn):
        """Replace every parameter, gradient and buffer by ``fn(array)``."""
        self.params = {k: fn(p) for k, p in self.params.items()}
        self.grads = {k: fn(g) for k, g in self.grads.items()}
        for name in self.buffer_names:
            setattr(self, name, fn(getattr(self, name)))

    def get_buffers(self):
        """The non-learned state as a dict {name: array} (e.g. BatchNorm's running statistics)."""
        return {name: getattr(self, name) for name in self.buffer_names}

    def astype(self, dtype):
        """Cast parameters, gradients and buffers to ``dtype``; returns the layer."""
        self._map_arrays(lambda a: a.astype(dtype, copy=False))
        return self

    def to(self, device):
        """Move parameters, gradients and buffers to "cpu" or "gpu"; returns the layer."""
        self._map_arrays(lambda a: to_device(a, device))
        return self

    def check_input(self, x, ndim, expected):
        """Refuse input of the wrong rank with a message naming layer and shapes.

        ``expected`` describes the shape in words, e.g. "(N, 3, h, w)".
        """
        if not hasattr(x, "ndim") or x.ndim not in (ndim if isinstance(ndim, (tuple, list)) else (ndim,)):
            shape = getattr(x, "shape", type(x).__name__)
            raise ValueError(f"{self!r}: expected input of shape {expected}, got {shape}")

    def check_floating(self, x):
        """Refuse integer or boolean input, for layers whose arithmetic keeps x's dtype."""
        dtype = getattr(x, "dtype", None)
        if dtype is None or not np.issubdtype(dtype, np.floating):
            given = type(x).__name__ if dtype is None else dtype
            raise TypeError(f"{self!r}: expected a floating-point input, got {given}")

    def __repr__(self):
        return f"{type(self).__name__}()"
