"""2-D convolution and transposed convolution by im2col and matrix products.

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

The layers use the same two maps with the patch matrix transposed and the channels
last, im2row and row2im: one ROW per output pixel, columns in (i, j, c) order,
    rows = im2row(x)            (N*Ho*Wo, k*k*C)
    y    = rows @ Wc            (N*Ho*Wo, C_out),  Wc = kernel_matrix(W)  (k*k*C, C_out)
so a convolution is a Dense layer applied to the rows, with Dense's (in, out) weight
layout and Dense's backward (dWc = rows.T @ dy, drows = dy @ Wc.T, then row2im).

Why change the layout: memory order decides the speed. With x stored channels-last,
(N, H, W, C), the k pixels of one kernel row times the C channels are ONE contiguous
run of k*C numbers, so the copy moves long runs (from (N, C, H, W) memory it gathers
runs of Wo numbers spaced s apart); the products read and write whole rows; and y
comes out channels-last again, ready for the next layer. The arrays keep their
logical shape (N, C, H, W); only the memory order is channels-last (PyTorch's
"channels_last memory format"): y.reshape(N, Ho, Wo, C_out).transpose(0, 3, 1, 2)
is a view.

On the CPU the layers make their patch matrices a block of a few images at a time
(about 4 MB, see ``matmul_row2im``) and use each block at once, while it is in the
cache: one product per block instead of one for the batch, the same numbers up to
rounding. On the GPU the whole batch is one block. benchmarks/RESULTS.md has the numbers.
"""

import math

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


