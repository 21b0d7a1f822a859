"""The convolution as the course teaches it: im2col, col2im, and the plain loops.

Vocabulary as in conv.py: x (N, C, h, w), kernels W, square kernel k, stride s, padding p.

    conv2d_naive, conv_transpose2d_naive   the definitions, as loops (slow, obvious, NumPy)
    im2col, col2im                         a convolution as one matrix product, and its adjoint

The layers in conv.py compute the same numbers with the channels-last twins of
im2col/col2im (see conv_fast.py); tests/test_conv.py checks both against the loops.
"""

import numpy as np

from ..backend import get_array_module


def conv_output_size(size, k, stride, padding):
    """ho = (h + 2p - k) // s + 1."""
    return (size + 2 * padding - k) // stride + 1


def conv2d_naive(x, W, b, stride, padding):
    """y[n, o, i, j] = b[o] + sum over c, u, v of x_pad[n, c, i*s + u, j*s + v] * W[o, c, u, v].

    x: (N, C_in, h, w)   W: (C_out, C_in, k, k)   b: (C_out,) or None   ->   y: (N, C_out, ho, wo)
    """
    N, _, h, w = x.shape
    C_out, _, k, _ = W.shape
    ho, wo = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((N, C_out, ho, wo))  # float64: the reference adds up in full precision
    for n in range(N):
        for o in range(C_out):
            for i in range(ho):
                for j in range(wo):
                    patch = x_pad[n, :, i * stride : i * stride + k, j * stride : j * stride + k]  # (C_in, k, k)
                    y[n, o, i, j] = (patch * W[o]).sum() + (0 if b is None else b[o])
    return y


def conv_transpose2d_naive(x, W, b, stride, padding, output_padding=0):
    """Scatter: every input pixel x[n, c, i, j] adds x[n, c, i, j] * W[c] (a (C_out, k, k) stamp)
    at rows i*s .. i*s + k - 1, columns j*s .. j*s + k - 1 of the uncropped output; then
    ``padding`` rows and columns are cropped from every side.

    x: (N, C_in, h, w)   W: (C_in, C_out, k, k)   b: (C_out,) or None
    ->  y: (N, C_out, ho, wo),  ho = (h - 1)*s - 2p + k + output_padding
    """
    N, C_in, h, w = x.shape
    _, C_out, k, _ = W.shape
    size = [(n - 1) * stride + k + output_padding for n in (h, w)]
    full = np.zeros((N, C_out, *size))  # float64, as above
    for n in range(N):
        for c in range(C_in):
            for i in range(h):
                for j in range(w):
                    full[n, :, i * stride : i * stride + k, j * stride : j * stride + k] += x[n, c, i, j] * W[c]
    y = full[:, :, padding : size[0] - padding, padding : size[1] - padding]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def im2col(x, k, stride, padding):
    """Patches of x as columns: (N, C, h, w) -> cols (C*k*k, N*ho*wo).

    Row (c, i, j) is channel c, kernel offset (i, j); column (n, ho, wo) is the output
    pixel, so a convolution is y = W.reshape(C_out, C*k*k) @ cols. A strided VIEW of
    the padded input picks the patches without a Python loop; the final reshape makes
    the one copy im2col is named for.
    """
    xp = get_array_module(x)
    N, C, h, w = x.shape
    ho, wo = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    if padding:
        x = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    sN, sC, sh, sw = x.strides
    patches = xp.lib.stride_tricks.as_strided(  # (C, k, k, N, ho, wo), a view
        x, shape=(C, k, k, N, ho, wo), strides=(sC, sh, sw, sN, sh * stride, sw * stride)
    )
    return patches.reshape(C * k * k, N * ho * wo)


def col2im(cols, x_shape, k, stride, padding):
    """Adjoint of im2col: cols (C*k*k, N*ho*wo) -> (N, C, h, w), overlapping patches summed.

    <im2col(x), cols> == <x, col2im(cols)>. Loops over the k*k kernel offsets only;
    each adds one strided slice at once.
    """
    xp = get_array_module(cols)
    N, C, h, w = x_shape
    ho, wo = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    cols = cols.reshape(C, k, k, N, ho, wo)
    x = xp.zeros((N, C, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            # kernel offset (i, j) touched input pixels i, i+s, ..., i+s*(ho-1) (same for j)
            x[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[:, i, j].transpose(1, 0, 2, 3)
    return x[:, :, padding : padding + h, padding : padding + w]
