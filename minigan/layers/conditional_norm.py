"""Conditional batch normalisation: BatchNorm whose gain and bias depend on the class label."""

import numpy as np

from ..backend import get_array_module, values_readable_now
from .base import Layer
from .embedding import check_label_range
from .norm import batchnorm_dx, centre_and_scale, check_channels


class ConditionalBatchNorm(Layer):
    """y_out = gamma[y] * x_hat + beta[y],   x_hat = (x - mean) / sqrt(var + eps), per channel.

    x, out: (N, C) or (N, C, h, w);  y: (N,) integer labels in 0..num_classes-1
    gamma, beta: (num_classes, C), one row per class; they start at 1 and 0, so the
    layer starts as a plain BatchNorm (de Vries et al., 2017; Miyato and Koyama, 2018).
    mean, var, running statistics and eps: exactly as ``BatchNorm`` (shared by all classes).

    Why: every normalised feature map gets a class-dependent scale and shift, at every
    layer where it sits, so the label steers the whole generator while the noise z
    keeps the whole first layer to itself.

    With one_hot(y) (N, num_classes), the rows picked are g = one_hot @ gamma and
    b = one_hot @ beta, (N, C). Backward, with s_i the sum over example i's h*w positions:
        dgamma = one_hot.T @ s_i(dout * x_hat)      dbeta = one_hot.T @ s_i(dout)    (num_classes, C)
        dx: BatchNorm's, with the upstream gradient g * dout (each example's own gain):
        train: dx = 1 / sqrt(var + eps) * (d - mean(d) - x_hat * mean(d * x_hat)),  d = g * dout
        eval:  dx = 1 / sqrt(var + eps) * g * dout
    Labels have no gradient: backward returns (dx, None).
    Keeps: x_hat, 1 / sqrt(var + eps), one_hot(y) and g.
    """

    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features, num_classes, momentum=0.1, eps=1e-5):
        super().__init__()
        self.num_features, self.num_classes, self.momentum, self.eps = num_features, num_classes, momentum, eps
        self.params["gamma"] = np.ones((num_classes, num_features), dtype=np.float32)
        self.params["beta"] = np.zeros((num_classes, num_features), dtype=np.float32)
        self._init_grads()
        self.running_mean = np.zeros(num_features, dtype=np.float32)
        self.running_var = np.ones(num_features, dtype=np.float32)

    def _check(self, x, y):
        check_channels(self, x)
        if getattr(y, "shape", None) != x.shape[:1] or y.dtype.kind not in "iu":
            raise ValueError(f"{self!r}: expected integer labels of shape ({x.shape[0]},), got "
                             f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")  # fmt: skip
        if values_readable_now(y):  # on the GPU, checked once where the labels come in
            check_label_range(y, self.num_classes, repr(self))

    def forward(self, x, y):
        self._check(x, y)
        xp = get_array_module(x)
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)  # broadcast (C,) against x
        per_example = (-1, self.num_features) + (() if x.ndim == 2 else (1, 1))  # (N, C) or (N, C, 1, 1)
        x_centered, self.inv_std = centre_and_scale(self, x, shape)  # BatchNorm's statistics, shared by all classes
        self.x_hat = x_centered * self.inv_std
        self.one_hot = (y[:, None] == xp.arange(self.num_classes)).astype(x.dtype)  # (N, num_classes)
        self.g = (self.one_hot @ self.params["gamma"]).reshape(per_example)  # each example's gain
        b = (self.one_hot @ self.params["beta"]).reshape(per_example)  # and bias
        return self.g * self.x_hat + b

    def backward(self, dout, param_grads=True, input_grad=True):
        spatial = (2, 3) if dout.ndim == 4 else ()
        if param_grads:
            self.grads["gamma"] += self.one_hot.T @ (dout * self.x_hat).sum(axis=spatial)  # (K, N) @ (N, C)
            self.grads["beta"] += self.one_hot.T @ dout.sum(axis=spatial)
        if not input_grad:
            return None, None
        d = self.g * dout  # the gradient of x_hat
        if not self.training:
            return self.inv_std * d, None
        mean_d = d.mean(axis=self.axes).reshape(self.inv_std.shape)
        mean_d_xhat = (d * self.x_hat).mean(axis=self.axes).reshape(self.inv_std.shape)
        return batchnorm_dx(self.inv_std, d, mean_d, self.x_hat, mean_d_xhat), None

    def __repr__(self):
        return f"ConditionalBatchNorm({self.num_features}, {self.num_classes})"
