"""The WGAN-GP penalty's hand-derived second-order gradients."""

import copy
import os

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.gradcheck import numerical_gradient, rel_error
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
from minigan.second_order import gradient_penalty

REF = os.path.join(os.path.dirname(__file__), "reference", "torch_gp.npz")


def penalty_by_definition(D, x, weight=10.0):
    """lambda * mean (||dD/dx_n|| - 1)^2 from one forward and one backward pass (on a copy)."""
    D = copy.deepcopy(D)
    s = D.forward(x)
    g = D.backward(np.ones_like(s), param_grads=False)
    norm = np.sqrt((g.reshape(len(x), -1) ** 2).sum(axis=1))
    return float(weight * ((norm - 1) ** 2).mean())


def mlp_critic():
    return Sequential(Dense(4, 8), LeakyReLU(0.2), Dense(8, 8), Tanh(), Dense(8, 6), Sigmoid(), Dense(6, 1))


def conv_critic():
    return Sequential(Conv2D(1, 4, 5, stride=2, padding=2), LeakyReLU(0.2), Conv2D(4, 6, 5, stride=2, padding=2),
                      LeakyReLU(0.2), Flatten(), Dense(54, 1))  # fmt: skip


def every_layer_critic():
    return Sequential(Conv2D(1, 3, 3, stride=2, padding=1), LeakyReLU(0.2), Dropout(0.3),
                      Conv2D(3, 4, 3, stride=2, padding=1), ReLU(), Flatten(), Dense(16, 5), Tanh(),
                      Reshape((5,)), Dense(5, 4), Sigmoid(), Dense(4, 1))  # fmt: skip


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name, build", [("mlp", mlp_critic), ("conv", conv_critic)])
def test_matches_double_backprop_in_pytorch(ref, xp, name, build):
    D = build().astype(np.float64).to("cpu" if xp is np else "gpu")
    for k, p in D.params.items():
        p[...] = xp.asarray(ref[f"{name}.{k}"])
    x_hat = xp.asarray(ref[f"{name}.x_hat"])
    p = gradient_penalty(D, x_hat, weight=10.0)
    assert float(p) == pytest.approx(float(ref[f"{name}.penalty"]), rel=1e-12)
    for k in D.params:
        theirs = ref[f"{name}.d{k}"]
        err = np.abs(to_numpy(D.grads[k]) - theirs).max() / max(np.abs(theirs).max(), 1e-300)
        assert err < 1e-10, (k, err)


@pytest.mark.parametrize("build, shape", [(mlp_critic, (5, 4)), (conv_critic, (3, 1, 10, 10)),
                                          (every_layer_critic, (3, 1, 7, 7))])  # fmt: skip
@pytest.mark.parametrize("alpha_seed", [0, 1, 2])
def test_weight_gradients_match_finite_differences(build, shape, alpha_seed):
    rng = np.random.default_rng(alpha_seed)
    D = build().astype(np.float64)
    real, fake = rng.standard_normal(shape), rng.standard_normal(shape)
    alpha = rng.uniform(size=(shape[0],) + (1,) * (len(shape) - 1))
    x_hat = alpha * real + (1 - alpha) * fake
    D.forward(x_hat)  # any Dropout now has a generator; copies below draw the same mask
    base = copy.deepcopy(D)
    work = copy.deepcopy(base).zero_grad()
    p = gradient_penalty(work, x_hat)
    assert float(p) == pytest.approx(penalty_by_definition(base, x_hat), rel=1e-12)
    for k, w in base.params.items():
        num = numerical_gradient(lambda: penalty_by_definition(base, x_hat), w)
        assert rel_error(work.grads[k], num) < 1e-6, k


def test_adds_into_existing_gradients():
    D = mlp_critic().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 4))
    gradient_penalty(D, x)
    once = {k: g.copy() for k, g in D.grads.items()}
    gradient_penalty(D, x)
    for k, g in D.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, atol=1e-15)


def test_float32_stays_float32():
    D = conv_critic()
    x = np.random.default_rng(0).standard_normal((2, 1, 10, 10)).astype(np.float32)
    p = gradient_penalty(D, x)
    assert p.dtype == np.float32 and all(g.dtype == np.float32 for g in D.grads.values())


@pytest.mark.parametrize("layer, word", [(BatchNorm(4), "BatchNorm"),
                                         (ConvTranspose2D(4, 4, 3, padding=1), "ConvTranspose2D")])  # fmt: skip
def test_unsupported_layer_is_named(layer, word):
    D = Sequential(Conv2D(1, 4, 3, padding=1), layer, Flatten(), Dense(4 * 6 * 6, 1))
    with pytest.raises(ValueError, match=f"layer 1 of the critic, {word}"):
        gradient_penalty(D, np.zeros((2, 1, 6, 6), np.float32))


def test_wgan_gp_training_adds_the_penalty_and_stays_finite():
    from minigan.gan import GAN
    from minigan.models import dcgan, toy

    G, D = toy(seed=0)
    gan = GAN(G, D, latent_dim=2, objective="wgan-gp", lr=1e-4, beta1=0.5, beta2=0.9, d_steps=5, seed=0)
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    for _ in range(10):
        stats = gan.train_step(x)
    assert np.isfinite(list(stats.values())).all()
    assert gan.opt_G.t == 2 and gan.opt_D.t == 10  # 5 critic steps per generator step
    G, D = dcgan(16, seed=0)
    gan = GAN(G, D, latent_dim=16, objective="wgan-gp", d_steps=1, seed=0)
    img = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    stats = gan.train_step(img)
    assert np.isfinite(list(stats.values())).all()
    assert all(p.dtype == np.float32 for p in D.params.values())


def test_wgan_gp_refuses_a_batchnorm_critic_and_the_simultaneous_schedule():
    from minigan.gan import GAN
    from minigan.models import dcgan

    G, D = dcgan(8, seed=0)
    with pytest.raises(ValueError, match="alternating"):
        GAN(G, D, latent_dim=8, objective="wgan-gp", schedule="simultaneous")
    critic = Sequential(Dense(2, 4), BatchNorm(4), Dense(4, 1))
    gan = GAN(Sequential(Dense(2, 2)), critic, latent_dim=2, objective="wgan-gp")
    with pytest.raises(ValueError, match="BatchNorm"):
        gan.train_step(np.zeros((4, 2), np.float32))
