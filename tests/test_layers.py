"""The layer contract: gradients, running statistics, dropout masks, bad input,
dtypes, seeds and gradient accumulation, for every built-in layer.

Convolution against loop references lives in test_conv.py; agreement with
PyTorch in test_torch_reference.py; the gradient checker itself in test_gradcheck.py.
"""

import copy
import hashlib
import re

import numpy as np
import pytest

import minigan
from minigan import backend
from minigan.backend import to_numpy
from minigan.gradcheck import check_layer
from minigan.layers import (
    BatchNorm,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Tanh,
)


def device(xp):
    return "cpu" if xp is np else "gpu"


def away_from_zero(rng, shape):
    """Standard normal values pushed 0.1 away from 0, so no entry sits on a ReLU kink."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


def randomized(layer, seed=0):
    """Fill every parameter with random values (biases included, gamma around 1)."""
    rng = np.random.default_rng(seed)
    for key, p in layer.params.items():
        p[...] = 1 + 0.5 * rng.standard_normal(p.shape) if key.endswith("gamma") else rng.standard_normal(p.shape)
    return layer


def small_net():
    return Sequential(
        Conv2D(1, 2, 3, stride=2, padding=1), BatchNorm(2), LeakyReLU(0.2), Dropout(0.25, seed=3),  # (N, 2, 3, 3)
        Flatten(), Dense(18, 6), ReLU(), Dense(6, 8), Reshape((2, 2, 2)),
        ConvTranspose2D(2, 1, 3, stride=2, padding=1, output_padding=1), Sigmoid(),  # (N, 1, 4, 4)
    )  # fmt: skip


# name -> (make a fresh float32 NumPy layer, input shape)
CASES = {
    "Dense": (lambda: randomized(Dense(5, 3)), (4, 5)),
    "Dense no bias": (lambda: randomized(Dense(5, 3, bias=False)), (4, 5)),
    "Dense to one output": (lambda: randomized(Dense(5, 1)), (4, 5)),  # its dx is an outer product
    "Conv2D": (lambda: randomized(Conv2D(2, 3, 3, stride=2, padding=1)), (2, 2, 7, 6)),
    "Conv2D no bias": (lambda: randomized(Conv2D(2, 2, 2, bias=False)), (2, 2, 4, 5)),
    "ConvTranspose2D": (lambda: randomized(ConvTranspose2D(3, 2, 5, stride=2, padding=2, output_padding=1)),
                        (2, 3, 3, 4)),  # fmt: skip
    "ConvTranspose2D no bias": (lambda: randomized(ConvTranspose2D(2, 2, 3, bias=False)), (2, 2, 3, 3)),
    "BatchNorm (N, C)": (lambda: randomized(BatchNorm(3)), (6, 3)),
    "BatchNorm (N, C, H, W)": (lambda: randomized(BatchNorm(3)), (3, 3, 2, 3)),
    "LeakyReLU": (lambda: LeakyReLU(0.2), (4, 5)),
    "ReLU": (ReLU, (4, 5)),
    "Sigmoid": (Sigmoid, (4, 5)),
    "Tanh": (Tanh, (4, 5)),
    "Dropout": (lambda: Dropout(0.3, seed=1), (4, 5)),
    "Flatten": (Flatten, (2, 3, 2, 2)),
    "Reshape": (lambda: Reshape((3, 2, 2)), (2, 12)),
    "Sequential": (lambda: randomized(small_net()), (3, 1, 5, 6)),
}
# train and eval mode for the layers that behave differently in the two
MODES = [(name, "train") for name in CASES] + [
    (name, "eval") for name in CASES if name.startswith(("BatchNorm", "Dropout", "Sequential"))
]
mode_ids = [f"{name}-{mode}" for name, mode in MODES]


def build(xp, name, mode="train", dtype=np.float64, seed=1):
    """The layer on xp's device in ``dtype`` and ``mode``, and an input for it.

    Eval mode first runs three training batches, so BatchNorm's running
    statistics are not the trivial 0 and 1."""
    make, shape = CASES[name]
    layer = make().astype(dtype).to(device(xp))
    rng = np.random.default_rng(seed)
    if mode == "eval":
        for _ in range(3):
            layer.forward(xp.asarray(away_from_zero(rng, shape) + 0.5, dtype=dtype))
        layer.eval()
    return layer, xp.asarray(away_from_zero(rng, shape), dtype=dtype)


# ---- 1. gradients --------------------------------------------------------------
@pytest.mark.parametrize("name, mode", MODES, ids=mode_ids)
def test_backward_matches_central_differences(xp, name, mode):
    layer, x = build(xp, name, mode)
    report = check_layer(layer, x)
    assert set(report.errors) == {"x"} | set(layer.params)
    assert report.ok, str(report)


def test_leaky_relu_and_relu_derivatives_at_zero_are_as_documented(xp):
    """ReLU takes 0 at the kink, LeakyReLU takes alpha (their docstrings say so)."""
    x = xp.asarray([[-1.0, 0.0, 2.0]])
    for layer, slopes in [(ReLU(), [0.0, 0.0, 1.0]), (LeakyReLU(0.3), [0.3, 0.3, 1.0])]:
        layer.forward(x)
        np.testing.assert_allclose(to_numpy(layer.backward(xp.ones_like(x))), [slopes])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_leaky_relu_slope_is_exactly_one_or_alpha(dtype):
    """The slope is built as mask * (1 - alpha) + alpha. Where x > 0 that is (1 - alpha) + alpha,
    which must round to exactly 1, so that y = x there bit for bit. Why it does, for 0 <= alpha <= 1:
    for alpha >= 1/2, 1 - alpha is exact; below, its rounding error is at most half the spacing of
    the numbers just below 1, so the sum lies within that of 1 and rounds to 1 (a tie goes to the
    even neighbour, 1). Checked here for many alphas, including awkward ones, in three precisions."""
    alphas = np.concatenate([np.linspace(0, 1, 1001), [1e-8, 0.1, 0.2, 1 / 3, 0.7, 1 - 1e-7, np.nextafter(1.0, 0)]])
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 0.5, 3.0], dtype=dtype)
    for alpha in alphas:
        layer = LeakyReLU(alpha)
        y = layer.forward(x)
        a = dtype(alpha)
        assert set(np.unique(layer.slope).tolist()) <= {1.0, float(a)}, alpha
        np.testing.assert_array_equal(layer.slope[x > 0], 1)
        np.testing.assert_array_equal(layer.slope[x <= 0], a)
        np.testing.assert_array_equal(y[x > 0], x[x > 0])


def test_sigmoid_is_stable_at_extremes(xp):
    # pytest turns RuntimeWarning (an overflow in exp) into an error for this project
    for dtype in (np.float32, np.float64):
        x = xp.asarray([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
        y = to_numpy(Sigmoid().forward(x))
        assert y.dtype == dtype and np.all((y >= 0) & (y <= 1))
        np.testing.assert_allclose(y[[0, 2, 4]], [0.0, 0.5, 1.0])
        np.testing.assert_allclose(y[1] + y[3], 1.0)


# ---- 5. BatchNorm statistics ----------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 2)], ids=["(N, C)", "(N, C, H, W)"])
def test_batchnorm_running_statistics_follow_the_recurrence(xp, shape):
    rng = np.random.default_rng(0)
    bn = randomized(BatchNorm(3, momentum=0.1, eps=1e-5)).astype(np.float64).to(device(xp))
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    m = np.prod([shape[a] for a in axes])
    b = (1, -1) + (1,) * (len(shape) - 2)  # broadcast (C,) against x
    gamma, beta = to_numpy(bn.params["gamma"]).reshape(b), to_numpy(bn.params["beta"]).reshape(b)
    running_mean, running_var = np.zeros(3), np.ones(3)
    for _ in range(5):
        x = 3 * rng.standard_normal(shape) + rng.standard_normal((1, 3) + shape[2:])
        y = to_numpy(bn.forward(xp.asarray(x)))
        # by hand: normalised with the biased variance, running stats with the unbiased one
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * var * m / (m - 1)
        np.testing.assert_allclose(to_numpy(bn.running_mean), running_mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(to_numpy(bn.running_var), running_var, rtol=1e-12)
        expected = gamma * (x - mean.reshape(b)) / np.sqrt(var.reshape(b) + 1e-5) + beta
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)

    # eval: normalised by the running statistics, which stay as they are
    bn.eval()
    x = rng.standard_normal(shape)
    y = to_numpy(bn.forward(xp.asarray(x)))
    expected = gamma * (x - running_mean.reshape(b)) / np.sqrt(running_var.reshape(b) + 1e-5) + beta
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(bn.running_mean), running_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_numpy(bn.running_var), running_var, rtol=1e-12)
    # one example is enough in eval mode (training needs two, see the bad-input tests)
    assert bn.forward(xp.asarray(x[:1])).shape == (1,) + shape[1:]


def test_batchnorm_running_statistics_are_buffers_not_params():
    bn = BatchNorm(4)
    assert set(bn.params) == set(bn.grads) == {"gamma", "beta"}
    assert set(bn.get_buffers()) == {"running_mean", "running_var"}
    np.testing.assert_array_equal(bn.running_mean, 0)
    np.testing.assert_array_equal(bn.running_var, 1)


# ---- 6. Dropout -----------------------------------------------------------------
def test_dropout_keeps_one_minus_p_and_scales_by_its_inverse(xp):
    p = 0.3
    layer = Dropout(p, seed=0)
    x = xp.ones((400, 500), dtype=np.float32)
    y = to_numpy(layer.forward(x))
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.005  # 200,000 draws: the standard error is 0.001
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)  # inverted dropout: E[y] = x
    dout = xp.asarray(np.random.default_rng(0).standard_normal(x.shape), dtype=np.float32)
    dx = to_numpy(layer.backward(dout))
    np.testing.assert_allclose(dx, to_numpy(dout) * kept / (1 - p), rtol=1e-6)  # the same mask


def test_dropout_is_the_identity_in_eval_mode(xp):
    layer = Dropout(0.5, seed=0).eval()
    x = xp.asarray(np.random.default_rng(0).standard_normal((20, 30)))
    np.testing.assert_array_equal(to_numpy(layer.forward(x)), to_numpy(x))
    np.testing.assert_array_equal(to_numpy(layer.backward(x)), to_numpy(x))


def test_dropout_masks_come_from_the_seed(xp):
    x = xp.ones((50, 40))

    def masks(seed, n=2):
        layer = Dropout(0.5, seed=seed)
        return [to_numpy(layer.forward(x)) != 0 for _ in range(n)]

    a, b, c = masks(7), masks(7), masks(8)
    np.testing.assert_array_equal(a[0], b[0])  # same seed, same masks, in order
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[0] != a[1]).any()  # a new mask every forward pass
    assert (a[0] != c[0]).any()  # another seed, another mask


def test_a_copied_dropout_draws_the_masks_the_original_draws_next(xp):
    """A copy holds the generator's state (on the GPU too), so copies of a network agree."""
    layer = Dropout(0.5, seed=3)
    x = xp.ones((20, 30), dtype=np.float32)
    layer.forward(x)
    twin = copy.deepcopy(layer)
    for _ in range(2):
        np.testing.assert_array_equal(to_numpy(twin.forward(x)), to_numpy(layer.forward(x)))


