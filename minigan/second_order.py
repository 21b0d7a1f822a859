"""The WGAN-GP gradient penalty and the second-order pass it needs.

The penalty (Gulrajani et al., 2017) asks the critic D to have gradient norm 1
with respect to its input, at points x_hat between real and generated samples:

    P(theta) = lambda * mean_n (||g_n|| - 1)^2,      g_n = d D(x_hat_n) / d x_hat_n

g comes from a BACKWARD pass (D.backward with an upstream gradient of ones), so
dP/dtheta is a derivative of a backward pass. Autograd libraries get it by
"double backprop". Here it is derived by hand, in three steps:

1. v_n = dP/dg_n = (2 lambda / N) (||g_n|| - 1) g_n / ||g_n||      (the chain rule on the norm)
2. dP/dtheta = d/dtheta (sum_n v_n . g_n)  with v held fixed. And v . g = v . grad_x D
   is the DIRECTIONAL derivative of D along v:  s_dot = J_x D(x_hat) v.
   So run D forward in "tangent mode": every layer maps (a, a_dot) to
   (y, y_dot) = (f(a), J_f(a) a_dot), starting from a_dot = v.
3. Backpropagate the scalar sum_n s_dot_n through that tangent computation to
   the weights: each layer receives (dy, dy_dot) and returns (da, da_dot), adding
   its weight gradient. For a linear layer y_dot = a_dot W, so
       dW += a^T dy + a_dot^T dy_dot,      da = dy W^T,      da_dot = dy_dot W^T
   and for an activation y = phi(a), y_dot = phi'(a) a_dot, so
       da = phi'(a) dy + phi''(a) a_dot dy_dot,      da_dot = phi'(a) dy_dot.
   dy starts at zero (the objective depends on s_dot only) and stays zero through
   piecewise-linear layers (phi'' = 0 for ReLU/LeakyReLU), so ``None`` stands for
   an all-zero dy and saves the matching products.

Only the layers a critic needs have this pass: Dense, Conv2D, ReLU, LeakyReLU,
Tanh, Sigmoid, Flatten, Reshape, Pack, and Dropout (with the mask of the forward pass).
BatchNorm has none on purpose: it mixes the examples of a batch, so "the gradient
of D(x_hat_n) with respect to x_hat_n" is not what the penalty assumes. The
first-order layer code is untouched: all of this reads the caches their forward
passes keep.
"""

from .backend import get_array_module
from .layers import Conv2D, Dense, Dropout, Flatten, LeakyReLU, Pack, ReLU, Reshape, Sequential, Sigmoid, Tanh
from .layers.conv_reference import col2im, im2col

SUPPORTED = (Dense, Conv2D, ReLU, LeakyReLU, Tanh, Sigmoid, Flatten, Reshape, Pack, Dropout)


def flat_layers(net):
    """The layers of a (possibly nested) Sequential, in order."""
    if not isinstance(net, Sequential):
        return [net]
    return [leaf for layer in net.layers for leaf in flat_layers(layer)]


def check_critic(D):
    """Refuse a critic with a layer that has no second-order pass, naming it."""
    for i, layer in enumerate(flat_layers(D)):
        if not isinstance(layer, SUPPORTED):
            raise ValueError(
                f"gradient_penalty: layer {i} of the critic, {layer!r}, has no second-order pass; "
                f"a WGAN-GP critic may use only {', '.join(t.__name__ for t in SUPPORTED)}"
                + (" (BatchNorm mixes the examples of a batch: drop it from the critic)"
                   if type(layer).__name__ == "BatchNorm" else "")  # fmt: skip
            )


def _slope(layer, t):
    """phi'(a) * t for the piecewise-linear activations (uses the cached mask a > 0)."""
    xp = get_array_module(t)
    alpha = layer.alpha if isinstance(layer, LeakyReLU) else 0.0
    return xp.where(layer.mask, t, alpha * t)


def tangent_forward(layer, a_dot):
    """y_dot = J(a) a_dot at the input a of the layer's last forward pass.

    Returns (y_dot, cache); cache holds what tangent_backward needs beyond the
    layer's own forward caches.
    """
    if isinstance(layer, Dense):
        return a_dot @ layer.params["W"], a_dot  # (N, out)
    if isinstance(layer, Conv2D):
        N, C_out, ho, wo = layer.output_shape(layer.x_shape)
        cols_dot = im2col(a_dot, layer.k, layer.stride, layer.padding)  # (C_in*k*k, N*ho*wo)
        y_dot = (layer.params["W"].reshape(C_out, -1) @ cols_dot).reshape(C_out, N, ho, wo).transpose(1, 0, 2, 3)
        return y_dot, cols_dot
    if isinstance(layer, (ReLU, LeakyReLU)):
        return _slope(layer, a_dot), a_dot
    if isinstance(layer, Tanh):
        return (1 - layer.y * layer.y) * a_dot, a_dot  # tanh' = 1 - y^2
    if isinstance(layer, Sigmoid):
        return layer.y * (1 - layer.y) * a_dot, a_dot  # sigmoid' = y (1 - y)
    if isinstance(layer, Dropout):
        return layer.apply_mask(a_dot), None
    if isinstance(layer, (Flatten, Reshape, Pack)):
        return layer.forward(a_dot), a_dot.shape  # a reshape: the same map on the tangent
    raise ValueError(f"gradient_penalty: {layer!r} has no second-order pass")


