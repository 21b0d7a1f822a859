"""backward(..., input_grad=False): a network's first layer skips dL/dx and nothing else changes."""

import numpy as np
import pytest

from minigan.gan import GAN
from minigan.layers import BatchNorm, Conv2D, ConvTranspose2D, Dense, Sequential
from minigan.models import dcgan, toy


def weighted_layers():
    return [
        (Dense(6, 4, rng=np.random.default_rng(0)), (5, 6)),
        (Conv2D(3, 4, 3, stride=2, padding=1, rng=np.random.default_rng(0)), (2, 3, 7, 7)),
        (ConvTranspose2D(3, 2, 3, stride=2, padding=1, output_padding=1, rng=np.random.default_rng(0)), (2, 3, 4, 4)),
        (BatchNorm(4), (8, 4)),
    ]


@pytest.mark.parametrize("index", range(4), ids=["Dense", "Conv2D", "ConvTranspose2D", "BatchNorm"])
def test_layer_without_input_grad_returns_none_and_the_same_weight_grads(index):
    layer, shape = weighted_layers()[index]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    layer.astype(np.float64)
    dout = rng.standard_normal(layer.forward(x).shape)
    layer.zero_grad()
    dx = layer.backward(dout)
    full = {k: g.copy() for k, g in layer.grads.items()}
    layer.zero_grad()
    assert layer.backward(dout, input_grad=False) is None
    assert dx.shape == x.shape
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(g, full[k], err_msg=k)


def test_sequential_skips_only_the_first_layers_input_gradient():
    _, D = dcgan(seed=0)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    dout = np.ones((4, 1), np.float32)
    D.forward(x)
    D.zero_grad()
    D.backward(dout)
    full = {k: g.copy() for k, g in D.grads.items()}
    D.zero_grad()
    assert D.backward(dout, input_grad=False) is None
    for k, g in D.grads.items():
        np.testing.assert_array_equal(g, full[k], err_msg=k)


def test_a_first_layer_without_weights_still_returns_the_input_gradient():
    _, D = toy(pack=2, seed=0)  # Pack(2) comes first: it has no weights, so nothing is skipped
    x = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    dout = np.ones((3, 1), np.float32)
    D.forward(x)
    dx = D.backward(dout, input_grad=False)
    np.testing.assert_array_equal(dx, (D.forward(x), D.backward(dout))[1])


def test_skipping_input_gradients_leaves_a_training_step_bit_for_bit_the_same(monkeypatch):
    real = np.random.default_rng(0).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    lean = GAN(*dcgan(seed=0), 128, seed=0)
    for _ in range(2):
        lean.train_step(real)
    full_backward = Sequential.backward
    monkeypatch.setattr(Sequential, "backward", lambda self, dout, param_grads=True, input_grad=True:
                        full_backward(self, dout, param_grads))  # fmt: skip
    full = GAN(*dcgan(seed=0), 128, seed=0)
    for _ in range(2):
        full.train_step(real)
    for net in ("G", "D"):
        a, b = getattr(lean, net).params, getattr(full, net).params
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{net}.{k}")
