"""The GPU's ways to fewer kernel launches compute what the CPU's code computes:
row2im as one strided sum, and the elementwise chains marked @fused (backend.fused)."""

import itertools

import numpy as np
import pytest

from minigan.backend import leaky_relu_slope, to_numpy
from minigan.layers.activations import sigmoid
from minigan.layers.conv_fast import row2im, row2im_one_sum
from minigan.layers.conv_reference import conv_output_size
from minigan.layers.dropout import dropped_and_scaled
from minigan.layers.norm import batchnorm_dx, inverse_std, moving_average, normalise
from minigan.losses import softplus

GRID = itertools.product([1, 2, 3, 4, 5], [1, 2, 3], [0, 1, 2], [5, 8, 14], [6, 7])  # k, stride, padding, h, w
CONFIGS = [(k, s, p, h, w) for k, s, p, h, w in GRID
           if p < k and conv_output_size(h, k, s, p) > 0 and conv_output_size(w, k, s, p) > 0]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row2im_one_sum_adds_in_the_loops_order(dtype):
    """On NumPy the strided sum and row2im's k*k adds agree bit for bit, for every kernel,
    stride and padding here (grids that match the image and grids that overhang it)."""
    rng = np.random.default_rng(0)
    for k, s, p, h, w in CONFIGS:
        N, C = 2, 3
        ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
        rows = rng.standard_normal((N * ho * wo, k * k * C)).astype(dtype)
        want = row2im(rows, (N, C, h, w), k, s, p)
        out = np.full((N, h, w, C), np.nan, dtype=dtype)
        for got in (row2im_one_sum(rows, (N, C, h, w), k, s, p), row2im_one_sum(rows, (N, C, h, w), k, s, p, out)):
            assert got.shape == want.shape
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"k={k} stride={s} padding={p} h={h} w={w}")


@pytest.mark.gpu
@pytest.mark.parametrize(("k", "s", "p", "h"), [(5, 2, 2, 14), (5, 2, 2, 28), (3, 1, 1, 7), (4, 2, 1, 9)])
def test_gpu_row2im_is_three_launches_and_the_cpus_numbers(k, s, p, h, ledger):
    import cupy

    N, C = 4, 8
    ho = conv_output_size(h, k, s, p)
    rows = np.random.default_rng(1).standard_normal((N * ho * ho, k * k * C)).astype(np.float32)
    rows_gpu = cupy.asarray(rows)
    before = ledger.total("launches")
    got = row2im(rows_gpu, (N, C, h, h), k, s, p, out=cupy.empty((N, h, h, C), dtype=np.float32))
    assert ledger.total("launches") - before <= 4, ledger.report("launches")  # 3, and a copy when the grid overhangs
    np.testing.assert_allclose(to_numpy(got), row2im(rows, (N, C, h, h), k, s, p), rtol=1e-6, atol=1e-6)


def chains(rng):
    """(function, its float32 arguments) for every @fused function."""
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 30
    c = rng.standard_normal((1, 3, 1, 1)).astype(np.float32)
    var = rng.uniform(0.1, 2, 3).astype(np.float32)
    return [(sigmoid, (x,)), (softplus, (x,)),
            (dropped_and_scaled, (x, x > 0.3, np.float32(1 / 0.7))),
            (inverse_std, (var, np.float32(1e-5))),
            (moving_average, (var, var[::-1].copy(), 0.1, 6 / 5)),
            (normalise, (x, c, c * 2, c * 3)),
            (batchnorm_dx, (c, x, c * 2, x[::-1].copy(), c * 3))]  # fmt: skip


@pytest.mark.gpu
def test_each_fused_chain_is_one_launch_with_the_cpus_numbers(ledger):
    import cupy

    for fn, args in chains(np.random.default_rng(2)):
        want = fn(*args)
        on_gpu = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        before = ledger.total("launches")
        got = fn(*on_gpu)
        assert ledger.total("launches") - before == 1, f"{fn.__name__}: {ledger.report('launches')}"
        for g, w in zip(*((got, want) if isinstance(want, tuple) else ((got,), (want,))), strict=True):
            assert g.dtype == w.dtype, fn.__name__
            np.testing.assert_allclose(to_numpy(g), w, rtol=1e-6, atol=1e-7, err_msg=fn.__name__)


def test_fused_chains_on_the_cpu_are_their_numpy_lines():
    """No copy of the math: on NumPy a @fused function is the function as written."""
    x = np.linspace(-40, 40, 101, dtype=np.float32)
    e = np.exp(-np.abs(x))
    np.testing.assert_array_equal(sigmoid(x), np.where(x >= 0, 1 / (1 + e), e / (1 + e)))
    np.testing.assert_array_equal(softplus(x), np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))
    assert sigmoid.__wrapped__.__name__ == "sigmoid"
    assert softplus.__doc__.startswith("log(1 + exp(t))")


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.3, 1.0, 1.7, -0.5])
def test_leaky_relu_slope_is_the_same_on_both_devices(xp, alpha):
    x = np.random.default_rng(3).standard_normal((6, 7)).astype(np.float32)
    x[0, :3] = 0
    mask, slope = leaky_relu_slope(xp.asarray(x), alpha)
    assert slope.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(mask), x > 0)
    np.testing.assert_array_equal(to_numpy(slope), np.where(x > 0, np.float32(1), np.float32(alpha)))