def tangent_backward(layer, cache, dy, dy_dot):
    """Reverse of (y, y_dot) = (f(a), J(a) a_dot): returns (da, da_dot), adds dtheta into grads.

    dy may be None (all zeros); da is then None too where the layer allows it.
    """
    if isinstance(layer, Dense):
        a, a_dot, W = layer.x, cache, layer.params["W"]
        layer.grads["W"] += a_dot.T @ dy_dot + (0 if dy is None else a.T @ dy)
        if layer.bias and dy is not None:
            layer.grads["b"] += dy.sum(axis=0)  # y_dot has no bias: only dy reaches b
        return (None if dy is None else dy @ W.T), dy_dot @ W.T
    if isinstance(layer, Conv2D):
        C_out, W = layer.out_channels, layer.params["W"]
        W_cols = W.reshape(C_out, -1)  # (C_out, C_in*k*k)
        dy_dot_cols = dy_dot.transpose(1, 0, 2, 3).reshape(C_out, -1)  # (C_out, N*ho*wo)
        layer.grads["W"] += (dy_dot_cols @ cache.T).reshape(W.shape)
        da = None
        if dy is not None:
            dy_cols = dy.transpose(1, 0, 2, 3).reshape(C_out, -1)  # (C_out, N*ho*wo)
            layer.grads["W"] += (dy_cols @ layer.cols.T).reshape(W.shape)
            if layer.bias:
                layer.grads["b"] += dy.sum(axis=(0, 2, 3))
            da = col2im(W_cols.T @ dy_cols, layer.x_shape, layer.k, layer.stride, layer.padding)
        da_dot = col2im(W_cols.T @ dy_dot_cols, layer.x_shape, layer.k, layer.stride, layer.padding)
        return da, da_dot
    if isinstance(layer, (ReLU, LeakyReLU)):  # phi'' = 0: no cross term
        return (None if dy is None else _slope(layer, dy)), _slope(layer, dy_dot)
    if isinstance(layer, (Tanh, Sigmoid)):
        y, a_dot = layer.y, cache
        if isinstance(layer, Tanh):
            d1, d2 = 1 - y * y, -2 * y * (1 - y * y)  # tanh', tanh''
        else:
            d1 = y * (1 - y)
            d2 = d1 * (1 - 2 * y)  # sigmoid', sigmoid''
        da = d2 * a_dot * dy_dot + (0 if dy is None else d1 * dy)
        return da, d1 * dy_dot
    if isinstance(layer, Dropout):
        return (None if dy is None else layer.apply_mask(dy)), layer.apply_mask(dy_dot)
    if isinstance(layer, (Flatten, Reshape, Pack)):
        return (None if dy is None else dy.reshape(cache)), dy_dot.reshape(cache)
    raise ValueError(f"gradient_penalty: {layer!r} has no second-order pass")


def gradient_penalty(D, x_hat, weight=10.0):
    """lambda * mean_n (||grad_x D(x_hat_n)||_2 - 1)^2, and its weight gradients.

    D: the critic (a Sequential of supported layers), output (N, 1).
    x_hat: (N, ...) the points where the penalty is taken.
    Returns the penalty as a 0-d array and ADDS dP/dtheta into the critic's grads.
    Runs one forward pass of D on x_hat (Dropout draws its mask there and keeps it
    for the whole penalty), one backward pass and one tangent pass forward and back.
    """
    check_critic(D)
    xp = get_array_module(x_hat)
    layers = flat_layers(D)
    n = x_hat.shape[0]

    s = D.forward(x_hat)  # (N, 1)
    g = D.backward(xp.ones_like(s), param_grads=False)  # (N, ...): row n is dD(x_hat_n)/dx_hat_n
    g_flat = g.reshape(n, -1)  # (N, d)
    norm = xp.sqrt((g_flat * g_flat).sum(axis=1))  # (N,)
    penalty = weight * ((norm - 1) ** 2).mean()

    # 1. v = dP/dg
    tiny = xp.finfo(g.dtype).tiny
    v = ((2 * weight / n) * (norm - 1) / xp.maximum(norm, tiny))[:, None] * g_flat  # (N, d)
    # 2. tangent pass: a_dot runs forward from v; at the end it is s_dot = J_x D v, (N, 1)
    a_dot, caches = v.reshape(g.shape), []
    for layer in layers:
        a_dot, cache = tangent_forward(layer, a_dot)
        caches.append(cache)
    # 3. back through the tangent pass, from d(sum s_dot)/d s_dot = 1 (and d/ds = 0)
    dy, dy_dot = None, xp.ones_like(a_dot)
    for layer, cache in zip(reversed(layers), reversed(caches)):
        dy, dy_dot = tangent_backward(layer, cache, dy, dy_dot)
    return xp.asarray(penalty)
