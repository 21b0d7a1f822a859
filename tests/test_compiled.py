"""minigan.compiled: the compiled CPU loops give the NumPy code's numbers, bit for bit.

Each test runs its work twice, once with the compiled loops and once with NumPy's code
(``both``), checks which loops ran, and compares the results bit for bit (signed zeros
and NaNs included). Without numba every test here that needs the loops skips.
"""

import os
import sys
import threading
import types

import numpy as np
import pytest

from minigan import backend, compiled, cores
from minigan.gan import GAN
from minigan.layers import BatchNorm, ConditionalBatchNorm, Conv2D, ConvTranspose2D, Dropout, LeakyReLU, conv_fast
from minigan.layers.conv_fast import IM2ROW_LOOP_CHANNELS, im2row, row2im
from minigan.layers.dropout import dropped_and_scaled
from minigan.models import build, recipe

BATCHNORM_LOOPS = {"batch_statistics", "normalise", "gradient_sums", "batchnorm_dx"}


@pytest.fixture(scope="module")
def the_loops():
    """The compiled loops, made once for the module (from numba's cache after the first run)."""
    pytest.importorskip("numba")
    saved, setting = compiled._loops, os.environ.pop("MINIGAN_COMPILED", None)  # whatever the caller set
    compiled._loops = False
    try:
        loops = compiled.loops()
    finally:
        compiled._loops = saved
        if setting is not None:
            os.environ["MINIGAN_COMPILED"] = setting
    assert loops is not None
    return loops


@pytest.fixture
def fresh(monkeypatch):
    """loops() looks for numba again on its next call, and forgets it after the test."""
    monkeypatch.setattr(compiled, "_loops", False)
    monkeypatch.delenv("MINIGAN_COMPILED", raising=False)


@pytest.fixture
def both(monkeypatch, the_loops):
    """both(fn) -> (fn() with the compiled loops, fn() with NumPy's code, the names of the loops that ran)."""

    def run(fn):
        ran = set()

        def counted(name, loop):
            def call(*args):
                ran.add(name)
                return loop(*args)

            return call

        spies = {name: counted(name, loop) for name, loop in vars(the_loops).items()}
        monkeypatch.setattr(compiled, "_loops", types.SimpleNamespace(**spies))
        got = fn()
        monkeypatch.setattr(compiled, "_loops", None)
        return got, fn(), ran

    return run


