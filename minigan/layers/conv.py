"""2-D convolution and transposed convolution by im2col and one matrix product.

Notation: x (N, C, H, W), square kernel k, stride s, padding p.
    Ho = (H + 2p - k) // s + 1                                  (Conv2D output size)
    Hout = (H - 1) * s - 2p + k + output_padding                (ConvTranspose2D output size)

im2col copies every k*k patch of x into one column, so the convolution becomes a
single matrix product that BLAS (or cuBLAS) does fast:
    cols = im2col(x)            (C*k*k, N*Ho*Wo)
    y    = W.reshape(C_out, C*k*k) @ cols      (C_out, N*Ho*Wo)

col2im is the ADJOINT of im2col (<im2col(x), c> == <x, col2im(c)>): it adds every
column back onto the patch it came from. Conv2D's input gradient is col2im of
W.T @ dout, and ConvTranspose2D is exactly that map used as a forward pass, so
the two layers below are mirror images: each one's forward is the other's backward.
"""

import numpy as np

from ..backend import get_array_module, init_rng
from .base import Layer


def conv_output_size(size, k, stride, padding):
    """Ho = (H + 2p - k) // s + 1."""
    return (size + 2 * padding - k) // stride + 1


def im2col(x, k, stride, padding):
    """Patches of x as columns: (N, C, H, W) -> (C*k*k, N*Ho*Wo).

    Row index (c, i, j) is channel c, kernel offset (i, j); column (n, ho, wo) is the
    output pixel. A strided VIEW of the padded input picks the patches without a
    Python loop; the final reshape makes the one copy im2col is named for.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    sN, sC, sH, sW = x.strides
    patches = xp.lib.stride_tricks.as_strided(  # (C, k, k, N, Ho, Wo), a view
        x, shape=(C, k, k, N, Ho, Wo), strides=(sC, sH, sW, sN, sH * stride, sW * stride)
    )
    return patches.reshape(C * k * k, N * Ho * Wo)


def col2im(cols, x_shape, k, stride, padding):
    """Adjoint of im2col: (C*k*k, N*Ho*Wo) -> (N, C, H, W), overlapping patches summed.

    Loops over the k*k kernel offsets only; each adds one strided slice at once.
    """
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    cols = cols.reshape(C, k, k, N, Ho, Wo)
    x = xp.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            # kernel offset (i, j) touched input pixels i, i+s, ..., i+s*(Ho-1) (same for j)
            x[:, :, i : i + stride * Ho : stride, j : j + stride * Wo : stride] += cols[:, i, j].transpose(1, 0, 2, 3)
    return x[:, :, padding : padding + H, padding : padding + W]


def _glorot_kernel(shape, k, rng):
    """Glorot uniform for a kernel: a = sqrt(6 / ((C_in + C_out) * k * k)), as Keras."""
    a = np.sqrt(6.0 / ((shape[0] + shape[1]) * k * k))
    return (rng or init_rng()).uniform(-a, a, shape).astype(np.float32)


def _check_sizes(layer, kernel_size, stride, padding):
    for name, v, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{layer}: {name} must be an integer >= {low}, got {v!r}")


class Conv2D(Layer):
    """y[n, o] = b[o] + sum_c x[n, c] (cross-correlated with) W[o, c]   (as torch.nn.Conv2d).

    x: (N, C_in, H, W)  ->  y: (N, C_out, Ho, Wo),  Ho = (H + 2p - k) // s + 1
    W: (C_out, C_in, k, k),  b: (C_out,)

    Forward:   cols = im2col(x)  (C_in*k*k, N*Ho*Wo);   y = W2 @ cols,  W2 = W as (C_out, C_in*k*k)
    Backward:  dy = dout as (C_out, N*Ho*Wo)
               dW = dy @ cols.T         db = dout summed over (N, Ho, Wo)
               dx = col2im(W2.T @ dy)   (the adjoint of the forward)
    Initialisation: Glorot uniform, b = 0. Keeps: cols and the input shape.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, rng=None):
        super().__init__()
        _check_sizes("Conv2D", kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.k, self.stride, self.padding, self.bias = kernel_size, stride, padding, bias
        self.params["W"] = _glorot_kernel((out_channels, in_channels, kernel_size, kernel_size), kernel_size, rng)
        if bias:
            self.params["b"] = np.zeros(out_channels, dtype=np.float32)
        self._init_grads()

    def output_shape(self, x_shape):
        N, _, H, W = x_shape
        return (N, self.out_channels, *(conv_output_size(s, self.k, self.stride, self.padding) for s in (H, W)))

    def forward(self, x):
        self.check_input(x, 4, f"(N, {self.in_channels}, H, W)")
        out_shape = self.output_shape(x.shape)
        if x.shape[1] != self.in_channels or min(out_shape[2:]) < 1:
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, H, W) with "
                f"H + 2*{self.padding} >= {self.k} and W + 2*{self.padding} >= {self.k}, got {x.shape}"
            )
        N, C_out, Ho, Wo = out_shape
        self.x_shape = x.shape
        self.cols = im2col(x, self.k, self.stride, self.padding)  # (C_in*k*k, N*Ho*Wo)
        y = self.params["W"].reshape(C_out, -1) @ self.cols  # (C_out, N*Ho*Wo)
        y = y.reshape(C_out, N, Ho, Wo).transpose(1, 0, 2, 3)  # (N, C_out, Ho, Wo)
        if self.bias:
            y = y + self.params["b"].reshape(1, -1, 1, 1)
        return y

    def backward(self, dout, param_grads=True):
        C_out = self.out_channels
        W2 = self.params["W"].reshape(C_out, -1)  # (C_out, C_in*k*k)
        dy = dout.transpose(1, 0, 2, 3).reshape(C_out, -1)  # (C_out, N*Ho*Wo)
        if param_grads:
            self.grads["W"] += (dy @ self.cols.T).reshape(self.params["W"].shape)
            if self.bias:
                self.grads["b"] += dout.sum(axis=(0, 2, 3))
        return col2im(W2.T @ dy, self.x_shape, self.k, self.stride, self.padding)  # (N, C_in, H, W)

    def __repr__(self):
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.k}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias})"
        )


