"""minigan's layers agree with the standard definitions as PyTorch computes them.

tests/reference/torch_layers.npz holds PyTorch's float64 results for fixed inputs,
weights and upstream gradients (written by tests/reference/make_torch_reference.py;
PyTorch is needed only to rewrite that file, never to run these tests). Each test
rebuilds the layer in minigan from the same numbers and compares forward output,
input gradient, parameter gradients and BatchNorm's running statistics.
"""

import os

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.layers import BatchNorm, Conv2D, ConvTranspose2D, Dense, LeakyReLU, ReLU, Sigmoid, Tanh

REF_PATH = os.path.join(os.path.dirname(__file__), "reference", "torch_layers.npz")
TOL = 1e-9  # relative to the largest entry of PyTorch's array; float64 rounding is ~1e-15


@pytest.fixture(scope="module")
def ref():
    with np.load(REF_PATH) as f:
        return {k: f[k] for k in f.files}


def rel_diff(ours, theirs):
    """max |ours - theirs| / max |theirs|: one number per array, 0 when identical."""
    ours, theirs = to_numpy(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"shape {ours.shape}, PyTorch {theirs.shape}"
    assert ours.dtype == np.float64
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-300))


def on(xp, layer):
    return layer.astype(np.float64).to("cpu" if xp is np else "gpu")


def check_case(xp, ref, case, layer, params=()):
    """Load the case's weights into ``layer``, run forward and backward, compare all."""
    for name in params:
        layer.params[name][...] = xp.asarray(ref[f"{case}.{name}"])
    y = layer.forward(xp.asarray(ref[f"{case}.x"]))
    dx = layer.backward(xp.asarray(ref[f"{case}.dout"]))
    assert rel_diff(y, ref[f"{case}.y"]) < TOL
    assert rel_diff(dx, ref[f"{case}.dx"]) < TOL
    for name in params:
        assert rel_diff(layer.grads[name], ref[f"{case}.d{name}"]) < TOL, name


def test_dense_matches_linear(xp, ref):
    # the file stores Linear.weight.T, which is minigan's (in, out) layout
    check_case(xp, ref, "dense", on(xp, Dense(5, 4)), params=("W", "b"))


@pytest.mark.parametrize("case", ["conv_s1p0", "conv_s2p1"])
def test_conv2d_matches_conv2d(xp, ref, case):
    layer = Conv2D(2, 3, 3, stride=int(ref[f"{case}.stride"]), padding=int(ref[f"{case}.padding"]))
    check_case(xp, ref, case, on(xp, layer), params=("W", "b"))


def test_conv_transpose2d_matches_conv_transpose2d(xp, ref):
    layer = ConvTranspose2D(3, 2, 5, stride=2, padding=2, output_padding=1)  # the DCGAN's upsampling step
    check_case(xp, ref, "convT", on(xp, layer), params=("W", "b"))


@pytest.mark.parametrize(
    "case, make", [("leaky_relu", lambda: LeakyReLU(0.2)), ("relu", ReLU), ("sigmoid", Sigmoid), ("tanh", Tanh)]
)
def test_activations_match(xp, ref, case, make):
    check_case(xp, ref, case, on(xp, make()))


@pytest.mark.parametrize("case, C", [("bn1d", 4), ("bn2d", 3)])
def test_batchnorm_matches_batchnorm(xp, ref, case, C):
    """Three training steps (batch statistics; running statistics updated with the
    unbiased variance), then one step in eval mode (running statistics used)."""
    bn = on(xp, BatchNorm(C, momentum=0.1, eps=1e-5))
    bn.params["gamma"][...] = xp.asarray(ref[f"{case}.gamma"])
    bn.params["beta"][...] = xp.asarray(ref[f"{case}.beta"])
    for step in range(4):
        r = f"{case}.step{step}"
        if step == 3:
            bn.eval()
        bn.zero_grad()
        y = bn.forward(xp.asarray(ref[f"{r}.x"]))
        dx = bn.backward(xp.asarray(ref[f"{r}.dout"]))
        for name, ours in [("y", y), ("dx", dx), ("dgamma", bn.grads["gamma"]), ("dbeta", bn.grads["beta"]),
                           ("running_mean", bn.running_mean), ("running_var", bn.running_var)]:  # fmt: skip
            assert rel_diff(ours, ref[f"{r}.{name}"]) < TOL, f"step {step}: {name}"
