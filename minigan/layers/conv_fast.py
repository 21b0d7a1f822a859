"""What makes conv.py fast: channels-last patch matrices, in blocks of images, in kept buffers.

Vocabulary as in conv.py. The layers compute the products of conv_reference.py's
im2col with the patch matrix transposed and the channel index last:

    rows   = im2row(x)          (N*ho*wo, k*k*C)   one row per output pixel, columns (i, j, c)
    W_rows = kernel_matrix(W)   (k*k*C_in, C_out)  row (i, j, c) matches im2row's column
    y_rows = rows @ W_rows      (N*ho*wo, C_out)   = y stored channels-last
    row2im                      the adjoint of im2row, as col2im is im2col's

Why: memory order decides the speed. With x stored channels-last, (N, h, w, C), the
k pixels of one kernel row times the C channels are ONE contiguous run of k*C numbers,
so im2row copies long runs; the products read and write whole rows; and y comes out
channels-last again, ready for the next layer. The arrays keep their logical shape
(N, C, h, w); only the memory order is channels-last (PyTorch's "channels_last").

``ConvWorkspace`` is what a layer holds: it makes the patch matrices a block of a
few images at a time (about 4 MB, ``backend.images_per_block``), so that each block
is used while it is in the cache, and keeps its buffers from call to call (the patch
matrices are the largest arrays of a step; fresh ones cost fresh zeroed pages).
benchmarks/RESULTS.md has the measurements.
"""

import math

from ..backend import (
    SPLIT_MACS,
    compiled_loops,
    fold_in_one_sum,
    get_array_module,
    images_per_block,
    in_halves,
    loop_layout,
    matmul,
)
from .conv_reference import conv_output_size


def kernel_matrix(W):
    """A kernel as a Dense weight matrix: W (C_out, C_in, k, k) -> W_rows (k*k*C_in, C_out).

    The transpose (a view) of a C-contiguous (C_out, k*k*C_in) copy: the copy reads W in
    long runs, and BLAS takes the transposed operand as it is.
    """
    C_out, C_in, k, _ = W.shape
    return W.transpose(0, 2, 3, 1).reshape(C_out, k * k * C_in).T


def kernel_of_matrix(W_rows, W_shape):
    """Inverse of kernel_matrix: (k*k*C_in, C_out) -> (C_out, C_in, k, k) (a view)."""
    C_out, C_in, k, _ = W_shape
    return W_rows.reshape(k, k, C_in, C_out).transpose(3, 2, 0, 1)


def im2row(x, k, stride, padding, out=None):
    """Patches of x as rows, channels last: x (N, C, h, w) -> rows (N*ho*wo, k*k*C).

    rows == im2col(x).T with each column's (c, i, j) reordered to (i, j, c). ``out``: a
    C-contiguous (N*ho*wo, k*k*C) array to copy into (on a CPU with numba, by a compiled
    loop when x is channels-last: see backend.compiled_loops).
    """
    xp = get_array_module(x)
    N, C, h, w = x.shape
    ho, wo = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    x = x.transpose(0, 2, 3, 1)  # (N, h, w, C), a view (free when x is channels-last)
    loops = compiled_loops(xp)
    if loops is not None and out is not None and C >= IM2ROW_LOOP_CHANNELS and loop_layout(x, out):
        loops.im2row_copy(x, out.reshape(N, ho, wo, k, k, C), stride, padding)  # the same copy, compiled
        return out
    if padding:
        x_pad = xp.zeros((N, h + 2 * padding, w + 2 * padding, C), dtype=x.dtype)  # (N, h+2p, w+2p, C)
        x_pad[:, padding : padding + h, padding : padding + w] = x
        x = x_pad
    sN, sh, sw, sC = x.strides
    patches = xp.lib.stride_tricks.as_strided(  # (N, ho, wo, k, k, C), a view
        x, shape=(N, ho, wo, k, k, C), strides=(sN, sh * stride, sw * stride, sh, sw, sC)
    )
    if out is None:
        return patches.reshape(N * ho * wo, k * k * C)
    out.reshape(patches.shape)[...] = patches  # the same copy, into out
    return out


