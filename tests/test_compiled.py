"""minigan.compiled: the compiled CPU loops give the NumPy code's numbers, bit for bit."""

import sys
import threading

import numpy as np
import pytest

from minigan import backend, compiled
from minigan.layers import Conv2D, ConvTranspose2D
from minigan.layers.conv_fast import IM2ROW_LOOP_CHANNELS, im2row, row2im


@pytest.fixture
def fresh(monkeypatch):
    """loops() looks for numba again on its next call, and forgets it after the test."""
    monkeypatch.setattr(compiled, "_loops", False)


def with_and_without_loops(monkeypatch, fn):
    """fn() once with the compiled loops and once with the NumPy code."""
    pytest.importorskip("numba")
    monkeypatch.setattr(compiled, "_loops", False)
    assert backend.compiled_loops(np) is not None
    got = fn()
    monkeypatch.setattr(compiled, "_loops", None)
    assert backend.compiled_loops(np) is None
    return got, fn()


@pytest.mark.parametrize(
    "N, C, h, w, k, stride, padding",
    [
        (3, 64, 14, 14, 5, 2, 2),  # the DCGAN's second convolution
        (2, 1, 28, 28, 5, 2, 2),  # one channel
        (2, 3, 9, 7, 3, 1, 1),  # stride 1, not square
        (2, 4, 11, 10, 4, 3, 0),  # no padding, a stride that skips pixels
        (1, 2, 5, 5, 5, 1, 4),  # padding as large as the kernel: many offsets land outside
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row2im_compiled_is_bit_exact(monkeypatch, N, C, h, w, k, stride, padding, dtype):
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    rows = np.random.default_rng(0).standard_normal((N * ho * wo, k * k * C)).astype(dtype)
    rows[0, :3] = -0.0  # signed zeros take the same path

    def run():
        out = np.full((N, h, w, C), np.nan, dtype=dtype)  # every entry must be written
        x = row2im(rows, (N, C, h, w), k, stride, padding, out=out)
        assert x.shape == (N, C, h, w) and x.dtype == dtype
        return x, row2im(rows, (N, C, h, w), k, stride, padding)  # into out, and into a new array

    (a, b), (c, d) = with_and_without_loops(monkeypatch, run)
    for got in (a, b):
        np.testing.assert_array_equal(got, c)
        assert np.array_equal(np.signbit(got), np.signbit(c))
    np.testing.assert_array_equal(d, c)


@pytest.mark.parametrize(
    "N, C, h, w, k, stride, padding",
    [
        (3, 64, 14, 14, 5, 2, 2),  # the DCGAN's second convolution
        (2, 8, 9, 7, 3, 1, 1),  # stride 1, not square
        (2, 9, 11, 10, 4, 3, 0),  # no padding, a stride that skips pixels
        (1, 8, 5, 5, 5, 1, 4),  # padding as large as the kernel
        (2, 3, 14, 14, 5, 2, 2),  # fewer channels than IM2ROW_LOOP_CHANNELS: NumPy's copy
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2row_compiled_is_bit_exact(monkeypatch, N, C, h, w, k, stride, padding, dtype):
    x = LAYOUTS["channels-last"](special_values((N, C, h, w), dtype))
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1

    def run():
        out = np.full((N * ho * wo, k * k * C), np.nan, dtype=dtype)  # every entry must be written
        return im2row(x, k, stride, padding, out=out), im2row(
            np.ascontiguousarray(x), k, stride, padding, out=out.copy()
        )

    (a, b), (c, d) = with_and_without_loops(monkeypatch, run)
    for got in (a, b, d):
        np.testing.assert_array_equal(got, c)
        assert np.array_equal(np.signbit(got), np.signbit(c))  # -0.0 copied, padding +0.0


@pytest.mark.parametrize("C", [IM2ROW_LOOP_CHANNELS - 1, IM2ROW_LOOP_CHANNELS])
def test_im2row_takes_the_loop_from_im2row_loop_channels_on(monkeypatch, fresh, C):
    pytest.importorskip("numba")
    loops, calls = compiled.loops(), []
    monkeypatch.setattr(loops, "im2row_copy", lambda *args: calls.append(args))
    x = LAYOUTS["channels-last"](np.ones((2, C, 6, 6), np.float32))
    im2row(x, 3, 1, 1, out=np.empty((2 * 36, 9 * C), np.float32))
    assert len(calls) == (C >= IM2ROW_LOOP_CHANNELS)


def test_row2im_of_rows_not_contiguous_takes_numpy_and_agrees(monkeypatch):
    rows = np.random.default_rng(1).standard_normal((2 * 49 * 2, 25 * 3)).astype(np.float32)[::2]  # every other row
    (got,), (expected,) = with_and_without_loops(monkeypatch, lambda: (row2im(rows, (2, 3, 14, 14), 5, 2, 2),))
    np.testing.assert_array_equal(got, expected)


def test_conv_layers_train_to_the_same_bits_with_and_without_loops(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 8, 14, 14)).astype(np.float32)
    z = rng.standard_normal((4, 16, 7, 7)).astype(np.float32)

    def run():
        conv = Conv2D(8, 16, 5, stride=2, padding=2, rng=np.random.default_rng(3))
        up = ConvTranspose2D(16, 8, 5, stride=2, padding=2, output_padding=1, rng=np.random.default_rng(4))
        y = conv.forward(x)
        dx = conv.backward(np.ones_like(y) * 0.5)  # row2im
        u = up.forward(z)  # row2im
        dz = up.backward(np.cos(u))
        return [np.ascontiguousarray(a) for a in (y, dx, u, dz, conv.grads["W"], up.grads["W"])]

    got, expected = with_and_without_loops(monkeypatch, run)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_minigan_compiled_0_turns_the_loops_off(monkeypatch, fresh):
    monkeypatch.setenv("MINIGAN_COMPILED", "0")
    assert compiled.loops() is None
    assert backend.compiled_loops(np) is None


def test_without_numba_there_are_no_loops(monkeypatch, fresh):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert compiled.loops() is None


def test_no_loops_for_gpu_arrays():
    class FakeModule:  # any array module but NumPy
        pass

    assert backend.compiled_loops(FakeModule) is None


def test_two_threads_asking_at_once_get_the_same_loops(monkeypatch, fresh):
    pytest.importorskip("numba")
    found, start = [], threading.Barrier(2)

    def ask():
        start.wait()
        found.append(compiled.loops())

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found[0] is not None and found[0] is found[1]


def special_values(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:7] = [0.0, -0.0, np.nan, np.inf, -np.inf, np.finfo(dtype).tiny / 2, -np.finfo(dtype).max]
    return x


LAYOUTS = {
    "C order": lambda a: a,
    "channels-last": lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
    "every other image": lambda a: np.concatenate([a, a])[::2],  # not dense: NumPy's code runs
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.2, 0.0, 1.0])
def test_leaky_relu_slope_compiled_is_bit_exact(monkeypatch, layout, dtype, alpha):
    x = LAYOUTS[layout](special_values((3, 4, 5, 6), dtype))
    with np.errstate(all="ignore"):
        (mask, slope), (mask0, slope0) = with_and_without_loops(monkeypatch, lambda: backend.leaky_relu_slope(x, alpha))
    np.testing.assert_array_equal(mask, mask0)
    np.testing.assert_array_equal(slope, slope0)
    assert slope.dtype == dtype and slope.strides == slope0.strides == np.empty_like(x).strides
    assert set(np.unique(slope)) <= {dtype(1), dtype(alpha)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "t_dtype, x_dtype", [(np.float32, np.float32), (np.float64, np.float64), (np.float64, np.float32)]
)
def test_masked_and_scaled_compiled_is_bit_exact(monkeypatch, layout, t_dtype, x_dtype):
    from minigan.layers.dropout import dropped_and_scaled

    t = LAYOUTS[layout](special_values((4, 3, 5, 7), t_dtype))
    mask = np.random.default_rng(1).random(t.shape) < 0.7
    mask = LAYOUTS[layout](mask) if layout != "every other image" else np.empty_like(t, dtype=bool)
    mask[...] = np.random.default_rng(1).random(t.shape) < 0.7
    scale = x_dtype(1 / 0.7)
    with np.errstate(all="ignore"):
        got, expected = with_and_without_loops(
            monkeypatch, lambda: backend.masked_and_scaled(t, mask, scale, dropped_and_scaled)
        )
    assert got.dtype == expected.dtype == np.result_type(t, mask, scale)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))  # t * 0 keeps t's sign