class ConvTranspose2D(Layer):
    """The adjoint of Conv2D used as a layer (as torch.nn.ConvTranspose2d): it upsamples.

    x: (N, C_in, H, W)  ->  y: (N, C_out, Hout, Wout),  Hout = (H - 1)*s - 2p + k + output_padding
    W: (C_in, C_out, k, k)  (PyTorch's layout),  b: (C_out,)

    Think of the Conv2D that maps (N, C_out, Hout, Wout) to (N, C_in, H, W) with this W.
    ConvTranspose2D's forward is that convolution's input gradient, and its input
    gradient is that convolution's forward:
    Forward:   x2 = x as (C_in, N*H*W);  y = col2im(W2.T @ x2),  W2 = W as (C_in, C_out*k*k)
    Backward:  dcols = im2col(dout)  (C_out*k*k, N*H*W)
               dW = x2 @ dcols.T     db = dout summed over (N, Hout, Wout)
               dx = W2 @ dcols       (a plain Conv2D forward of dout)
    ``output_padding`` (< stride) adds rows/columns at the bottom/right that no input
    reaches, to pick between the output sizes that all convolve back to H.
    Initialisation: Glorot uniform, b = 0. Keeps: x2 and the input shape.
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True, rng=None
    ):
        super().__init__()
        _check_sizes("ConvTranspose2D", kernel_size, stride, padding)
        if not 0 <= output_padding < stride:
            raise ValueError(f"ConvTranspose2D: output_padding must be in [0, stride={stride}), got {output_padding}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.k, self.stride, self.padding, self.output_padding = kernel_size, stride, padding, output_padding
        self.bias = bias
        self.params["W"] = _glorot_kernel((in_channels, out_channels, kernel_size, kernel_size), kernel_size, rng)
        if bias:
            self.params["b"] = np.zeros(out_channels, dtype=np.float32)
        self._init_grads()

    def output_shape(self, x_shape):
        N, _, H, W = x_shape
        s, p, k, op = self.stride, self.padding, self.k, self.output_padding
        return (N, self.out_channels, (H - 1) * s - 2 * p + k + op, (W - 1) * s - 2 * p + k + op)

    def forward(self, x):
        self.check_input(x, 4, f"(N, {self.in_channels}, H, W)")
        out_shape = self.output_shape(x.shape)
        if x.shape[1] != self.in_channels or min(out_shape[2:]) < 1:
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, H, W) giving a non-empty "
                f"output, got {x.shape} (output would be {out_shape})"
            )
        C_in = self.in_channels
        self.x_shape = x.shape
        self.x2 = x.transpose(1, 0, 2, 3).reshape(C_in, -1)  # (C_in, N*H*W)
        cols = self.params["W"].reshape(C_in, -1).T @ self.x2  # (C_out*k*k, N*H*W)
        y = col2im(cols, out_shape, self.k, self.stride, self.padding)  # (N, C_out, Hout, Wout)
        if self.bias:
            y = y + self.params["b"].reshape(1, -1, 1, 1)
        return y

    def backward(self, dout, param_grads=True):
        N, C_in, H, W = self.x_shape
        W2 = self.params["W"].reshape(C_in, -1)  # (C_in, C_out*k*k)
        dcols = im2col(dout, self.k, self.stride, self.padding)  # (C_out*k*k, N*H*W)
        if param_grads:
            self.grads["W"] += (self.x2 @ dcols.T).reshape(self.params["W"].shape)
            if self.bias:
                self.grads["b"] += dout.sum(axis=(0, 2, 3))
        dx = W2 @ dcols  # (C_in, N*H*W)
        return dx.reshape(C_in, N, H, W).transpose(1, 0, 2, 3)  # (N, C_in, H, W)

    def __repr__(self):
        return (
            f"ConvTranspose2D({self.in_channels}, {self.out_channels}, kernel_size={self.k}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, bias={self.bias})"
        )
