"""2-D convolution and transposed convolution, as matrix products on patch matrices.

Vocabulary (the same in conv_reference.py, conv_fast.py, second_order.py, the course):
    x (N, C, h, w)      an image batch; lowercase h, w are sizes, so W is always a kernel
    W, b                the kernels and biases; k the kernel size, s the stride, p the padding
    ho, wo              the output size: ho = (h + 2p - k) // s + 1 for a convolution
    cols                im2col(x): (C*k*k, N*ho*wo), one column per output pixel, channels first
    rows                im2row(x): (N*ho*wo, k*k*C), one row per output pixel, channels last
    W_cols              W as (C_out, C_in*k*k): y_cols = W_cols @ cols  (the course's layout)
    W_rows              W as (k*k*C_in, C_out) = kernel_matrix(W): y_rows = rows @ W_rows
    y_rows, dy_rows     an output or gradient as (N*ho*wo, C), channels last (x_rows: k = 1)

A convolution is a Dense layer on the rows: y_rows = rows @ W_rows. Its input gradient
is the adjoint map, dx = row2im(dy_rows @ W_rows.T), and that same map used as a
forward pass is the transposed convolution. So the two layers are mirror images:
each one's forward is the other's input gradient.

The layers work channels-last (an output is stored (N, ho, wo, C) and handed on as a
transposed view of logical shape (N, C, ho, wo)); why, and how the patch matrices are
made fast, is in conv_fast.py, whose ``ConvWorkspace`` each layer holds.
``matmul(a, b)`` is a @ b, shared between a CPU's two cores (backend.matmul).
"""

import numpy as np

from ..backend import init_rng, matmul
from .base import Layer
from .conv_fast import ConvWorkspace, kernel_matrix, kernel_of_matrix
from .conv_reference import conv_output_size


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

    x: (N, C_in, h, w)  ->  y: (N, C_out, ho, wo),  ho = (h + 2p - k) // s + 1
    W: (C_out, C_in, k, k),  b: (C_out,)

    Forward:   rows = im2row(x)                  (N*ho*wo, k*k*C_in)
               y_rows = rows @ W_rows + b        (N*ho*wo, C_out)
    Backward:  dW_rows = rows.T @ dy_rows        db = dy_rows summed over its rows
               dx = row2im(dy_rows @ W_rows.T)   (the adjoint of the forward)
    Initialisation: Glorot uniform, b = 0. Keeps: rows and the input shape.
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
        self.patches = ConvWorkspace(kernel_size, stride, padding)

    def output_shape(self, x_shape):
        N, _, h, w = x_shape
        return (N, self.out_channels, *(conv_output_size(n, self.k, self.stride, self.padding) for n in (h, w)))

    def forward(self, x):
        self.check_input(x, 4, f"(N, {self.in_channels}, h, w)")
        N, C_out, ho, wo = self.output_shape(x.shape)
        if x.shape[1] != self.in_channels or min(ho, wo) < 1:
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, h, w) with "
                f"h + 2*{self.padding} >= {self.k} and w + 2*{self.padding} >= {self.k}, got {x.shape}"
            )
        self.x_shape = x.shape
        self.rows = self.patches.im2row(x)  # (N*ho*wo, k*k*C_in)
        y_rows = matmul(self.rows, kernel_matrix(self.params["W"]))  # rows @ W_rows (N*ho*wo, C_out)
        if self.bias:
            y_rows += self.params["b"]
        return y_rows.reshape(N, ho, wo, C_out).transpose(0, 3, 1, 2)  # (N, C_out, ho, wo), channels-last

    def backward(self, dout, param_grads=True, input_grad=True):
        W = self.params["W"]
        dy_rows = dout.transpose(0, 2, 3, 1).reshape(-1, self.out_channels)  # (N*ho*wo, C_out), a view
        if param_grads:
            self.grads["W"] += kernel_of_matrix(matmul(self.rows.T, dy_rows), W.shape)  # rows.T @ dy_rows
            if self.bias:
                self.grads["b"] += dy_rows.sum(axis=0)
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        return self.patches.matmul_row2im(dy_rows, kernel_matrix(W).T, self.x_shape)  # (N, C_in, h, w)

    @property
    def cols(self):
        """im2col(x) of the last input, (C_in*k*k, N*ho*wo): the kept rows, reordered (a copy)."""
        C, k = self.in_channels, self.k
        return self.rows.reshape(-1, k, k, C).transpose(3, 1, 2, 0).reshape(C * k * k, -1)

    def __repr__(self):
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.k}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias})"
        )