IM2ROW_LOOP_CHANNELS = 8  # im2row's compiled copy from this many channels on (fewer: NumPy's copy is faster)


def _inside(i, n_out, n_in, stride, padding):
    """Kernel offset i along one axis: (the outputs o whose input o*s + i - p lies in
    [0, n_in), those inputs), as two slices of equal length."""
    first = max(0, -((i - padding) // stride))  # ceil((p - i) / s)
    last = min(n_out, (n_in - 1 + padding - i) // stride + 1)
    start = first * stride + i - padding
    return slice(first, last), slice(start, start + stride * max(last - first, 0), stride)


def row2im(rows, x_shape, k, stride, padding, out=None):
    """Adjoint of im2row: rows (N*ho*wo, k*k*C) -> (N, C, h, w), overlapping patches summed.

    Loops over the k*k kernel offsets; each adds one strided slice of C-long runs, only
    the entries that land inside the image (on the GPU, where each add is a kernel launch,
    ``row2im_one_sum`` instead; see ``backend.fold_in_one_sum``; on a CPU with numba, the
    same adds as one compiled loop, see ``backend.compiled_loops``). The result is
    channels-last in memory. ``out``: an (N, h, w, C) array to overwrite with the result.
    """
    xp = get_array_module(rows)
    if fold_in_one_sum(xp):
        return row2im_one_sum(rows, x_shape, k, stride, padding, out)
    N, C, h, w = x_shape
    ho, wo = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    rows = rows.reshape(N, ho, wo, k, k, C)
    x = xp.empty((N, h, w, C), dtype=rows.dtype) if out is None else out
    loops = compiled_loops(xp)
    if loops is not None and x.shape == (N, h, w, C) and loop_layout(rows, x):
        loops.row2im_add(rows, x, stride, padding)  # the loop below, compiled: the same adds
        return x.transpose(0, 3, 1, 2)
    x[...] = 0
    for i in range(k):
        o_h, in_h = _inside(i, ho, h, stride, padding)
        for j in range(k):
            o_w, in_w = _inside(j, wo, w, stride, padding)
            x[:, in_h, in_w] += rows[:, o_h, o_w, i, j]
    return x.transpose(0, 3, 1, 2)  # (N, C, h, w), channels-last in memory


def _phase_grid(n_in, n_out, k, stride, padding):
    """One axis of row2im_one_sum: (u0, U, Q, base, src, dst).

    Input y with y + p = u*s + r gets the outputs o = u - q at offsets i = r + s*q,
    q = 0..Q-1 (Q = ceil(k/s)), for u = u0..u0+U-1. The padded rows hold output o at
    index o - base (base = u0 - Q + 1); src, dst: the outputs copied there and where
    they go, as slices of equal length.
    """
    Q = -(-k // stride)
    u0, u1 = padding // stride, (n_in - 1 + padding) // stride
    base = u0 - Q + 1
    first, last = max(0, base), min(n_out, u1 + 1)
    return u0, u1 - u0 + 1, Q, base, slice(first, last), slice(first - base, last - base)


def row2im_one_sum(rows, x_shape, k, stride, padding, out=None):
    """row2im with one sum over a strided view instead of k*k adds (3 kernel launches).

    Along one axis, input y gets rows[o, i] for o*s + i = y + p. With y + p = u*s + r
    (0 <= r < s), those are i = r + s*q, o = u - q for q = 0..Q-1, Q = ceil(k/s). Once
    the rows are copied into zeros padded so that every such (o, i) exists (o outside
    0..ho-1 and i >= k hold 0), every pixel is the sum of exactly Q*Q entries, at
    constant strides in (u, r, q). With P[o + Q-1 - u0, i] the padded rows:

        x[n, (u, r), (v, t), c] = sum_{q, q'} P[n, u - u0 + Q-1 - q, v - v0 + Q-1 - q', r + s q, t + s q', c]

    one reduction of an as_strided view (its q strides are negative). The terms are
    added in row2im's order (i, then j, increasing): on NumPy the two agree bit for bit.
    Costs a zero-padded copy of the rows, (s*Q / k)^2 * (U + Q - 1)(V + Q - 1) / (ho * wo)
    times their size (U, V: the u, v of the image).
    """
    xp = get_array_module(rows)
    N, C, h, w = x_shape
    s = stride
    ho, wo = conv_output_size(h, k, s, padding), conv_output_size(w, k, s, padding)
    u0, U, Q, _, src_h, dst_h = _phase_grid(h, ho, k, s, padding)
    v0, V, _, _, src_w, dst_w = _phase_grid(w, wo, k, s, padding)
    kp = s * Q  # kernel offsets padded to a multiple of the stride
    P = xp.zeros((N, U + Q - 1, V + Q - 1, kp, kp, C), dtype=rows.dtype)  # zero-padded rows
    P[:, dst_h, dst_w, :k, :k] = rows.reshape(N, ho, wo, k, k, C)[:, src_h, src_w]
    sN, sO, sW, sI, sJ, sC = P.strides
    view = xp.lib.stride_tricks.as_strided(  # (N, U, s, V, s, Q, Q, C), a view starting at P[:, Q-1, Q-1]
        P[:, Q - 1 :, Q - 1 :],
        shape=(N, U, s, V, s, Q, Q, C),
        strides=(sN, sO, sI, sW, sJ, s * sI - sO, s * sJ - sW, sC),
    )
    off_h, off_w = padding - u0 * s, padding - v0 * s  # y + p - u0*s: where y = 0 sits
    x = xp.empty((N, h, w, C), dtype=rows.dtype) if out is None else out
    fits = (off_h, off_w, U * s, V * s) == (0, 0, h, w) and x.flags.c_contiguous  # sum straight into x
    grid = x.reshape(N, U, s, V, s, C) if fits else xp.empty((N, U, s, V, s, C), dtype=rows.dtype)
    view.sum(axis=(5, 6), out=grid)
    if not fits:
        x[...] = grid.reshape(N, U * s, V * s, C)[:, off_h : off_h + h, off_w : off_w + w]
    return x.transpose(0, 3, 1, 2)  # (N, C, h, w), channels-last in memory


def image_blocks(N, n, pixels):
    """Cut N images into blocks of n (the last may be smaller). Yields, per block,
    (images, span): the block's slice of the batch, and its slice of the rows of a
    (N*pixels, ...) patch matrix, which holds ``pixels`` rows per image."""
    for start in range(0, N, n):
        stop = min(start + n, N)
        yield slice(start, stop), slice(start * pixels, stop * pixels)


class Scratch:
    """One flat buffer, reused from call to call for arrays of any shape that fit."""

    def __init__(self):
        self.buffer = None

    def take(self, shape, dtype, xp):
        """A ``shape`` array laid over the buffer (a new, bigger buffer when it does not fit)."""
        size = math.prod(shape)
        b = self.buffer
        if b is None or b.size < size or b.dtype != dtype or get_array_module(b) is not xp:
            self.buffer = b = xp.empty(size, dtype=dtype)
        return b[:size].reshape(shape)

    def __deepcopy__(self, memo):
        return Scratch()  # a buffer is no state: a copy makes its own


class ConvWorkspace:
    """The patch matrices of one conv layer (kernel k, stride, padding), made fast.

    Holds ``kept``, the rows a layer keeps from its forward to its backward, and
    ``blocks``, one buffer per half of the images for one block of rows used at once.
    What it returns from ``kept`` is valid until its next ``im2row``.
    """

    def __init__(self, k, stride, padding):
        self.k, self.stride, self.padding = k, stride, padding
        self.kept, self.blocks = Scratch(), (Scratch(), Scratch())  # one block buffer per half of the images

    def _pixels_and_images(self, xp, x_shape, columns, itemsize):
        """(rows of the patch matrix per image, images per block) for input shape x_shape."""
        N, _, h, w = x_shape
        pixels = conv_output_size(h, self.k, self.stride, self.padding)
        pixels *= conv_output_size(w, self.k, self.stride, self.padding)
        return pixels, images_per_block(xp, N, pixels * columns * itemsize)

    def im2row(self, x):
        """rows = im2row(x) (N*ho*wo, k*k*C), in the kept buffer, copied a block of
        images at a time (the zero-padded copy of x is then one block's)."""
        xp = get_array_module(x)
        N, C = x.shape[:2]
        columns = self.k * self.k * C
        pixels, n = self._pixels_and_images(xp, x.shape, columns, x.itemsize)
        rows = self.kept.take((N * pixels, columns), x.dtype, xp)

        def copy(lo, hi):  # images lo..hi-1, a block at a time
            for images, span in image_blocks(hi - lo, n, pixels):
                im2row(x[lo:][images], self.k, self.stride, self.padding, out=rows[lo * pixels :][span])

        in_halves(xp, copy, N, rows.size)  # on the CPU: half the images on each core (cores.in_halves)
        return rows

    def matmul_row2im(self, a, b, x_shape):
        """row2im(a @ b, x_shape): a (N*ho*wo, K), b (K, k*k*C) -> (N, C, h, w), channels-last.

        A block of images at a time: each block of a @ b is added up by row2im while
        it is in the cache (for the whole batch it would be the step's largest array).
        On the CPU the images are cut in two halves first, each in its own blocks and
        block buffer: on two threads each core makes and adds up its own half, and on
        one the same blocks follow each other, so the products are the same either way
        (``in_halves(cut=True)``).
        """
        xp = get_array_module(a)
        N, C, h, w = x_shape
        x = xp.empty((N, h, w, C), dtype=xp.result_type(a, b))
        pixels, n = self._pixels_and_images(xp, x_shape, b.shape[1], x.itemsize)

        def part(lo, hi):  # images lo..hi-1, a block at a time, in this half's own block buffer
            block = self.blocks[lo > 0].take((min(n, hi - lo) * pixels, b.shape[1]), x.dtype, xp)
            for images, span in image_blocks(hi - lo, n, pixels):
                ab = block[: span.stop - span.start]  # (m*ho*wo, k*k*C): a @ b for the block's m images
                xp.matmul(a[lo * pixels :][span], b, out=ab)
                row2im(ab, (images.stop - images.start, C, h, w), self.k, self.stride, self.padding,
                       out=x[lo:][images])  # fmt: skip

        in_halves(xp, part, N, a.shape[0] * a.shape[1] * b.shape[1], minimum=SPLIT_MACS, cut=True)
        return x.transpose(0, 3, 1, 2)

    def im2row_products(self, t, a=None, b=None):
        """(im2row(t).T @ a, im2row(t) @ b), each skipped (None) when its operand is None.

        t (N, C, h, w);  a (N*ho*wo, A) -> (k*k*C, A);  b (k*k*C, B) -> (N*ho*wo, B).
        A block of images at a time: both products use each block of rows while it is
        in the cache, and the first sums over the blocks. On two CPU threads each
        copies half of a block's images and computes half of each product (``matmul``).
        """
        xp = get_array_module(t)
        N, C = t.shape[:2]
        columns = self.k * self.k * C
        pixels, n = self._pixels_and_images(xp, t.shape, columns, t.itemsize)
        rows_T_a = None if a is None else xp.zeros((columns, a.shape[1]), dtype=xp.result_type(t, a))
        rows_b = None if b is None else xp.empty((N * pixels, b.shape[1]), dtype=xp.result_type(t, b))
        block = self.blocks[0].take((n * pixels, columns), t.dtype, xp)
        for images, span in image_blocks(N, n, pixels):
            rows = block[: span.stop - span.start]

            def copy(lo, hi, images=images, rows=rows):  # images lo..hi-1 of the block
                im2row(t[images][lo:hi], self.k, self.stride, self.padding, out=rows[lo * pixels : hi * pixels])

            in_halves(xp, copy, images.stop - images.start, rows.size)
            if a is not None:
                rows_T_a += matmul(rows.T, a[span])
            if b is not None:
                matmul(rows, b, out=rows_b[span])
        return rows_T_a, rows_b
