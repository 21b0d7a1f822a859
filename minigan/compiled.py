"""Loops compiled for the CPU, used where numba is installed: nothing here is needed.

NumPy runs one operation at a time, each a loop over the arrays, and pays a fixed cost
for every run of numbers it starts. Some of minigan's CPU hot spots suffer from that:

- ``conv_fast.row2im`` adds each of the k*k kernel offsets' slices of the patch rows
  into the image. In a channels-last image such a slice is one run of C numbers per
  pixel (C = 64 in the DCGAN), so NumPy spends most of its time starting runs.
  ``conv_fast.im2row``'s copy, its adjoint, has the same runs (with C >= 8; for fewer
  channels NumPy's strided copy is faster than the loop).
- Adam (``flat.adam_update``) makes 13 passes over the parameters, one per operation,
  each reading and writing whole arrays; written as one loop, each number is read
  once and its 13 operations happen while it is in a register.
- LeakyReLU's slope and product (four passes) and Dropout's masked product (two), BatchNorm's
  statistics (five passes: a mean, a difference, squares, a mean) and its normalisation
  and gradient (three and four): the same, on a smaller scale.

The loops below do the same operations, written out and compiled by numba. The same
numbers, bit for bit: every result comes from the same operations in the same order
and precision as the NumPy code it stands in for (tests/test_compiled.py); numba's
``error_model="numpy"`` keeps NumPy's rules for a division by zero (inf or nan, no
exception), and nothing is reassociated or fused. One difference: a loop does not
warn as NumPy does (of an overflow, an invalid value such as 0 * inf, an underflow);
where np.errstate asks to raise, the NumPy code runs instead.

Where numba cannot be imported, or MINIGAN_COMPILED=0 is set, ``loops()`` is None and
the NumPy code runs. numba compiles the loops in a process's first training step
(about 2 s) and keeps them in a cache for later runs (0.3 s).
benchmarks/RESULTS.md (round 9) has the measurements.
"""

import os
import threading
import types

_loops = False  # not looked for yet; then the namespace below, or None
_lock = threading.Lock()  # the two halves of a split may ask at the same moment


