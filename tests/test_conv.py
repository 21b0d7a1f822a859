"""Conv2D and ConvTranspose2D against slow, obvious loop references, and against each other.

The layers multiply channels-last patch matrices (im2row, see conv_fast.py). The
references in minigan.layers.conv_reference loop over every output pixel
(convolution) or every input pixel (transposed convolution) and say what the
operation IS; their gradients, below, are loops too, written from the same picture. The adjoint tests check the relation the fast code is built on:
ConvTranspose2D is the adjoint of Conv2D, and col2im the adjoint of im2col.
"""

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.layers import Conv2D, ConvTranspose2D, conv_fast
from minigan.layers.conv_reference import col2im, conv2d_naive, conv_transpose2d_naive, im2col


def on(xp, layer):
    return layer.to("cpu" if xp is np else "gpu")


def rel_diff(a, b):
    a, b = to_numpy(a), to_numpy(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ---- slow references for the gradients (NumPy, float64) ---------------------------
def conv_ref_backward(x, W, dout, stride, padding):
    """Each output pixel sent dout[n, o, i, j] back to the patch and the kernel it used."""
    N, C, H, Wd = x.shape
    C_out, _, k, _ = W.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    for n in range(N):
        for o in range(C_out):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
                    dx_pad[n, :, rows, cols] += W[o] * dout[n, o, i, j]
                    dW[o] += x_pad[n, :, rows, cols] * dout[n, o, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, padding : padding + H, padding : padding + Wd], dW, db


def conv_transpose_ref_backward(x, W, dout, stride, padding):
    """Each input pixel's stamp read dout back: dx = <stamp region of dout, W[c]>."""
    N, C, H, Wd = x.shape
    k = W.shape[2]
    full = np.pad(dout, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # the uncropped output
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(Wd):
                    region = full[n, :, h * stride : h * stride + k, w * stride : w * stride + k]  # (C_out, k, k)
                    dx[n, c, h, w] = (region * W[c]).sum()
                    dW[c] += x[n, c, h, w] * region
    db = dout.sum(axis=(0, 2, 3))
    return dx, dW, db


def random_conv_configs(n, seed, transposed):
    """n random (N, C_in, C_out, k, stride, padding, output_padding, H, W), all valid."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < n:
        N, C_in, C_out = (int(v) for v in rng.integers(1, 4, size=3))
        k, stride = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        padding = int(rng.integers(0, min(3, k)))  # padding < k, as in every real network
        op = int(rng.integers(0, stride)) if transposed else 0
        H, W = (int(v) for v in rng.integers(1, 10, size=2))
        if transposed:
            out = [(s - 1) * stride - 2 * padding + k + op for s in (H, W)]
        else:
            out = [(s + 2 * padding - k) // stride + 1 for s in (H, W)]
        if min(out) >= 1:
            configs.append((N, C_in, C_out, k, stride, padding, op, H, W))
    return configs


# the hand-picked cases: stride 2, padding, non-square, odd sizes, 1x1 kernel
CONV_CASES = [
    (2, 3, 4, 3, 1, 0, 0, 7, 5),
    (2, 2, 3, 3, 2, 1, 0, 9, 6),
    (1, 1, 2, 5, 2, 2, 0, 28, 28),
    (3, 2, 2, 4, 2, 1, 0, 8, 7),
    (2, 3, 2, 1, 1, 0, 0, 3, 4),
    (1, 2, 1, 3, 3, 2, 0, 5, 8),
] + random_conv_configs(8, seed=1, transposed=False)

CONV_T_CASES = [
    (2, 3, 2, 3, 1, 0, 0, 3, 4),
    (2, 2, 3, 5, 2, 2, 1, 4, 3),  # the DCGAN's upsampling step
    (1, 2, 2, 4, 2, 1, 0, 5, 5),
    (2, 1, 2, 3, 2, 1, 1, 3, 6),
    (1, 2, 3, 3, 3, 2, 2, 4, 3),
    (2, 2, 1, 1, 1, 0, 0, 3, 4),
] + random_conv_configs(8, seed=2, transposed=True)


def case_id(c):
    return "N{}-C{}-O{}-k{}-s{}-p{}-op{}-{}x{}".format(*c)


@pytest.mark.parametrize("config", CONV_CASES, ids=case_id)
def test_conv2d_matches_loop_reference(xp, config):
    N, C_in, C_out, k, stride, padding, _, H, W = config
    rng = np.random.default_rng(sum(config))
    layer = on(xp, Conv2D(C_in, C_out, k, stride=stride, padding=padding).astype(np.float64))
    layer.params["W"][...] = xp.asarray(rng.standard_normal(layer.params["W"].shape))
    layer.params["b"][...] = xp.asarray(rng.standard_normal(C_out))
    x = rng.standard_normal((N, C_in, H, W))
    Wn, bn = to_numpy(layer.params["W"]), to_numpy(layer.params["b"])

    y_ref = conv2d_naive(x, Wn, bn, stride, padding)
    y = layer.forward(xp.asarray(x))
    assert y.shape == y_ref.shape
    assert rel_diff(y, y_ref) < 1e-12

    dout = rng.standard_normal(y_ref.shape)
    dx_ref, dW_ref, db_ref = conv_ref_backward(x, Wn, dout, stride, padding)
    dx = layer.backward(xp.asarray(dout))
    assert rel_diff(dx, dx_ref) < 1e-12
    assert rel_diff(layer.grads["W"], dW_ref) < 1e-12
    assert rel_diff(layer.grads["b"], db_ref) < 1e-12


@pytest.mark.parametrize("config", CONV_T_CASES, ids=case_id)
def test_conv_transpose2d_matches_loop_reference(xp, config):
    N, C_in, C_out, k, stride, padding, op, H, W = config
    rng = np.random.default_rng(sum(config))
    layer = ConvTranspose2D(C_in, C_out, k, stride=stride, padding=padding, output_padding=op)
    layer = on(xp, layer.astype(np.float64))
    layer.params["W"][...] = xp.asarray(rng.standard_normal(layer.params["W"].shape))
    layer.params["b"][...] = xp.asarray(rng.standard_normal(C_out))
    x = rng.standard_normal((N, C_in, H, W))
    Wn, bn = to_numpy(layer.params["W"]), to_numpy(layer.params["b"])

    y_ref = conv_transpose2d_naive(x, Wn, bn, stride, padding, op)
    y = layer.forward(xp.asarray(x))
    assert y.shape == y_ref.shape
    assert rel_diff(y, y_ref) < 1e-12

    dout = rng.standard_normal(y_ref.shape)
    dx_ref, dW_ref, db_ref = conv_transpose_ref_backward(x, Wn, dout, stride, padding)
    dx = layer.backward(xp.asarray(dout))
    assert rel_diff(dx, dx_ref) < 1e-12
    assert rel_diff(layer.grads["W"], dW_ref) < 1e-12
    assert rel_diff(layer.grads["b"], db_ref) < 1e-12


def test_loop_references_agree_with_finite_differences():
    """The references' own gradients are checked too, so the comparisons above
    cannot pass by two implementations sharing one mistake."""
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    eps = 1e-6

    def fd(f, a):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            plus = f()
            a[i] = old - eps
            minus = f()
            a[i] = old
            g[i] = (plus - minus) / (2 * eps)
        return g

    dout = rng.standard_normal(conv2d_naive(x, W, b, 2, 1).shape)
    dx, dW, _ = conv_ref_backward(x, W, dout, 2, 1)
    loss = lambda: (conv2d_naive(x, W, b, 2, 1) * dout).sum()  # noqa: E731
    assert rel_diff(dx, fd(loss, x)) < 1e-7
    assert rel_diff(dW, fd(loss, W)) < 1e-7

    dout = rng.standard_normal(conv_transpose2d_naive(x, W, b, 2, 1, 1).shape)
    dx, dW, _ = conv_transpose_ref_backward(x, W, dout, 2, 1)
    loss = lambda: (conv_transpose2d_naive(x, W, b, 2, 1, 1) * dout).sum()  # noqa: E731
    assert rel_diff(dx, fd(loss, x)) < 1e-7
    assert rel_diff(dW, fd(loss, W)) < 1e-7


# ---- the transposed convolution is the adjoint of the convolution ----------------
ADJOINT_CASES = [  # (k, stride, padding, output_padding, h, w): conv maps H x W -> h x w
    (3, 1, 0, 0, 4, 5),
    (3, 1, 1, 0, 5, 5),
    (3, 2, 1, 0, 4, 3),
    (3, 2, 1, 1, 4, 3),
    (4, 2, 1, 0, 7, 7),
    (5, 2, 2, 1, 7, 7),  # the DCGAN: 7 -> 14 upsampling, 14 -> 7 downsampling
    (5, 2, 2, 1, 14, 14),
    (2, 3, 0, 2, 3, 4),
    (1, 2, 0, 1, 3, 3),
]


@pytest.mark.parametrize("k, stride, padding, op, h, w", ADJOINT_CASES)
def test_conv_transpose_is_adjoint_of_conv(xp, k, stride, padding, op, h, w):
    """<conv(x), y> == <x, convT(y)> for every x, y, with the same W and no bias."""
    C, D, N = 2, 3, 2
    conv = on(xp, Conv2D(C, D, k, stride=stride, padding=padding, bias=False).astype(np.float64))
    convT = on(xp, ConvTranspose2D(D, C, k, stride=stride, padding=padding, output_padding=op, bias=False))
    convT.params["W"] = conv.params["W"]  # (D, C, k, k): conv's (C_out, C_in) is convT's (C_in, C_out)
    H, W = ((s - 1) * stride - 2 * padding + k + op for s in (h, w))
    rng = np.random.default_rng(k * 100 + stride * 10 + padding)
    x, y = xp.asarray(rng.standard_normal((N, C, H, W))), xp.asarray(rng.standard_normal((N, D, h, w)))

    cx, ty = conv.forward(x), convT.forward(y)
    assert cx.shape == y.shape and ty.shape == x.shape
    lhs, rhs = float((cx * y).sum()), float((x * ty).sum())
    assert abs(lhs - rhs) <= 1e-12 * (float(abs(cx * y).sum()) + float(abs(x * ty).sum()))
    # and so each layer's forward is the other's input gradient
    assert rel_diff(convT.forward(y), conv.backward(y)) < 1e-12
    assert rel_diff(conv.forward(x), convT.backward(x)) < 1e-12


@pytest.mark.parametrize(
    "k, stride, padding, H, W", [(3, 1, 0, 5, 4), (3, 2, 1, 7, 6), (5, 2, 2, 8, 8), (2, 3, 1, 7, 5)]
)
def test_col2im_is_adjoint_of_im2col(xp, k, stride, padding, H, W):
    rng = np.random.default_rng(H * W + k)
    x = xp.asarray(rng.standard_normal((2, 3, H, W)))
    cols = im2col(x, k, stride, padding)
    c = xp.asarray(rng.standard_normal(cols.shape))
    back = col2im(c, x.shape, k, stride, padding)
    assert back.shape == x.shape
    lhs, rhs = float((cols * c).sum()), float((x * back).sum())
    assert abs(lhs - rhs) <= 1e-12 * (float(abs(cols * c).sum()) + float(abs(x * back).sum()))


def test_im2col_column_is_the_patch():
    """Column (n, i, j) of im2col holds the patch under output pixel (i, j), channel-major."""
    x = np.arange(2 * 2 * 5 * 4, dtype=np.float64).reshape(2, 2, 5, 4)
    cols = im2col(x, 3, 2, 1)  # Ho = 3, Wo = 2
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, i, j = 1, 2, 1
    column = cols[:, n * 3 * 2 + i * 2 + j]
    np.testing.assert_array_equal(column, x_pad[n, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].reshape(-1))


# ---- output sizes -----------------------------------------------------------------
@pytest.mark.parametrize(
    "k, stride, padding, H, W, expected",
    [
        (5, 2, 2, 28, 28, (14, 14)),  # the DCGAN discriminator: 28 -> 14
        (5, 2, 2, 14, 14, (7, 7)),  # 14 -> 7
        (3, 1, 0, 7, 5, (5, 3)),
        (3, 1, 1, 7, 5, (7, 5)),  # "same" padding
        (4, 2, 1, 9, 8, (4, 4)),  # floor: (9 + 2 - 4) // 2 + 1 = 4
        (3, 3, 0, 3, 11, (1, 3)),
        (1, 1, 0, 2, 3, (2, 3)),
    ],
)
def test_conv2d_output_size(xp, k, stride, padding, H, W, expected):
    layer = on(xp, Conv2D(2, 3, k, stride=stride, padding=padding))
    assert [(s + 2 * padding - k) // stride + 1 for s in (H, W)] == list(expected)  # the docstring's formula
    y = layer.forward(xp.zeros((2, 2, H, W), dtype=np.float32))
    assert y.shape == (2, 3, *expected)


@pytest.mark.parametrize(
    "k, stride, padding, op, H, W, expected",
    [
        (5, 2, 2, 1, 7, 7, (14, 14)),  # the DCGAN generator: 7 -> 14
        (5, 2, 2, 1, 14, 14, (28, 28)),  # 14 -> 28
        (4, 2, 1, 0, 7, 7, (14, 14)),
        (3, 1, 0, 0, 5, 3, (7, 5)),
        (3, 2, 1, 1, 4, 3, (8, 6)),
        (3, 3, 0, 2, 2, 1, (8, 5)),
        (7, 1, 0, 0, 1, 1, (7, 7)),  # a 1x1 latent to a 7x7 map
    ],
)
def test_conv_transpose2d_output_size(xp, k, stride, padding, op, H, W, expected):
    layer = on(xp, ConvTranspose2D(2, 3, k, stride=stride, padding=padding, output_padding=op))
    assert [(s - 1) * stride - 2 * padding + k + op for s in (H, W)] == list(expected)  # the docstring's formula
    y = layer.forward(xp.zeros((2, 2, H, W), dtype=np.float32))
    assert y.shape == (2, 3, *expected)
    # and the Conv2D with the same k, stride, padding maps the output back to H x W
    back = on(xp, Conv2D(3, 2, k, stride=stride, padding=padding)).forward(y)
    assert back.shape == (2, 2, H, W)


# ---- blocks of images ------------------------------------------------------------
BLOCK_CASES = [  # (N, C_in, C_out, k, stride, padding, output_padding, H, W)
    (5, 2, 3, 5, 2, 2, 1, 6, 5),  # the DCGAN's kind of layer
    (5, 2, 3, 3, 1, 0, 0, 5, 4),  # stride 1, no padding
    (4, 3, 2, 4, 3, 1, 2, 4, 7),  # stride > padding, output_padding 2
]


@pytest.mark.parametrize("images", [1, 2])
@pytest.mark.parametrize("config", BLOCK_CASES, ids=case_id)
def test_conv_layers_made_in_blocks_of_images_match_the_references(monkeypatch, images, config):
    """On the CPU the big patch matrices are made a block of images at a time (see
    matmul_row2im). In blocks of 1 or 2 images (the last block short), on a
    channels-last input as the layers hand on, both layers still give the loop
    references' outputs and gradients, for every mix of param_grads / input_grad."""
    calls = []

    def blocks_of(xp, N, bytes_per_image):
        calls.append(N)
        return images

    monkeypatch.setattr(conv_fast, "images_per_block", blocks_of)
    N, C_in, C_out, k, stride, padding, op, H, W = config
    rng = np.random.default_rng(images)
    x = rng.standard_normal((N, H, W, C_in)).transpose(0, 3, 1, 2)  # channels-last in memory
    for layer, ref, ref_backward, extra in (
        (Conv2D(C_in, C_out, k, stride, padding), conv2d_naive, conv_ref_backward, ()),
        (
            ConvTranspose2D(C_in, C_out, k, stride, padding, op),
            conv_transpose2d_naive,
            conv_transpose_ref_backward,
            (op,),
        ),
    ):
        if "Transpose" not in repr(layer) and op:
            continue
        layer = layer.astype(np.float64)
        layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape)
        layer.params["b"][...] = rng.standard_normal(C_out)
        calls.clear()
        y = layer.forward(x)
        assert rel_diff(y, ref(x, layer.params["W"], layer.params["b"], stride, padding, *extra)) < 1e-12
        dout = rng.standard_normal(y.shape)
        dx_ref, dW_ref, db_ref = ref_backward(x, layer.params["W"], dout, stride, padding)
        assert rel_diff(layer.backward(dout, param_grads=False), dx_ref) < 1e-12
        assert not layer.grads["W"].any()
        assert layer.backward(dout, input_grad=False) is None
        assert rel_diff(layer.grads["W"], dW_ref) < 1e-12
        assert rel_diff(layer.grads["b"], db_ref) < 1e-12
        assert rel_diff(layer.backward(dout), dx_ref) < 1e-12  # both at once: the gradients add up
        assert rel_diff(layer.grads["W"], 2 * dW_ref) < 1e-12
        assert rel_diff(layer.grads["b"], 2 * db_ref) < 1e-12
        # every pass went through the blocks: the forward and each backward, except Conv2D's
        # input_grad=False one (its weight gradient is one product over the kept rows)
        assert calls == [N] * (4 if "Transpose" in repr(layer) else 3)


def test_conv_layers_take_an_empty_batch():
    x = np.zeros((0, 2, 6, 6), np.float32)
    for layer in (Conv2D(2, 3, 5, stride=2, padding=2), ConvTranspose2D(2, 3, 5, stride=2, padding=2)):
        y = layer.forward(x)
        assert y.shape == (0, *layer.output_shape(x.shape)[1:])
        assert layer.backward(np.zeros_like(y)).shape == x.shape
