"""Batch normalisation over (N, C) or (N, C, h, w) input, as PyTorch's BatchNorm1d/2d."""

import numpy as np

from ..backend import batch_statistics_loop, batchnorm_dx_loop, fused, gradient_sums_loop, normalise_loop
from .base import Layer


# The elementwise chains of the two passes, each one kernel on the GPU (see backend.fused).
# ``cpu=``: on a CPU with numba, one compiled loop instead, with the same numbers.
@fused
def inverse_std(var, eps):
    """1 / sqrt(var + eps)."""
    return 1 / (var + eps) ** 0.5


@fused
def moving_average(running, stat, momentum, factor):
    """(1 - momentum) * running + momentum * stat * factor."""
    return running * (1 - momentum) + momentum * stat * factor


@fused(cpu=normalise_loop)
def normalise(x_centered, inv_std, gamma, beta):
    """x_hat = (x - mean) * inv_std,  y = gamma * x_hat + beta."""
    x_hat = x_centered * inv_std
    return x_hat, x_hat * gamma + beta


@fused(cpu=batchnorm_dx_loop)
def batchnorm_dx(scale, dout, mean_dout, x_hat, mean_dout_xhat):
    """dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))."""
    return scale * (dout - mean_dout - x_hat * mean_dout_xhat)


def check_channels(layer, x):
    """Refuse an input that is not (N, C) or (N, C, h, w) with C = ``layer.num_features``."""
    C = layer.num_features
    if getattr(x, "ndim", 0) not in (2, 4) or x.shape[1] != C:
        raise ValueError(f"{layer!r}: expected input of shape (N, {C}) or (N, {C}, h, w), "
                         f"got {getattr(x, 'shape', type(x).__name__)}")  # fmt: skip


def batch_statistics(x, axes, shape):
    """(mean, x - mean, var) per channel over ``axes``, var biased (as x.var); ``shape``
    broadcasts a (C,) vector against x. (On a CPU with numba, one compiled loop gives
    the same numbers: backend.batch_statistics_loop.)"""
    fast = batch_statistics_loop(x)
    if fast is not None:
        return fast
    mean = x.mean(axis=axes)  # (C,)
    x_centered = x - mean.reshape(shape)
    var = (x_centered * x_centered).mean(axis=axes)  # (C,)
    return mean, x_centered, var


def gradient_sums(dout, x_hat, axes):
    """(sum(dout * x_hat), sum(dout)) per channel over ``axes``: dgamma and dbeta.
    (On a CPU with numba, one compiled loop: backend.gradient_sums_loop.)"""
    fast = gradient_sums_loop(dout, x_hat)
    if fast is not None:
        return fast
    return (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def centre_and_scale(layer, x, shape):
    """x - mean and 1 / sqrt(var + eps), per channel, for a BatchNorm-like ``layer``.

    Training: the batch's mean and (biased) var over ``layer.axes``, and the running
    statistics moved towards them; eval: the running statistics. ``shape`` broadcasts
    a (C,) vector against x. Returns (x_centered like x, inv_std of ``shape``).
    """
    if layer.training:
        m = x.size // layer.num_features
        if m < 2:
            raise ValueError(f"{layer!r}: training needs more than 1 value per channel, got input {x.shape}")
        mean, x_centered, var = batch_statistics(x, layer.axes, shape)
        layer.running_mean[...] = moving_average(layer.running_mean, mean, layer.momentum, 1.0)
        layer.running_var[...] = moving_average(layer.running_var, var, layer.momentum, m / (m - 1))  # unbiased
    else:
        mean, var = layer.running_mean, layer.running_var
        x_centered = x - mean.reshape(shape)
    return x_centered, inverse_std(var, var.dtype.type(layer.eps)).reshape(shape)  # (1, C) or (1, C, 1, 1)


class BatchNorm(Layer):
    """y = gamma * x_hat + beta,   x_hat = (x - mean) / sqrt(var + eps), per channel.

    x, y: (N, C) or (N, C, h, w); statistics per channel C, over the other axes
    (m = N or N*h*w values each). gamma, beta: (C,), start at 1 and 0.

    Training mode: mean and var are the batch's (var biased, divided by m);
    the running statistics move towards them with ``momentum`` (PyTorch's 0.1):
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)   (unbiased)
    Eval mode: mean and var are running_mean and running_var (constants).

    Backward, sums and means over the statistics axes:
        dgamma = sum(dout * x_hat)      dbeta = sum(dout)
        train: dx = gamma / sqrt(var + eps) * (dout - mean(dout) - x_hat * mean(dout * x_hat))
        eval:  dx = gamma / sqrt(var + eps) * dout
    In training the batch mean and var depend on x, which gives the two subtracted
    terms; dropping the last one is the classic bug an all-ones upstream gradient hides.
    Keeps: x_hat and 1 / sqrt(var + eps).
    """

    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.params["gamma"] = np.ones(num_features, dtype=np.float32)
        self.params["beta"] = np.zeros(num_features, dtype=np.float32)
        self._init_grads()
        self.running_mean = np.zeros(num_features, dtype=np.float32)
        self.running_var = np.ones(num_features, dtype=np.float32)

    def forward(self, x):
        check_channels(self, x)
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)  # broadcast (C,) against x
        x_centered, self.inv_std = centre_and_scale(self, x, shape)
        self.x_hat, y = normalise(x_centered, self.inv_std, self.params["gamma"].reshape(shape),
                                  self.params["beta"].reshape(shape))  # fmt: skip
        return y

    def backward(self, dout, param_grads=True, input_grad=True):
        shape = self.inv_std.shape
        scale = self.params["gamma"].reshape(shape) * self.inv_std
        if not self.training and not param_grads:
            return scale * dout
        dgamma, dbeta = gradient_sums(dout, self.x_hat, self.axes)  # sum(dout * x_hat), sum(dout): (C,) each
        if param_grads:
            self.grads["gamma"] += dgamma
            self.grads["beta"] += dbeta
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        if not self.training:
            return scale * dout
        m = dout.size // self.num_features
        mean_dout = (dbeta / m).reshape(shape)  # mean(dout): dbeta's sums, reused
        mean_dout_xhat = (dgamma / m).reshape(shape)  # mean(dout * x_hat): dgamma's sums, reused
        return batchnorm_dx(scale, dout, mean_dout, self.x_hat, mean_dout_xhat)

    def __repr__(self):
        return f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps})"
