"""Dense (fully connected) layer: y = x @ W + b.

``matmul(a, b)`` below is a @ b; backend.matmul only decides how a CPU's two cores
share the work (the numbers are those of a @ b).
"""

import numpy as np

from ..backend import init_rng, matmul
from .base import Layer


class Dense(Layer):
    """y = x @ W + b.

    x: (N, in_features)  ->  y: (N, out_features)
    W: (in_features, out_features)   (the Keras layout; PyTorch's Linear stores W.T)
    b: (out_features,)

    Backward, with dout = dL/dy of shape (N, out_features):
        dx = dout @ W.T      (N, in_features)
        dW = x.T @ dout      (in_features, out_features)
        db = dout.sum(0)     (out_features,)

    Initialisation: Glorot (Xavier) uniform, W ~ U[-a, a] with
    a = sqrt(6 / (in_features + out_features)), as Keras does; b = 0.
    Keeps: the input x.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None):
        super().__init__()
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        rng = rng or init_rng()
        a = np.sqrt(6.0 / (in_features + out_features))
        self.params["W"] = rng.uniform(-a, a, (in_features, out_features)).astype(np.float32)
        if bias:
            self.params["b"] = np.zeros(out_features, dtype=np.float32)
        self._init_grads()

    def forward(self, x):
        self.check_input(x, 2, f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got {x.shape}")
        self.x = x
        y = matmul(x, self.params["W"])  # x @ W
        if self.bias:
            y += self.params["b"]
        return y

    def backward(self, dout, param_grads=True, input_grad=True):
        if param_grads:
            self.grads["W"] += matmul(self.x.T, dout)  # x.T @ dout
            if self.bias:
                self.grads["b"] += dout.sum(axis=0)
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        return matmul(dout, self.params["W"].T)  # dout @ W.T

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, bias={self.bias})"