def assert_same_bits(a, b):
    """a and b hold the same bits: equal values, and the same signed zeros and NaNs."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        a, b = a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")
    np.testing.assert_array_equal(a, b)


def channels_last(a):
    """a, laid out channels-last in memory (its shape unchanged), as the convolutions make it."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def special_values(shape, dtype, seed=0):
    """Random normal numbers, the first seven replaced by 0, -0, nan, inf, -inf, a
    subnormal and the most negative finite number."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:7] = [0.0, -0.0, np.nan, np.inf, -np.inf, np.finfo(dtype).tiny / 2, -np.finfo(dtype).max]
    return x


# ---- the convolutions' copies and adds ------------------------------------------------
CONV_SHAPES = [
    (3, 64, 14, 14, 5, 2, 2),  # the DCGAN's second convolution
    (2, 8, 9, 7, 3, 1, 1),  # stride 1, not square
    (2, 9, 11, 10, 4, 3, 0),  # no padding, a stride that skips pixels
    (1, 8, 5, 5, 5, 1, 4),  # padding as large as the kernel: many offsets land outside
    (2, 1, 28, 28, 5, 2, 2),  # one channel (im2row: NumPy's copy)
]


@pytest.mark.parametrize("N, C, h, w, k, stride, padding", CONV_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row2im_compiled_is_bit_exact(both, N, C, h, w, k, stride, padding, dtype):
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    rows = special_values((N * ho * wo, k * k * C), dtype)

    def run():
        out = np.full((N, h, w, C), 7.0, dtype=dtype)  # every entry must be overwritten
        x = row2im(rows, (N, C, h, w), k, stride, padding, out=out)
        assert x.shape == (N, C, h, w) and x.dtype == dtype
        return x, row2im(rows, (N, C, h, w), k, stride, padding), row2im(rows[::-1], (N, C, h, w), k, stride, padding)

    got, expected, ran = both(run)
    assert ran == {"row2im_add"}  # (rows[::-1] is copied to a contiguous array first)
    for a, b in zip(got, expected):
        assert_same_bits(a, b)


@pytest.mark.parametrize("N, C, h, w, k, stride, padding", CONV_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2row_compiled_is_bit_exact(both, N, C, h, w, k, stride, padding, dtype):
    x = channels_last(special_values((N, C, h, w), dtype))
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1

    def run():
        out = np.full((N * ho * wo, k * k * C), 7.0, dtype=dtype)  # every entry must be overwritten
        return im2row(x, k, stride, padding, out=out), im2row(
            np.ascontiguousarray(x), k, stride, padding, out=out.copy()
        )

    got, expected, ran = both(run)
    assert ran == ({"im2row_copy"} if C >= IM2ROW_LOOP_CHANNELS else set())  # (C order: NumPy's copy)
    for a, b in zip(got, expected):
        assert_same_bits(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_layers_train_to_the_same_bits_with_and_without_loops(both, monkeypatch, threads):
    monkeypatch.setattr(cores, "CPU_THREADS", threads)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)  # on two threads every copy and pass in halves,
    monkeypatch.setattr(conv_fast, "SPLIT_MACS", 0)  # and every product too
    rng = np.random.default_rng(2)
    x = channels_last(rng.standard_normal((4, 8, 14, 14)).astype(np.float32))
    z = channels_last(rng.standard_normal((4, 16, 7, 7)).astype(np.float32))

    def run():
        conv = Conv2D(8, 16, 5, stride=2, padding=2, rng=np.random.default_rng(3))
        up = ConvTranspose2D(16, 8, 5, stride=2, padding=2, output_padding=1, rng=np.random.default_rng(4))
        y = conv.forward(x)  # im2row
        dx = conv.backward(np.cos(y))  # row2im
        u = up.forward(z)  # row2im
        dz = up.backward(np.cos(u))  # im2row
        return y, dx, u, dz, conv.grads["W"], conv.grads["b"], up.grads["W"], up.grads["b"]

    got, expected, ran = both(run)
    assert ran == {"im2row_copy", "row2im_add"}
    for a, b in zip(got, expected):
        assert_same_bits(a, b)


# ---- finding the loops ----------------------------------------------------------------
def test_minigan_compiled_0_turns_the_loops_off(monkeypatch, fresh):
    monkeypatch.setenv("MINIGAN_COMPILED", "0")
    assert compiled.loops() is None
    assert backend.compiled_loops(np) is None


def test_without_numba_there_are_no_loops(monkeypatch, fresh):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    assert compiled.loops() is None


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


def test_gpu_arrays_never_reach_a_loop(xp, monkeypatch):
    """On CuPy arrays every layer and Adam run as before, even with loops there to take."""
    if xp is np:
        pytest.skip("the GPU half of this test")

    def refuse(*args):
        raise AssertionError("a compiled CPU loop was handed GPU arrays")

    names = ("row2im_add", "im2row_copy", "adam", "leaky_relu", "masked_and_scaled", *BATCHNORM_LOOPS)
    monkeypatch.setattr(compiled, "_loops", types.SimpleNamespace(**dict.fromkeys(names, refuse)))
    assert backend.compiled_loops(xp) is None
    G, D = build("dcgan", seed=0)
    r = recipe("dcgan")
    gan = GAN(G, D, r.latent_dim, lr=r.lr, beta1=r.beta1, beta2=r.beta2, seed=0).to("gpu")
    gan.train_step(xp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)))


# ---- elementwise: LeakyReLU's slope, Dropout's masked product ---------------------------
LAYOUTS = {
    "C order": lambda a: a,
    "channels-last": channels_last,
    "every other image (NumPy's code)": lambda a: np.concatenate([a, a])[::2],  # not dense
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.2, 0.0, 1.0, 0.3, 1.5])
def test_leaky_relu_compiled_is_bit_exact(both, layout, dtype, alpha):
    x = LAYOUTS[layout](special_values((3, 4, 5, 6), dtype))
    with np.errstate(all="ignore"):  # NumPy warns of overflow in alpha * x for alpha > 1
        got, expected, ran = both(lambda: backend.leaky_relu(x, alpha))
    assert ran == (set() if "NumPy" in layout or alpha > 1 else {"leaky_relu"})
    for a, b in zip(got, expected):
        assert_same_bits(a, b)
        assert a.strides == b.strides
    mask, slope, y = got
    assert slope.strides == y.strides == np.empty_like(x).strides  # laid out like x
    assert set(np.unique(slope)) <= {dtype(1), dtype(alpha)}
    assert_same_bits(mask, x > 0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "t_dtype, x_dtype", [(np.float32, np.float32), (np.float64, np.float64), (np.float64, np.float32)]
)
def test_masked_and_scaled_compiled_is_bit_exact(both, layout, t_dtype, x_dtype):
    t = LAYOUTS[layout](special_values((4, 3, 5, 7), t_dtype))
    mask = np.empty_like(t, dtype=bool)  # laid out like t, as keep_mask lays it out like x
    mask[...] = np.random.default_rng(1).random(t.shape) < 0.7
    scale = x_dtype(1 / 0.7)
    with np.errstate(all="ignore"):  # NumPy warns of inf * 0 and of overflow; the loop does not
        got, expected, ran = both(lambda: backend.masked_and_scaled(t, mask, scale, dropped_and_scaled))
    assert ran == (set() if "NumPy" in layout else {"masked_and_scaled"})
    assert got.dtype == np.result_type(t, mask, scale) and got.strides == expected.strides
    assert_same_bits(got, expected)


def test_masked_and_scaled_with_a_mask_laid_out_unlike_t_takes_numpy(both):
    t = special_values((2, 3, 4, 5), np.float32)  # C order
    mask = channels_last(np.random.default_rng(2).random(t.shape) < 0.5)
    assert backend.memory_order_views(t, mask) is None
    with np.errstate(all="ignore"):
        got, expected, ran = both(lambda: backend.masked_and_scaled(t, mask, np.float32(2), dropped_and_scaled))
    assert ran == set()
    assert_same_bits(got, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_dropout_and_leaky_relu_layers_give_the_same_bits_with_and_without_loops(both, monkeypatch, threads):
    monkeypatch.setattr(cores, "CPU_THREADS", threads)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)  # every pass in halves on two threads
    x = channels_last(special_values((6, 4, 7, 7), np.float32))
    x[np.isnan(x)] = 1.5

    def run():
        act, drop = LeakyReLU(0.2), Dropout(0.3, seed=5)
        y = drop.forward(act.forward(x))
        dx = act.backward(drop.backward(np.cos(y)))
        return y, dx, drop.mask, act.slope, act.mask

    with np.errstate(all="ignore"):
        got, expected, ran = both(run)
    assert ran == {"leaky_relu", "masked_and_scaled"}
    for a, b in zip(got, expected):
        assert_same_bits(a, b)
        assert a.strides == b.strides


# ---- BatchNorm ----------------------------------------------------------------------------
BN_INPUTS = {
    "channels-last": lambda rng, dtype: channels_last(rng.standard_normal((16, 8, 14, 14)).astype(dtype)),
    "2-D": lambda rng, dtype: rng.standard_normal((64, 300)).astype(dtype),
    "one image": lambda rng, dtype: channels_last(rng.standard_normal((1, 5, 9, 9)).astype(dtype)),
    "one pixel": lambda rng, dtype: channels_last(rng.standard_normal((12, 7, 1, 1)).astype(dtype)),
    "C order (NumPy's code)": lambda rng, dtype: rng.standard_normal((4, 6, 5, 5)).astype(dtype),
    "one channel (NumPy's code)": lambda rng, dtype: rng.standard_normal((8, 1, 6, 6)).astype(dtype),
}


@pytest.mark.parametrize("inputs", BN_INPUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_trains_to_the_same_bits_with_and_without_loops(both, inputs, dtype):
    rng = np.random.default_rng(3)
    x = BN_INPUTS[inputs](rng, dtype)
    x *= dtype(7.5)
    x += dtype(1e3)  # a large mean: the sums' rounding depends on their order
    dout = np.empty_like(x)
    dout[...] = rng.standard_normal(x.shape)
    dout.reshape(-1)[:1] = -0.0

    def run():
        bn = BatchNorm(x.shape[1]).astype(dtype)
        bn.params["gamma"][...] = gamma = np.linspace(0.5, 2, x.shape[1], dtype=dtype)
        bn.params["beta"][...] = -gamma
        y = bn.forward(x)
        dx = bn.backward(dout)
        return y, dx, bn.x_hat, bn.inv_std, bn.grads["gamma"], bn.grads["beta"], bn.running_mean, bn.running_var

    got, expected, ran = both(run)
    assert ran == (set() if "NumPy" in inputs else BATCHNORM_LOOPS)
    for a, b in zip(got, expected):
        assert a.strides == b.strides
        assert_same_bits(a, b)


def test_batch_statistics_sum_in_numpys_order(both):
    """Sums whose terms, taken in another order, round differently: the loop's are NumPy's."""
    from minigan.layers.norm import batch_statistics

    x = np.zeros((1, 2, 3, 1), dtype=np.float32)  # 3 pixels, 2 channels (channels-last below)
    x[0, :, :, 0] = [[1e8, -1e8, 1.0], [1.0, 1e8, -1e8]]  # in float32, 1 + 1e8 rounds to 1e8
    x = channels_last(x)
    (mean, _, _), (numpy_mean, _, _), ran = both(lambda: batch_statistics(x, (0, 2, 3), (1, -1, 1, 1)))
    assert ran == {"batch_statistics"}
    assert_same_bits(mean, numpy_mean)
    assert_same_bits(mean, np.float32([1 / 3, 0]))  # the pixels in order; backwards it would be [0, 1/3]


@pytest.mark.parametrize("layout", ["channels-last", "C order (NumPy's code)"])
def test_conditional_batchnorm_gives_the_same_bits_with_and_without_loops(both, layout):
    rng = np.random.default_rng(4)
    x = BN_INPUTS[layout](rng, np.float32)
    labels = rng.integers(0, 3, len(x))
    dout = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        cbn = ConditionalBatchNorm(x.shape[1], 3)
        y = cbn.forward(x, labels)
        dx, _ = cbn.backward(dout)
        return y, dx, cbn.grads["gamma"], cbn.grads["beta"]

    got, expected, ran = both(run)
    assert ("batch_statistics" in ran) == (layout == "channels-last")
    for a, b in zip(got, expected):
        assert_same_bits(a, b)


# ---- whole training steps ------------------------------------------------------------------
@pytest.mark.parametrize("model, threads", [("dcgan", 1), ("dcgan", 2), ("mlp", 2)])
def test_training_steps_give_the_same_bits_with_and_without_loops(both, monkeypatch, model, threads):
    monkeypatch.setattr(cores, "CPU_THREADS", threads)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)  # on two threads every copy, pass and product in halves
    monkeypatch.setattr(conv_fast, "SPLIT_MACS", 0)
    monkeypatch.setattr(backend, "SPLIT_MACS", 0)
    real = np.random.default_rng(0).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)

    def run():
        G, D = build(model, seed=1)
        r = recipe(model)
        gan = GAN(G, D, r.latent_dim, lr=r.lr, beta1=r.beta1, beta2=r.beta2, seed=1)
        stats = [gan.train_step(real) for _ in range(3)]
        arrays = [*gan.G.params.values(), *gan.D.params.values()]
        arrays += [a for opt in (gan.opt_G, gan.opt_D) for slot in opt.state.values() for a in slot.values()]
        return stats, arrays

    (stats, arrays), (stats0, arrays0), ran = both(run)
    assert stats == stats0
    assert len(arrays) == len(arrays0) > 0
    for a, b in zip(arrays, arrays0):
        assert_same_bits(a, b)
    if model == "dcgan":
        assert ran == {"row2im_add", "im2row_copy", "adam", "leaky_relu", "masked_and_scaled", *BATCHNORM_LOOPS}
    else:
        assert {"adam", "leaky_relu", "masked_and_scaled"} <= ran


# ---- what the loops refuse ----------------------------------------------------------------
def test_arrays_of_unlike_sizes_get_numpys_error_not_a_loop(both):
    from minigan import flat

    p, small = np.ones(8, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError):  # the loop would have run past the end of the small arrays
        flat.adam_update(p, small, small.copy(), small.copy(), 1, 1e-3, 0.9, 0.999, 1e-8)
    rows = np.ones((18, 72), np.float32)  # 2 images of 3x3 pixels, k = 3, C = 8
    with pytest.raises(ValueError):
        row2im(rows, (2, 8, 3, 3), 3, 1, 1, out=np.zeros((2, 3, 3, 4), np.float32))  # out has 4 channels


def test_no_loop_for_bool_or_integer_numbers(both):
    x = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)
    got, expected, ran = both(lambda: BatchNorm(2).forward(x))
    assert ran == set()
    assert_same_bits(got, expected)
    got, expected, ran = both(lambda: backend.leaky_relu(np.arange(-3.0, 3.0).reshape(2, 3).astype(np.float16), 0.2))
    assert ran == set()


def test_adam_with_numpy_scalar_settings_takes_numpys_passes(both):
    """np.float64 settings are not weak scalars: NumPy does those passes in float64."""
    from minigan import flat

    g = np.random.default_rng(5).standard_normal(1000).astype(np.float32)

    def run():
        p, m, v = g.copy(), np.zeros_like(g), np.zeros_like(g)
        flat.adam_update(p, g, m, v, 1, np.float64(0.1), np.float64(0.9), np.float64(0.999), 1e-8)
        return p, m, v

    got, expected, ran = both(run)
    assert ran == set()
    for a, b in zip(got, expected):
        assert_same_bits(a, b)


def test_errstate_that_raises_gets_numpys_code(both):
    x = np.full((4, 3), 3e38, np.float32)  # the sums overflow
    with np.errstate(over="raise"):
        assert backend.compiled_loops(np) is None
        with pytest.raises(FloatingPointError):
            BatchNorm(3).forward(x)
