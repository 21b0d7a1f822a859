"""Loops compiled for the CPU, used where numba is installed: nothing here is needed.

NumPy runs each operation as a loop over the innermost run of numbers its arrays have
in common, and pays a fixed cost for every run. Most of minigan's operations have long
runs; one does not. ``conv_fast.row2im`` adds each of the k*k kernel offsets' slices of
the patch rows into the image, and in a channels-last image such a slice is one run of
C numbers per pixel (C = 64 in the DCGAN): NumPy then spends most of its time starting
runs, not adding. The loop below does the same adds, written out, compiled by numba.

The same numbers, bit for bit: every sum is made of the same terms added in the same
order as the NumPy code it stands in for (tests/test_compiled.py). Where numba cannot be
imported, or MINIGAN_COMPILED=0 is set, ``loops()`` is None and the NumPy code runs.
numba compiles each loop on its first call (a second or so), and keeps the result in a
cache for later runs. benchmarks/RESULTS.md (round 9) has the measurements.
"""

import os
import threading
import types

_loops = False  # not looked for yet; then the namespace below, or None
_lock = threading.Lock()  # the two halves of a split may ask at the same moment


def loops():
    """The compiled loops (an object with ``row2im_add``), or None without numba or with
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

    @numba.njit(nogil=True, cache=True)
    def row2im_add(rows, x, stride, padding):
        """x = row2im(rows): x (N, h, w, C) <- 0, then for each kernel offset (i, j) in
        turn, x[n, o*s + i - p, o2*s + j - p, c] += rows[n, o, o2, i, j, c] for every
        output pixel (o, o2) whose input lies inside the image.

        rows: (N, ho, wo, k, k, C);  x: (N, h, w, C), both C-contiguous, of one dtype.
        Each pixel of x gets its terms in the order of conv_fast.row2im's loop (i, then
        j), so the same sums; nogil: the two halves of a split run at once.
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

    return types.SimpleNamespace(row2im_add=row2im_add)