def _new_lock_after_fork():
    """A forked child gets a lock of its own (the parent's may have been held by a thread the child lacks)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def loops():
    """The compiled loops (below), or None without numba or with
    MINIGAN_COMPILED=0. numba is imported on the first call, not with minigan."""
    global _loops
    if _loops is False:
        with _lock:
            if _loops is False:
                _loops = None if os.environ.get("MINIGAN_COMPILED") == "0" else _compile()
    return _loops


def _compile():
    try:
        import numba
    except ImportError:
        return None
    try:
        return _define(numba, cache=True)
    except RuntimeError:  # nowhere to keep the compiled code (a read-only install, no writable home)
        return _define(numba, cache=False)  # compiled anew in each process


def _define(numba, cache):
    """The loops, each compiled on its first call; ``cache``: kept on disk for later runs."""
    import numpy as np

    compile_loop = numba.njit(nogil=True, cache=cache, error_model="numpy")  # nogil: the halves of a split run at once

    @compile_loop
    def row2im_add(rows, x, stride, padding):
        """x = row2im(rows): x (N, h, w, C) <- 0, then for each kernel offset (i, j) in
        turn, x[n, o*s + i - p, o2*s + j - p, c] += rows[n, o, o2, i, j, c] for every
        output pixel (o, o2) whose input lies inside the image.

        rows: (N, ho, wo, k, k, C);  x: (N, h, w, C), both C-contiguous, of one dtype.
        Each pixel of x gets its terms in the order of conv_fast.row2im's loop (i, then
        j), so the same sums.
        """
        N, ho, wo, k, _, C = rows.shape
        h, w = x.shape[1], x.shape[2]
        x[...] = 0
        for n in range(N):
            for i in range(k):
                for j in range(k):
                    for o in range(ho):
                        y = o * stride + i - padding
                        if 0 <= y < h:
                            for o2 in range(wo):
                                z = o2 * stride + j - padding
                                if 0 <= z < w:
                                    for c in range(C):
                                        x[n, y, z, c] += rows[n, o, o2, i, j, c]

    @compile_loop
    def im2row_copy(x, rows, stride, padding):
        """rows = im2row(x): rows[n, o, o2, i, j, c] = x[n, o*s + i - p, o2*s + j - p, c],
        0 where that lies outside the image (the zero padding).

        x: (N, h, w, C);  rows: (N, ho, wo, k, k, C), both C-contiguous, of one dtype.
        """
        N, h, w, C = x.shape
        ho, wo, k = rows.shape[1], rows.shape[2], rows.shape[3]
        for n in range(N):
            for o in range(ho):
                for o2 in range(wo):
                    for i in range(k):
                        y = o * stride + i - padding
                        for j in range(k):
                            z = o2 * stride + j - padding
                            if 0 <= y < h and 0 <= z < w:
                                for c in range(C):
                                    rows[n, o, o2, i, j, c] = x[n, y, z, c]
                            else:
                                for c in range(C):
                                    rows[n, o, o2, i, j, c] = 0

    @compile_loop
    def adam(p, g, m, v, step_size, bias_correction2_sqrt, beta1, beta2, eps, one_minus_beta1, one_minus_beta2):
        """flat.adam_update's 13 passes as one loop, element by element:

            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            p = p - m / (sqrt(v) / bias_correction2_sqrt + eps) * step_size

        p, g, m, v: 1-D, one dtype; the constants are scalars of that dtype, as NumPy
        makes of the Python floats the passes are given.
        """
        for i in range(p.shape[0]):
            m_i = m[i] * beta1 + g[i] * one_minus_beta1
            v_i = v[i] * beta2 + g[i] * one_minus_beta2 * g[i]
            m[i] = m_i
            v[i] = v_i
            p[i] = p[i] - m_i / (np.sqrt(v_i) / bias_correction2_sqrt + eps) * step_size

    @compile_loop
    def leaky_relu(x, mask, slope, y, zero, one_minus_alpha, alpha):
        """backend.leaky_relu's four passes as one loop: mask = x > 0,
        slope = (1 - alpha if x > 0 else 0) + alpha (exactly 1 or alpha, as
        backend.leaky_relu_slope makes it), y = slope * x.

        x, mask (bool), slope, y: 1-D, in one memory order; zero, one_minus_alpha, alpha:
        scalars of x's dtype.
        """
        for i in range(x.shape[0]):
            keep = x[i] > 0
            s = (one_minus_alpha if keep else zero) + alpha
            mask[i] = keep
            slope[i] = s
            y[i] = s * x[i]

    @compile_loop
    def masked_and_scaled(t, mask, scale, one, zero, out):
        """backend.masked_and_scaled's two passes as one loop: out = t * mask * scale,
        the mask taken as 1 or 0 in a product (so t * 0 keeps t's sign, as NumPy's does).

        t, mask (bool), out: 1-D, in one memory order; scale, one, zero: scalars of
        out's dtype.
        """
        for i in range(t.shape[0]):
            out[i] = t[i] * (one if mask[i] else zero) * scale

    # BatchNorm, on (P, C) rows: the P = N*h*w pixels of a channels-last batch (or the N
    # samples of an (N, C) one) in memory order. NumPy sums such an array over its pixels
    # row by row, from 0, one channel per lane: each channel's sum adds its pixels in
    # order, which is what these loops do. A mean divides that float sum by the count as
    # NumPy's mean does: in float64 (the count is an integer array scalar), then rounded.
    @compile_loop
    def batch_statistics(x, count, mean, x_centered, var):
        """mean = sum(x) / count, x_centered = x - mean, var = sum(x_centered^2) / count,
        per channel. x, x_centered: (P, C); mean, var: (C,); count: float64."""
        P, C = x.shape
        total = np.zeros(C, x.dtype)
        for p in range(P):
            for c in range(C):
                total[c] += x[p, c]
        for c in range(C):
            mean[c] = total[c] / count
            total[c] = 0
        for p in range(P):
            for c in range(C):
                d = x[p, c] - mean[c]
                x_centered[p, c] = d
                total[c] += d * d
        for c in range(C):
            var[c] = total[c] / count

    @compile_loop
    def normalise(x_centered, inv_std, gamma, beta, x_hat, y):
        """x_hat = x_centered * inv_std, y = x_hat * gamma + beta. x_centered, x_hat, y:
        (P, C); inv_std, gamma, beta: (C,)."""
        P, C = x_centered.shape
        for p in range(P):
            for c in range(C):
                h = x_centered[p, c] * inv_std[c]
                x_hat[p, c] = h
                y[p, c] = h * gamma[c] + beta[c]

    @compile_loop
    def gradient_sums(dout, x_hat, dgamma, dbeta):
        """dgamma = sum(dout * x_hat), dbeta = sum(dout), per channel. dout, x_hat: (P, C)."""
        P, C = dout.shape
        dgamma[:] = 0
        dbeta[:] = 0
        for p in range(P):
            for c in range(C):
                dgamma[c] += dout[p, c] * x_hat[p, c]
                dbeta[c] += dout[p, c]

    @compile_loop
    def batchnorm_dx(scale, dout, mean_dout, x_hat, mean_dout_xhat, dx):
        """dx = scale * (dout - mean_dout - x_hat * mean_dout_xhat). dout, x_hat, dx: (P, C);
        scale, mean_dout, mean_dout_xhat: (C,)."""
        P, C = dout.shape
        for p in range(P):
            for c in range(C):
                dx[p, c] = scale[c] * (dout[p, c] - mean_dout[c] - x_hat[p, c] * mean_dout_xhat[c])

    return types.SimpleNamespace(
        row2im_add=row2im_add,
        im2row_copy=im2row_copy,
        adam=adam,
        leaky_relu=leaky_relu,
        masked_and_scaled=masked_and_scaled,
        batch_statistics=batch_statistics,
        normalise=normalise,
        gradient_sums=gradient_sums,
        batchnorm_dx=batchnorm_dx,
    )