def test_cpu_dropout_masks_are_the_pcg64_bits_they_always_were():
    """CPU masks are NumPy's PCG64 bits, four 16-bit numbers a draw: SHA-256 prefixes of the first
    three packed masks, recorded before the GPU got its own generator, so CPU training cannot drift."""

    def digest(layer, x):
        h = hashlib.sha256()
        for _ in range(3):
            layer.forward(x)
            h.update(np.packbits(np.ascontiguousarray(layer.mask)).tobytes())
        return h.hexdigest()[:16]

    assert digest(Dropout(0.3, seed=1234), np.ones((64, 300), np.float32)) == "e519bd2981cc59eb"
    channels_last = np.ones((8, 5, 7, 6), np.float32).transpose(0, 3, 1, 2)
    assert digest(Dropout(0.3, seed=1234), channels_last) == "5af681388e5fc9f1"
    assert digest(Dropout(0.5, seed=7), np.ones(1001)) == "a3aa120210375325"  # a size that is no multiple of 4


def test_dropout_p_zero_drops_nothing(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 5)))
    np.testing.assert_array_equal(to_numpy(Dropout(0.0).forward(x)), to_numpy(x))


# ---- 7. bad input is refused at the layer's door -----------------------------------
BAD_INPUTS = [  # (id, make layer, input shape, what the message says is expected)
    ("Dense rank 1", lambda: Dense(5, 3), (5,), "(N, 5)"),
    ("Dense rank 3", lambda: Dense(5, 3), (4, 5, 1), "(N, 5)"),
    ("Dense features", lambda: Dense(5, 3), (4, 6), "(N, 5)"),
    ("Conv2D rank 3", lambda: Conv2D(3, 4, 3), (3, 8, 8), "(N, 3, h, w)"),
    ("Conv2D rank 2", lambda: Conv2D(3, 4, 3), (3, 8), "(N, 3, h, w)"),
    ("Conv2D channels", lambda: Conv2D(3, 4, 3), (2, 2, 8, 8), "(N, 3, h, w)"),
    ("Conv2D empty output", lambda: Conv2D(3, 4, 5), (1, 3, 2, 2), "(N, 3, h, w)"),
    ("Conv2D empty width", lambda: Conv2D(3, 4, 5, padding=1), (1, 3, 8, 2), "(N, 3, h, w)"),
    ("ConvTranspose2D rank 3", lambda: ConvTranspose2D(3, 2, 3), (3, 4, 4), "(N, 3, h, w)"),
    ("ConvTranspose2D channels", lambda: ConvTranspose2D(3, 2, 3), (1, 2, 4, 4), "(N, 3, h, w)"),
    ("ConvTranspose2D empty output", lambda: ConvTranspose2D(3, 2, 1, padding=1), (1, 3, 1, 1), "(N, 3, h, w)"),
    ("BatchNorm channels (N, C)", lambda: BatchNorm(4), (2, 3), "(N, 4)"),
    ("BatchNorm channels (N, C, H, W)", lambda: BatchNorm(4), (2, 3, 5, 5), "(N, 4, h, w)"),
    ("BatchNorm rank 3", lambda: BatchNorm(4), (2, 4, 3), "(N, 4, h, w)"),
    ("BatchNorm rank 1", lambda: BatchNorm(4), (4,), "(N, 4)"),
    ("BatchNorm one value per channel", lambda: BatchNorm(4), (1, 4), "more than 1 value per channel"),
    ("Reshape size", lambda: Reshape((3, 4)), (2, 13), "12 values per example"),
    ("Reshape size 4-D", lambda: Reshape((2, 7, 7)), (2, 1, 7, 7), "98 values per example"),
    ("Flatten rank 1", Flatten, (6,), "at least 2 axes"),
]