class ConvTranspose2D(Layer):
    """The adjoint of Conv2D used as a layer (as torch.nn.ConvTranspose2d): it upsamples.

    x: (N, C_in, h, w)  ->  y: (N, C_out, ho, wo),  ho = (h - 1)*s - 2p + k + output_padding
    W: (C_in, C_out, k, k)  (PyTorch's layout),  b: (C_out,)

    With this W, the Conv2D from (N, C_out, ho, wo) to (N, C_in, h, w) has the matrix
    W_rows = kernel_matrix(W) (k*k*C_out, C_in). This layer's forward is that Conv2D's
    input gradient, and its input gradient is that Conv2D's forward:
    Forward:   x_rows = x as (N*h*w, C_in)       y = row2im(x_rows @ W_rows.T) + b
    Backward:  drows = im2row(dout)              (N*h*w, k*k*C_out)
               dW_rows = drows.T @ x_rows        db = dout summed over (N, ho, wo)
               dx_rows = drows @ W_rows          (a Conv2D forward of dout)
    ``output_padding`` (< stride) adds rows/columns at the bottom/right that no input
    reaches, to pick between the output sizes that all convolve back to h.
    Initialisation: Glorot uniform, b = 0. Keeps: x_rows and the input shape.
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
        self.patches = ConvWorkspace(kernel_size, stride, padding)

    def output_shape(self, x_shape):
        N, _, h, w = x_shape
        s, p, k, op = self.stride, self.padding, self.k, self.output_padding
        return (N, self.out_channels, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op)

    def forward(self, x):
        self.check_input(x, 4, f"(N, {self.in_channels}, h, w)")
        out_shape = self.output_shape(x.shape)
        if x.shape[1] != self.in_channels or min(out_shape[2:]) < 1:
            raise ValueError(
                f"{self!r}: expected input of shape (N, {self.in_channels}, h, w) giving a non-empty "
                f"output, got {x.shape} (output would be {out_shape})"
            )
        self.x_shape = x.shape
        self.x_rows = x.transpose(0, 2, 3, 1).reshape(-1, self.in_channels)  # (N*h*w, C_in)
        W_rows = kernel_matrix(self.params["W"])  # (k*k*C_out, C_in)
        y = self.patches.matmul_row2im(self.x_rows, W_rows.T, out_shape)  # (N, C_out, ho, wo), channels-last
        if self.bias:
            y += self.params["b"].reshape(1, -1, 1, 1)
        return y

    def backward(self, dout, param_grads=True, input_grad=True):
        W = self.params["W"]
        dW_rows, dx_rows = self.patches.im2row_products(  # im2row(dout).T @ x_rows, im2row(dout) @ W_rows
            dout, self.x_rows if param_grads else None, kernel_matrix(W) if input_grad else None
        )
        if param_grads:
            self.grads["W"] += kernel_of_matrix(dW_rows, W.shape)  # (C_in, C_out, k, k)
            if self.bias:
                self.grads["b"] += dout.sum(axis=(0, 2, 3))
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        N, C_in, h, w = self.x_shape
        return dx_rows.reshape(N, h, w, C_in).transpose(0, 3, 1, 2)  # (N, C_in, h, w), channels-last

    def __repr__(self):
        return (
            f"ConvTranspose2D({self.in_channels}, {self.out_channels}, kernel_size={self.k}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, bias={self.bias})"
        )