def test_masked_and_scaled_with_a_mask_laid_out_unlike_t_takes_numpy(monkeypatch):
    from minigan.layers.dropout import dropped_and_scaled

    t = special_values((2, 3, 4, 5), np.float32)
    mask = LAYOUTS["channels-last"](np.random.default_rng(2).random(t.shape) < 0.5)  # t is C order
    assert backend.memory_order_views(t, mask) is None
    with np.errstate(all="ignore"):
        got, expected = with_and_without_loops(
            monkeypatch, lambda: backend.masked_and_scaled(t, mask, np.float32(2), dropped_and_scaled)
        )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_dropout_and_leaky_relu_layers_give_the_same_bits_with_and_without_loops(monkeypatch, threads):
    from minigan import cores
    from minigan.layers import Dropout, LeakyReLU

    monkeypatch.setattr(cores, "CPU_THREADS", threads)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)  # every pass in halves on two threads
    x = LAYOUTS["channels-last"](special_values((6, 4, 7, 7), np.float32)[:, :, :, :])
    x[np.isnan(x)] = 1.5

    def run():
        act, drop = LeakyReLU(0.2), Dropout(0.3, seed=5)
        y = drop.forward(act.forward(x))
        dx = act.backward(drop.backward(np.cos(y)))
        return y, dx, drop.mask, act.slope

    with np.errstate(all="ignore"):
        got, expected = with_and_without_loops(monkeypatch, run)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert a.strides == b.strides


