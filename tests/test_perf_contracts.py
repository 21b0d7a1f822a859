"""What the fast path promises, checked without a clock.

Speed is measured by benchmarks/train_step.py, never by a test. These tests pin the
properties the speed rests on, so that a later change cannot lose them silently:

1. float32 end to end: no float64 anywhere in a float32 training step.
2. the channels-last patch matrices (im2row / row2im) are im2col's numbers, and adjoint.
3. conv outputs are channels-last in memory and elementwise layers keep that layout.
4. dropout masks: exact enough keep rate, seeded, laid out like their input.
5. a training step's caches do not grow from step to step.
6. the benchmark's FLOP count is the one written in its docstring.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

from minigan.gan import GAN
from minigan.layers import Conv2D, ConvTranspose2D, Dropout, Flatten, LeakyReLU, Sequential
from minigan.layers.conv_fast import im2row, row2im
from minigan.layers.conv_reference import conv_output_size, im2col
from minigan.models import dcgan, mlp_gan


def arrays_of(obj):
    """The array attributes of a layer or optimizer, by name (dicts of arrays included)."""
    found = {}
    for name, v in vars(obj).items():
        if isinstance(v, np.ndarray):
            found[name] = v
        elif isinstance(v, dict):
            for k, a in v.items():
                if isinstance(a, np.ndarray):
                    found[f"{name}.{k}"] = a
                elif isinstance(a, dict):  # optimizer state: {slot: {key: array}}
                    found.update({f"{name}.{k}.{kk}": aa for kk, aa in a.items() if isinstance(aa, np.ndarray)})
    return found


def leaves(net):
    return [leaf for layer in net.layers for leaf in (leaves(layer) if isinstance(layer, Sequential) else [layer])]


def watch_dtypes(gan, seen):
    """Record the dtype of every array that goes into or out of a layer or objective."""

    def wrap(owner, name, fn):
        def checked(*args, **kwargs):
            out = fn(*args, **kwargs)
            for a in (*args, *(out if isinstance(out, tuple) else (out,))):
                if hasattr(a, "dtype"):
                    seen.append((f"{owner}.{name}", a.dtype))
            return out

        return checked

    for tag, net in (("G", gan.G), ("D", gan.D)):
        for i, layer in enumerate(leaves(net)):
            for name in ("forward", "backward"):
                setattr(layer, name, wrap(f"{tag}{i} {layer!r}", name, getattr(layer, name)))
    for name in ("d_loss", "g_loss"):
        setattr(gan.objective, name, wrap("objective", name, getattr(gan.objective, name)))


# ---- 1. float32 end to end -----------------------------------------------------------
@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_float32_training_step_never_makes_float64(model):
    G, D = dcgan(latent_dim=16, seed=0) if model == "dcgan" else mlp_gan(latent_dim=16, hidden=32, seed=0)
    gan = GAN(G, D, latent_dim=16, seed=0)
    seen = []
    watch_dtypes(gan, seen)
    real = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    for _ in range(2):
        stats = gan.train_step(real)
    assert all(np.isfinite(v) for v in stats.values())
    wrong = sorted({f"{where}: {dtype}" for where, dtype in seen if dtype != np.float32 and dtype.kind == "f"})
    assert not wrong, wrong
    held = {}
    for tag, net in (("G", gan.G), ("D", gan.D)):
        for i, layer in enumerate(leaves(net)):
            held.update({f"{tag}{i}.{k}": a for k, a in arrays_of(layer).items()})
    for tag, opt in (("opt_G", gan.opt_G), ("opt_D", gan.opt_D)):
        held.update({f"{tag}.{k}": a for k, a in arrays_of(opt).items()})
    assert any(k.startswith("opt_D.state.m.") for k in held)  # the optimizer state was looked at
    wrong = sorted(f"{k}: {a.dtype}" for k, a in held.items() if a.dtype.kind == "f" and a.dtype != np.float32)
    assert not wrong, wrong


# ---- 2. channels-last patches ----------------------------------------------------------
SHAPES = [  # (N, C, h, w, k, stride, padding)
    (2, 3, 7, 6, 3, 2, 1),
    (2, 64, 14, 14, 5, 2, 2),  # the DCGAN's second convolution, small batch
    (3, 1, 8, 8, 5, 2, 2),
    (1, 2, 7, 5, 2, 3, 1),  # stride > kernel: some pixels are in no patch
    (2, 2, 5, 4, 3, 1, 0),
    (1, 3, 4, 4, 4, 1, 3),  # padding wider than the image's reach of some offsets
]


@pytest.mark.parametrize("shape", SHAPES)
def test_im2row_holds_im2col_numbers_channels_last(shape):
    N, C, h, w, k, s, p = shape
    x = np.random.default_rng(0).standard_normal((N, C, h, w))
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    rows = im2row(x, k, s, p)
    assert rows.shape == (N * ho * wo, k * k * C)
    cols = im2col(x, k, s, p)  # (C*k*k, N*ho*wo), rows (c, i, j)
    as_cols = rows.reshape(-1, k, k, C).transpose(3, 1, 2, 0).reshape(C * k * k, -1)
    np.testing.assert_array_equal(as_cols, cols)


@pytest.mark.parametrize("shape", SHAPES)
def test_row2im_is_the_adjoint_of_im2row(shape):
    N, C, h, w, k, s, p = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, h, w))
    rows = im2row(x, k, s, p)
    r = rng.standard_normal(rows.shape)
    back = row2im(r, x.shape, k, s, p)
    assert back.shape == x.shape
    lhs, rhs = float((rows * r).sum()), float((x * back).sum())
    assert abs(lhs - rhs) <= 1e-12 * (float(abs(rows * r).sum()) + float(abs(x * back).sum()))


def channels_last(a):
    return a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("shape", SHAPES)
def test_row2im_result_is_channels_last(shape):
    N, C, h, w, k, s, p = shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    back = row2im(np.ones((N * ho * wo, k * k * C), dtype=np.float32), (N, C, h, w), k, s, p)
    assert channels_last(back)
    assert back.dtype == np.float32


# ---- 3. layouts through the layers --------------------------------------------------------
def test_conv_layers_hand_on_channels_last_arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    conv, up = Conv2D(3, 4, 5, stride=2, padding=2), ConvTranspose2D(4, 3, 5, stride=2, padding=2, output_padding=1)
    y = conv.forward(x)  # (2, 4, 4, 4)
    z = up.forward(y)  # (2, 3, 8, 8)
    assert channels_last(y)
    assert channels_last(z)
    dy = up.backward(np.ones_like(z))
    assert channels_last(dy)
    assert channels_last(conv.backward(dy))
    # ConvTranspose2D reads a channels-last input as a matrix without copying it
    assert np.shares_memory(up.x_rows, y)


@pytest.mark.parametrize("layer", [LeakyReLU(0.2), Dropout(0.3, seed=0)])
def test_elementwise_layers_keep_the_memory_order(layer):
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype(np.float32).transpose(0, 3, 1, 2)
    assert channels_last(x)
    y = layer.forward(x)
    assert channels_last(y)
    assert channels_last(layer.backward(np.ones_like(x)))


def test_flatten_hands_back_its_gradient_in_the_inputs_memory_order():
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype(np.float32).transpose(0, 3, 1, 2)
    flat = Flatten()
    y = flat.forward(x)
    np.testing.assert_array_equal(y, np.ascontiguousarray(x).reshape(2, -1))  # PyTorch's (c, h, w) order
    dout = np.arange(y.size, dtype=np.float32).reshape(y.shape)
    dx = flat.backward(dout)
    assert channels_last(dx)
    np.testing.assert_array_equal(dx, dout.reshape(x.shape))
    assert flat.backward(dout.astype(np.float64)).dtype == np.float64  # the gradient's dtype, not x's
    c_order = np.ones((2, 3, 5, 4), np.float32)  # a C-contiguous input gets a plain reshape (no copy)
    flat.forward(c_order)
    assert np.shares_memory(flat.backward(dout), dout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.2, 0.01, 0.3, 0.0, 1.0, 1.7, -0.5])
def test_leaky_relu_slope_is_exactly_one_or_alpha(dtype, alpha):
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0], dtype=dtype)
    layer = LeakyReLU(alpha)
    y = layer.forward(x)
    assert layer.slope.dtype == dtype
    assert y.dtype == dtype
    np.testing.assert_array_equal(layer.slope, np.array([alpha, alpha, alpha, 1, 1], dtype=dtype))
    np.testing.assert_array_equal(y, np.where(x > 0, x, dtype(alpha) * x))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_leaky_relu_slope_is_exact_for_every_alpha_in_zero_one(dtype):
    # the slope is mask * (1 - alpha) + alpha: (1 - alpha) + alpha must round to exactly 1
    alphas = np.concatenate([np.random.default_rng(0).uniform(0, 1, 3000), [0.0, 1.0, 0.5, 2**-30, 1 - 2**-30]])
    x = np.array([-1.0, 1.0], dtype=dtype)
    for alpha in alphas:
        slope = LeakyReLU(float(alpha)).forward(x) * np.array([-1.0, 1.0], dtype=dtype)  # y / x
        assert slope[1] == 1 and slope[0] == dtype(alpha), (dtype, alpha)


# ---- 4. dropout masks -------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.3, 0.5, 0.01])
def test_dropout_keep_probability_is_exact_enough(p):
    layer = Dropout(p, seed=0)
    n = 2_000_000
    kept = layer.forward(np.ones(n, dtype=np.float32)) != 0
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n) + 2**-17  # 5 standard errors + rounding


def test_dropout_zeroes_before_it_scales():
    # a dropped unit is 0 even where t / (1 - p) overflows (scaling first would give inf * 0 = NaN)
    layer = Dropout(0.5, seed=0)
    x = np.full(64, 40000.0, dtype=np.float16)  # 40000 / 0.5 is beyond float16's largest, 65504
    with np.errstate(over="ignore"):  # the kept units overflow to inf, as intended
        y = layer.forward(x)
    assert not np.isnan(y).any()
    assert set(np.unique(y).tolist()) == {0.0, np.inf}
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.where(layer.mask, 2.0, 0.0).astype(np.float16))


def test_dropout_gradient_keeps_its_own_dtype():
    layer = Dropout(0.3, seed=0)
    layer.forward(np.ones((4, 5), np.float32))
    assert layer.backward(np.ones((4, 5), np.float64)).dtype == np.float64  # as x * float mask would give
    layer.forward(np.ones((4, 5), np.float64))
    assert layer.backward(np.ones((4, 5), np.float32)).dtype == np.float64


@pytest.mark.parametrize("layer", [LeakyReLU(0.2), Dropout(0.3, seed=0)], ids=repr)
def test_integer_input_is_refused_by_name(layer):
    with pytest.raises(TypeError, match=r"expected a floating-point input, got int64"):
        layer.forward(np.arange(6, dtype=np.int64))


def test_dropout_mask_follows_the_input_layout_and_the_seed():
    x = np.ones((3, 4, 5, 6), dtype=np.float32).transpose(0, 3, 1, 2)
    a, b = Dropout(0.5, seed=9), Dropout(0.5, seed=9)
    ya, yb = a.forward(x), b.forward(np.ascontiguousarray(x))
    assert channels_last(a.mask)
    # the same seed draws the same numbers, in memory order: one layout is the other's transpose
    np.testing.assert_array_equal(ya.transpose(0, 2, 3, 1).ravel(), yb.ravel())


# ---- 5. no growth from step to step --------------------------------------------------------
def held_bytes(gan):
    total = 0
    for net in (gan.G, gan.D):
        for layer in leaves(net):
            total += sum(a.nbytes for a in arrays_of(layer).values())
    for opt in (gan.opt_G, gan.opt_D):
        total += sum(a.nbytes for a in arrays_of(opt).values())
    return total


def test_training_steps_hold_the_same_memory():
    G, D = dcgan(latent_dim=16, seed=0)
    gan = GAN(G, D, latent_dim=16, seed=0)
    real = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    gan.train_step(real)
    after_one = held_bytes(gan)
    for _ in range(3):
        gan.train_step(real)
    assert held_bytes(gan) == after_one


# ---- 6. the benchmark's FLOP count ----------------------------------------------------------
def load_benchmark():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"
    spec = importlib.util.spec_from_file_location("train_step_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_counts_the_dcgan_step_by_hand():
    bench = load_benchmark()
    G, D = dcgan(seed=0)
    g = [128 * 6272, 0, 0, 0, 7 * 7 * 128 * 64 * 25, 0, 0, 14 * 14 * 64 * 1 * 25, 0]  # per example
    d = [14 * 14 * 64 * 1 * 25, 0, 0, 7 * 7 * 128 * 64 * 25, 0, 0, 0, 6272]
    assert bench.forward_macs(G, (128,)) == g
    assert bench.forward_macs(D, (1, 28, 28)) == d
    n, sg, sd = 64, sum(g), sum(d)
    # pass 1: G fwd (n), D fwd + weight grads + input grads (2n); pass 2: D fwd + input grads (n), G both grads
    everything = 2 * (n * sg + 3 * 2 * n * sd + 2 * n * sd + 2 * n * sg)
    assert bench.step_flops(G, D, n, 128, (1, 28, 28), first_layer_dx=True) == everything
    assert round(everything / 1e9, 2) == 14.89
    # minigan (input_grad=False) and PyTorch's autograd leave out the input gradients of
    # D's first layer (pass 1) and G's first layer
    lean = bench.step_flops(G, D, n, 128, (1, 28, 28))
    assert everything - lean == 2 * (2 * n * d[0] + n * g[0])
    assert round(lean / 1e9, 2) == 14.70