def im2row(x, k, stride, padding, out=None):
    """Patches of x as rows, channels last: (N, C, H, W) -> (N*Ho*Wo, k*k*C).

    Row (n, ho, wo) is the patch under output pixel (ho, wo); column (i, j, c) is kernel
    offset (i, j), channel c. The same numbers as im2col(x), transposed and with the
    channel index moved last. Fastest when x is channels-last in memory (as every conv
    layer's output is): then x.transpose(0, 2, 3, 1) is free and each (j, c) run of a
    patch is contiguous. ``out``: a C-contiguous (N*Ho*Wo, k*k*C) array to copy into.
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    x = x.transpose(0, 2, 3, 1)  # (N, H, W, C), a view
    if padding:
        x_pad = xp.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)  # (N, H+2p, W+2p, C)
        x_pad[:, padding : padding + H, padding : padding + W] = x
        x = x_pad
    sN, sH, sW, sC = x.strides
    patches = xp.lib.stride_tricks.as_strided(  # (N, Ho, Wo, k, k, C), a view
        x, shape=(N, Ho, Wo, k, k, C), strides=(sN, sH * stride, sW * stride, sH, sW, sC)
    )
    if out is None:
        return patches.reshape(N * Ho * Wo, k * k * C)
    out.reshape(patches.shape)[...] = patches  # the same copy, into out
    return out


def row2im(rows, x_shape, k, stride, padding, out=None):
    """Adjoint of im2row: (N*Ho*Wo, k*k*C) -> (N, C, H, W), overlapping patches summed.

    Loops over the k*k kernel offsets only; each adds one strided slice of C-long
    contiguous runs. Entries that fell on the zero padding are dropped (they are no
    pixel of x), so the result is a plain (N, H, W, C) array seen as (N, C, H, W).
    ``out``: an (N, H, W, C) array to overwrite with the result.
    """
    xp = get_array_module(rows)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, k, stride, padding), conv_output_size(W, k, stride, padding)
    rows = rows.reshape(N, Ho, Wo, k, k, C)
    if out is None:
        x = xp.zeros((N, H, W, C), dtype=rows.dtype)
    else:
        x = out
        x[...] = 0
    for i in range(k):
        ho, h = _inside(i, Ho, H, stride, padding)
        for j in range(k):
            wo, w = _inside(j, Wo, W, stride, padding)
            x[:, h, w] += rows[:, ho, wo, i, j]
    return x.transpose(0, 3, 1, 2)  # (N, C, H, W), channels-last in memory


BLOCK_BYTES = 4 << 20  # patch rows per block of images on the CPU: they fit in the cache


def images_per_block(xp, N, bytes_per_image):
    """How many of the N images one block holds: on the CPU as many as fit in
    BLOCK_BYTES of patch rows (at least one); on the GPU all N (there every block
    costs k*k kernel launches, and the whole batch is what keeps the GPU busy)."""
    if xp is not np:
        return N
    return max(1, min(N, BLOCK_BYTES // max(1, bytes_per_image)))


def image_blocks(N, n, pixels):
    """Cut N images into blocks of n (the last may be smaller). Yields, per block,
    (images, span): the block's slice of the batch, and its slice of the rows of a
    (N*pixels, ...) patch matrix, which holds ``pixels`` rows per image."""
    for start in range(0, N, n):
        stop = min(start + n, N)
        yield slice(start, stop), slice(start * pixels, stop * pixels)


def matmul_row2im(a, b, x_shape, k, stride, padding, buffer=None):
    """row2im(a @ b, x_shape, k, stride, padding), a block of images at a time. Returns (x, buffer).

    a: (N*Ho*Wo, K), b: (K, k*k*C)  ->  x: (N, C, H, W), channels-last in memory,
    with Ho, Wo the conv output size of (H, W). Conv2D's input gradient
    (a = dy, b = Wc.T) and ConvTranspose2D's forward (a = x2, b = Wc.T) are both this map.
    For the whole batch at once, a @ b would be the largest array of the step (40 MB
    for the discriminator's second convolution at batch 128): the product writes it
    out to memory and row2im reads it back. A block of a few images' rows (about 4 MB,
    see ``images_per_block``) is added up by row2im right after the product made it,
    while it is still in the cache. The sums are the same as in one piece, up to
    rounding. ``buffer``: holds the block's rows (see ``scratch``).
    """
    xp = get_array_module(a)
    N, C, H, W = x_shape
    pixels = conv_output_size(H, k, stride, padding) * conv_output_size(W, k, stride, padding)  # rows of a per image
    x = xp.empty((N, H, W, C), dtype=xp.result_type(a, b))
    n = images_per_block(xp, N, pixels * b.shape[1] * x.itemsize)
    block, buffer = scratch(buffer, (n * pixels, b.shape[1]), x.dtype, xp)
    for images, span in image_blocks(N, n, pixels):
        ab = block[: span.stop - span.start]  # (m*Ho*Wo, k*k*C): a @ b for the block's m images
        xp.matmul(a[span], b, out=ab)
        row2im(ab, (images.stop - images.start, C, H, W), k, stride, padding, out=x[images])
    return x.transpose(0, 3, 1, 2), buffer


def _inside(i, n_out, n_in, stride, padding):
    """Kernel offset i along one axis: (the outputs o whose input o*s + i - p lies in
    [0, n_in), those inputs), as two slices of equal length."""
    first = max(0, -((i - padding) // stride))  # ceil((p - i) / s)
    last = min(n_out, (n_in - 1 + padding - i) // stride + 1)
    start = first * stride + i - padding
    return slice(first, last), slice(start, start + stride * max(last - first, 0), stride)


def scratch(buffer, shape, dtype, xp):
    """A ``shape`` array laid over the flat array ``buffer`` when that is big enough
    (same dtype and device), else over a new one. Returns (array, buffer).

    The patch matrices are the biggest arrays of a step (40 MB for the DCGAN
    discriminator's second convolution at batch 128). Allocated afresh at every call,
    they cost the operating system a fresh set of zeroed pages each time, so the conv
    layers keep their buffers and reuse them: Conv2D's rows for the whole batch (a
    smaller batch uses its beginning), and one block's worth for the patch matrices
    made a block of images at a time.
    """
    size = math.prod(shape)
    if buffer is None or buffer.size < size or buffer.dtype != dtype or get_array_module(buffer) is not xp:
        buffer = xp.empty(size, dtype=dtype)
    return buffer[:size].reshape(shape), buffer


def kernel_matrix(W):
    """A kernel as a Dense weight matrix: (C_out, C_in, k, k) -> (k*k*C_in, C_out).

    Row (i, j, c) matches im2row's column (i, j, c), so a convolution is rows @ kernel_matrix(W).
    The result is the transpose (a view) of a C-contiguous (C_out, k*k*C_in) copy of W:
    the copy keeps W's outer axis outermost, so it reads W in long runs (twice as fast as
    copying straight into the (k*k*C_in, C_out) order), and BLAS takes the transposed
    operand as it is, with no further copy.
    """
    C_out, C_in, k, _ = W.shape
    return W.transpose(0, 2, 3, 1).reshape(C_out, k * k * C_in).T


def kernel_of_matrix(Wc, W_shape):
    """Inverse of kernel_matrix: (k*k*C_in, C_out) -> (C_out, C_in, k, k) (a view)."""
    C_out, C_in, k, _ = W_shape
    return Wc.reshape(k, k, C_in, C_out).transpose(3, 2, 0, 1)


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

    Forward:   rows = im2row(x)  (N*Ho*Wo, k*k*C_in);   y = rows @ Wc + b  (N*Ho*Wo, C_out)
               Wc = kernel_matrix(W)  (k*k*C_in, C_out)
    Backward:  dy = dout as (N*Ho*Wo, C_out)   (a view when dout is channels-last, as y is)
               dWc = rows.T @ dy        db = dy summed over its N*Ho*Wo rows
               dx = row2im(dy @ Wc.T)   (the adjoint of the forward)
    That is a Dense layer on the rows. y is channels-last in memory (see the module
    docstring). In im2col's layout the same products read y.T = W2 @ cols with
    cols = rows.T and W2 = W as (C_out, C_in*k*k) = Wc.T with its columns reordered.
    Initialisation: Glorot uniform, b = 0. Keeps: rows and the input shape; rows lives
    in a buffer reused from call to call (see ``scratch``). On the CPU the forward
    product takes each block of a few images' rows just after im2row wrote it, and
    drows is made a block at a time and row2im'd right away (see ``matmul_row2im``).
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
        self.rows_buffer = self.drows_buffer = None

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
        xp = get_array_module(x)
        N, C_out, Ho, Wo = out_shape
        self.x_shape = x.shape
        self.rows, self.rows_buffer = scratch(self.rows_buffer, (N * Ho * Wo, self.k**2 * x.shape[1]), x.dtype, xp)
        Wc = kernel_matrix(self.params["W"])  # (k*k*C_in, C_out)
        y = xp.empty((N * Ho * Wo, C_out), dtype=xp.result_type(x, Wc))
        # rows = im2row(x)  (N*Ho*Wo, k*k*C_in);  y = rows @ Wc, a block of images at a time:
        # the product reads each block of rows from the cache, just after the copy wrote it
        n = images_per_block(xp, N, Ho * Wo * self.rows.shape[1] * self.rows.itemsize)
        for images, span in image_blocks(N, n, Ho * Wo):
            im2row(x[images], self.k, self.stride, self.padding, out=self.rows[span])
            xp.matmul(self.rows[span], Wc, out=y[span])
        if self.bias:
            y += self.params["b"]
        return y.reshape(N, Ho, Wo, C_out).transpose(0, 3, 1, 2)  # (N, C_out, Ho, Wo), channels-last

    def backward(self, dout, param_grads=True, input_grad=True):
        C_out = self.out_channels
        dy = dout.transpose(0, 2, 3, 1).reshape(-1, C_out)  # (N*Ho*Wo, C_out)
        if param_grads:
            self.grads["W"] += kernel_of_matrix(self.rows.T @ dy, self.params["W"].shape)  # (C_out, C_in, k, k)
            if self.bias:
                self.grads["b"] += dy.sum(axis=0)
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        Wc = kernel_matrix(self.params["W"])  # (k*k*C_in, C_out)
        dx, self.drows_buffer = matmul_row2im(  # row2im(dy @ Wc.T): (N*Ho*Wo, k*k*C_in) -> (N, C_in, H, W)
            dy, Wc.T, self.x_shape, self.k, self.stride, self.padding, self.drows_buffer
        )
        return dx

    @property
    def cols(self):
        """im2col(x) of the last input, (C_in*k*k, N*Ho*Wo): the kept rows, reordered (a copy)."""
        C, k = self.in_channels, self.k
        return self.rows.reshape(-1, k, k, C).transpose(3, 1, 2, 0).reshape(C * k * k, -1)

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
    Forward:   x2 = x as (N*H*W, C_in) (channels last);  y = row2im(x2 @ Wc.T) + b
               Wc = kernel_matrix(W)  (k*k*C_out, C_in), the matrix of that Conv2D
    Backward:  drows = im2row(dout)  (N*H*W, k*k*C_out)
               dWc = drows.T @ x2    db = dout summed over (N, Hout, Wout)
               dx = drows @ Wc       (a plain Conv2D forward of dout)
    x2 is a view when x is channels-last in memory; y and dx are channels-last (see
    the module docstring). On the CPU rows = x2 @ Wc.T (N*H*W, k*k*C_out) and drows are
    made a block of a few images at a time, in a reused buffer, and used right away:
    rows by row2im, drows by both products (see ``matmul_row2im`` and ``scratch``).
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
        self.rows_buffer = self.drows_buffer = None

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
        self.x2 = x.transpose(0, 2, 3, 1).reshape(-1, C_in)  # (N*H*W, C_in)
        Wc = kernel_matrix(self.params["W"])  # (k*k*C_out, C_in)
        y, self.rows_buffer = matmul_row2im(  # row2im(x2 @ Wc.T): (N*H*W, k*k*C_out) -> (N, C_out, Hout, Wout)
            self.x2, Wc.T, out_shape, self.k, self.stride, self.padding, self.rows_buffer
        )
        if self.bias:
            y += self.params["b"].reshape(1, -1, 1, 1)
        return y

    def backward(self, dout, param_grads=True, input_grad=True):
        xp = get_array_module(dout)
        N, C_in, H, W = self.x_shape
        k, C_out = self.k, dout.shape[1]
        dWc = xp.zeros((k * k * C_out, C_in), dtype=self.params["W"].dtype) if param_grads else None
        if input_grad:
            Wc = kernel_matrix(self.params["W"])  # (k*k*C_out, C_in)
            dx = xp.empty((N * H * W, C_in), dtype=xp.result_type(dout, Wc))
        # drows = im2row(dout); dWc = drows.T @ x2; dx = drows @ Wc, a block of images at a
        # time, so that each block of drows is used while it is in the cache (see matmul_row2im)
        n = images_per_block(xp, N, H * W * k * k * C_out * dout.itemsize)
        block, self.drows_buffer = scratch(self.drows_buffer, (n * H * W, k * k * C_out), dout.dtype, xp)
        for images, span in image_blocks(N, n, H * W):
            drows = im2row(dout[images], k, self.stride, self.padding, out=block[: span.stop - span.start])
            if param_grads:
                dWc += drows.T @ self.x2[span]
            if input_grad:
                xp.matmul(drows, Wc, out=dx[span])
        if param_grads:
            self.grads["W"] += kernel_of_matrix(dWc, self.params["W"].shape)  # (C_in, C_out, k, k)
            if self.bias:
                self.grads["b"] += dout.sum(axis=(0, 2, 3))
        if not input_grad:
            return None  # the first layer of a network: dx is not wanted (see Sequential.backward)
        return dx.reshape(N, H, W, C_in).transpose(0, 3, 1, 2)  # (N, C_in, H, W), channels-last

    def __repr__(self):
        return (
            f"ConvTranspose2D({self.in_channels}, {self.out_channels}, kernel_size={self.k}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, bias={self.bias})"
        )