BN_INPUTS = {
    "channels-last": lambda rng, dtype: LAYOUTS["channels-last"](rng.standard_normal((16, 8, 14, 14)).astype(dtype)),
    "2-D": lambda rng, dtype: rng.standard_normal((64, 300)).astype(dtype),
    "one image": lambda rng, dtype: LAYOUTS["channels-last"](rng.standard_normal((1, 5, 9, 9)).astype(dtype)),
    "C order (NumPy's code)": lambda rng, dtype: rng.standard_normal((4, 6, 5, 5)).astype(dtype),
    "one channel (NumPy's code)": lambda rng, dtype: rng.standard_normal((8, 1, 6, 6)).astype(dtype),
}


@pytest.mark.parametrize("inputs", BN_INPUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_trains_to_the_same_bits_with_and_without_loops(monkeypatch, inputs, dtype):
    from minigan.layers import BatchNorm

    rng = np.random.default_rng(3)
    x = BN_INPUTS[inputs](rng, dtype)
    x *= dtype(7.5)
    x += dtype(1e3)  # a large mean: the sums' rounding depends on their order
    assert (backend.channel_rows(x) is None) == inputs.endswith("(NumPy's code)")  # where the loops apply
    dout = np.empty_like(x)
    dout[...] = rng.standard_normal(x.shape)

    def run():
        bn = BatchNorm(x.shape[1]).astype(dtype)
        bn.params["gamma"][...] = rng_gamma = np.linspace(0.5, 2, x.shape[1], dtype=dtype)
        bn.params["beta"][...] = -rng_gamma
        y = bn.forward(x)
        dx = bn.backward(dout)
        return y, dx, bn.x_hat, bn.inv_std, bn.grads["gamma"], bn.grads["beta"], bn.running_mean, bn.running_var

    got, expected = with_and_without_loops(monkeypatch, run)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.strides == b.strides
        np.testing.assert_array_equal(a, b)


def test_batch_statistics_sum_in_numpys_order(monkeypatch):
    """Sums whose terms, taken in another order, round differently: the loop's are NumPy's."""
    pytest.importorskip("numba")
    from minigan.layers.norm import batch_statistics

    x = np.zeros((1, 2, 3, 1), dtype=np.float32)  # 3 pixels, 2 channels (channels-last below)
    x[0, :, :, 0] = [[1e8, -1e8, 1.0], [1.0, 1e8, -1e8]]  # in float32, 1 + 1e8 rounds to 1e8
    x = LAYOUTS["channels-last"](x)
    assert backend.channel_rows(x) is not None  # the loop applies
    (mean, _, _), (numpy_mean, _, _) = with_and_without_loops(
        monkeypatch, lambda: batch_statistics(x, (0, 2, 3), (1, -1, 1, 1))
    )
    np.testing.assert_array_equal(mean, numpy_mean)
    np.testing.assert_array_equal(mean, np.float32([1 / 3, 0]))  # pixel order; backwards: [0, 1/3]


@pytest.mark.parametrize("layout", ["channels-last", "C order (NumPy's code)"])
def test_conditional_batchnorm_gives_the_same_bits_with_and_without_loops(monkeypatch, layout):
    from minigan.layers import ConditionalBatchNorm

    rng = np.random.default_rng(4)
    x = BN_INPUTS[layout](rng, np.float32)
    labels = rng.integers(0, 3, len(x))
    dout = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        cbn = ConditionalBatchNorm(x.shape[1], 3)
        y = cbn.forward(x, labels)
        dx, _ = cbn.backward(dout)
        return y, dx, cbn.grads["gamma"], cbn.grads["beta"]

    got, expected = with_and_without_loops(monkeypatch, run)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_loops_without_a_cache_folder_are_compiled_each_time(monkeypatch, fresh):
    numba = pytest.importorskip("numba")
    njit = numba.njit

    def njit_without_cache_folder(*args, cache=False, **kwargs):
        if cache:  # what numba raises where no folder can hold the cache
            raise RuntimeError("cannot cache function 'row2im_add': no locator available for file '...'")
        return njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit_without_cache_folder)
    loops = compiled.loops()
    assert loops is not None
    x = np.empty((1, 3, 3, 2), np.float32)
    loops.row2im_add(np.ones((1, 2, 2, 2, 2, 2), np.float32), x, 1, 0)
    np.testing.assert_array_equal(x[0, :, :, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