@pytest.mark.parametrize("make, shape, expected", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_names_layer_expected_and_given_shape(xp, make, shape, expected):
    layer = make().to(device(xp))
    x = xp.zeros(shape, dtype=np.float32)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=re.escape(name) + ".*" + re.escape(expected) + ".*" + re.escape(str(shape))):
        layer.forward(x)


def test_bad_input_that_is_not_an_array():
    with pytest.raises(ValueError, match=r"Dense.*\(N, 2\).*got list"):
        Dense(2, 3).forward([[1.0, 2.0]])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ConvTranspose2D(2, 2, 3, stride=2, output_padding=2), r"ConvTranspose2D.*output_padding.*got 2"),
        (lambda: ConvTranspose2D(2, 2, 3, stride=1, output_padding=1), r"ConvTranspose2D.*output_padding.*got 1"),
        (lambda: ConvTranspose2D(2, 2, 3, output_padding=-1), r"ConvTranspose2D.*output_padding.*got -1"),
        (lambda: Conv2D(2, 2, 0), r"Conv2D.*kernel_size.*got 0"),
        (lambda: Conv2D(2, 2, 3, stride=0), r"Conv2D.*stride.*got 0"),
        (lambda: Conv2D(2, 2, 3, padding=-1), r"Conv2D.*padding.*got -1"),
        (lambda: Conv2D(2, 2, 2.5), r"Conv2D.*kernel_size.*got 2.5"),
        (lambda: ConvTranspose2D(2, 2, 3, stride=0), r"ConvTranspose2D.*stride.*got 0"),
        (lambda: Dropout(1.0), r"Dropout.*\[0, 1\).*got 1"),
        (lambda: Dropout(-0.1), r"Dropout.*\[0, 1\).*got -0.1"),
        (lambda: Reshape((0, 3)), r"Reshape.*positive.*\(0, 3\)"),
    ],
)
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- 8. dtypes ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, mode", MODES, ids=mode_ids)
def test_dtype_is_kept(xp, name, mode, dtype):
    layer, x = build(xp, name, mode, dtype=dtype)
    y = layer.forward(x)
    dx = layer.backward(xp.ones_like(y))
    assert y.dtype == dtype and dx.dtype == dtype
    assert dx.shape == x.shape
    for group in (layer.params, layer.grads, layer.get_buffers()):
        for key, a in group.items():
            assert a.dtype == dtype, key
            assert backend.get_array_module(a) is xp, key


# ---- 9. seeds ---------------------------------------------------------------------
@pytest.fixture
def restore_init_rng(monkeypatch):
    """Let a test reseed the global init generator; the old one comes back afterwards."""
    monkeypatch.setattr(backend, "_init_rng", backend.init_rng())


@pytest.mark.parametrize(
    "make", [lambda: Dense(5, 3), lambda: Conv2D(2, 3, 3), lambda: ConvTranspose2D(3, 2, 5), small_net],
    ids=["Dense", "Conv2D", "ConvTranspose2D", "Sequential"],
)
def test_manual_seed_fixes_initial_weights(restore_init_rng, make):
    minigan.manual_seed(123)
    a = make()
    minigan.manual_seed(123)
    b = make()
    minigan.manual_seed(124)
    c = make()
    weights = [k for k in a.params if k.endswith("W")]
    assert weights
    for k in weights:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert not np.array_equal(a.params[k], c.params[k])
        assert a.params[k].dtype == np.float32


def test_manual_seed_fixes_dropout_masks(restore_init_rng):
    x = np.ones((30, 30))
    minigan.manual_seed(5)
    a = Dropout(0.5).forward(x)
    minigan.manual_seed(5)
    b = Dropout(0.5).forward(x)
    minigan.manual_seed(6)
    c = Dropout(0.5).forward(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_an_explicit_rng_does_not_touch_the_global_one(restore_init_rng):
    minigan.manual_seed(0)
    expected = backend.init_rng().random()
    minigan.manual_seed(0)
    a = Dense(4, 2, rng=np.random.default_rng(9))
    b = Conv2D(1, 2, 3, rng=np.random.default_rng(9))
    assert backend.init_rng().random() == expected
    np.testing.assert_array_equal(a.params["W"], Dense(4, 2, rng=np.random.default_rng(9)).params["W"])
    np.testing.assert_array_equal(b.params["W"], Conv2D(1, 2, 3, rng=np.random.default_rng(9)).params["W"])


def test_initial_weights_follow_glorot_uniform():
    rng = np.random.default_rng(0)
    dense, conv = Dense(300, 200, rng=rng), Conv2D(16, 32, 5, rng=rng)
    for W, a in [(dense.params["W"], np.sqrt(6 / 500)), (conv.params["W"], np.sqrt(6 / (48 * 25)))]:
        assert np.abs(W).max() <= a and np.abs(W).max() > 0.95 * a
    np.testing.assert_array_equal(dense.params["b"], 0)
    np.testing.assert_array_equal(conv.params["b"], 0)


# ---- 10. gradient accumulation and frozen layers ------------------------------------
@pytest.mark.parametrize("name, mode", MODES, ids=mode_ids)
def test_gradients_accumulate_and_zero_grad_clears(xp, name, mode):
    layer, x = build(xp, name, mode)
    y = layer.forward(x)
    dout = xp.asarray(np.random.default_rng(2).standard_normal(y.shape))
    dx1 = to_numpy(layer.backward(dout))
    once = {k: to_numpy(g).copy() for k, g in layer.grads.items()}
    dx2 = to_numpy(layer.backward(dout))
    np.testing.assert_array_equal(dx1, dx2)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(to_numpy(g), 2 * once[k], rtol=1e-12, atol=1e-15)  # backward ADDS

    grads_before = dict(layer.grads)
    assert layer.zero_grad() is layer
    for k, g in layer.grads.items():
        assert g is grads_before[k]  # cleared in place: an optimizer holding them still sees them
        assert not to_numpy(g).any()

    # a frozen layer: the input gradient flows through, its own grads stay untouched
    dx3 = to_numpy(layer.backward(dout, param_grads=False))
    np.testing.assert_array_equal(dx1, dx3)
    for g in layer.grads.values():
        assert not to_numpy(g).any()


@pytest.mark.parametrize("name", ["Dense", "Conv2D", "ConvTranspose2D", "BatchNorm (N, C, H, W)"])
def test_two_batches_add_their_gradients(xp, name):
    """As a discriminator sees the real batch, then the fake one, before one optimizer step."""
    layer, x1 = build(xp, name, seed=1)
    _, x2 = build(xp, name, seed=2)
    rng = np.random.default_rng(3)

    def grads_of(layer, batches):
        for x, dout in batches:
            layer.forward(x)
            layer.backward(dout)
        return {k: to_numpy(g) for k, g in layer.grads.items()}

    batches = [(x, xp.asarray(rng.standard_normal(copy.deepcopy(layer).forward(x).shape))) for x in (x1, x2)]
    both = grads_of(copy.deepcopy(layer), batches)
    first, second = grads_of(copy.deepcopy(layer), batches[:1]), grads_of(copy.deepcopy(layer), batches[1:])
    for k in both:
        np.testing.assert_allclose(both[k], first[k] + second[k], rtol=1e-12, atol=1e-14)


# ---- the rest of the contract -------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_params_and_grads_match_and_methods_return_the_layer(xp, name):
    layer, _ = build(xp, name)
    assert set(layer.params) == set(layer.grads)
    for k in layer.params:
        assert layer.params[k].shape == layer.grads[k].shape
    for method in ("train", "eval", "zero_grad"):
        assert getattr(layer, method)() is layer
    assert layer.astype(np.float32) is layer
    assert layer.to(device(xp)) is layer
    assert layer.training is False  # eval() was the last mode set
    assert layer.train().training is True


def test_parameter_layouts():
    assert Dense(5, 3).params["W"].shape == (5, 3)
    assert Dense(5, 3).params["b"].shape == (3,)
    assert "b" not in Dense(5, 3, bias=False).params
    assert Conv2D(2, 4, 3).params["W"].shape == (4, 2, 3, 3)
    assert ConvTranspose2D(2, 4, 3).params["W"].shape == (2, 4, 3, 3)
    assert ConvTranspose2D(2, 4, 3).params["b"].shape == (4,)
    assert "b" not in Conv2D(2, 4, 3, bias=False).params


def test_sequential_runs_in_order_and_names_params_by_position(xp):
    net = small_net().astype(np.float64).to(device(xp))
    assert len(net.layers) == 11
    assert list(net.params) == list(net.grads)
    assert list(net.params)[:4] == ["0.W", "0.b", "1.gamma", "1.beta"]
    assert net.params["5.W"] is net.layers[5].params["W"]  # the layers' own arrays
    assert net.num_params() == sum(p.size for layer in net.layers for p in layer.params.values())
    assert set(net.get_buffers()) == {"1.running_mean", "1.running_var"}
    x = xp.asarray(away_from_zero(np.random.default_rng(0), (2, 1, 5, 6)))
    by_hand = x
    for layer in copy.deepcopy(net).layers:
        by_hand = layer.forward(by_hand)
    np.testing.assert_allclose(to_numpy(net.forward(x)), to_numpy(by_hand))
    assert net.eval().training is False and all(not layer.training for layer in net.layers)


def test_flatten_and_reshape_round_trip(xp):
    x = xp.asarray(np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5))
    flat = Flatten().forward(x)
    assert flat.shape == (2, 60)
    back = Reshape((3, 4, 5))
    np.testing.assert_array_equal(to_numpy(back.forward(flat)), to_numpy(x))
    assert back.backward(x).shape == (2, 60)
