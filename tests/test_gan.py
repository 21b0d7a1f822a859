"""The alternating game: who changes in which pass, and the gradient through a frozen D."""

import copy

import numpy as np
import pytest

from minigan.gan import GAN, TrainingDiverged
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.layers import Dense, LeakyReLU, Reshape, Sequential, Tanh
from minigan.losses import WGANGP, NonSaturating, get_objective
from minigan.models import dcgan, mlp_gan, toy


def tiny_gan(objective="non-saturating", dtype=np.float32, lr=1e-2, **kw):
    rng = np.random.default_rng(0)
    G = Sequential(Dense(3, 5, rng=rng), LeakyReLU(0.2), Dense(5, 4, rng=rng), Tanh())
    D = Sequential(Dense(4, 6, rng=rng), LeakyReLU(0.2), Dense(6, 1, rng=rng))
    return GAN(G.astype(dtype), D.astype(dtype), latent_dim=3, objective=objective, lr=lr, seed=0, **kw)


def snapshot(net):
    return {k: v.copy() for k, v in net.params.items()}


def changed(before, net):
    return {k for k, v in net.params.items() if not np.array_equal(before[k], v)}


def real_batch(n=8, dim=4, dtype=np.float32):
    return np.random.default_rng(1).uniform(-1, 1, (n, dim)).astype(dtype)


def test_pass1_changes_d_only():
    gan = tiny_gan()
    g0, d0 = snapshot(gan.G), snapshot(gan.D)
    gan.discriminator_pass(real_batch())
    assert changed(g0, gan.G) == set()
    assert changed(d0, gan.D) == set(gan.D.params)


def test_pass2_changes_g_only_and_computes_no_d_weight_gradients():
    gan = tiny_gan()
    _, fake = gan.discriminator_pass(real_batch())
    g0, d0 = snapshot(gan.G), snapshot(gan.D)
    d_grads = {k: v.copy() for k, v in gan.D.grads.items()}
    gan.generator_pass(fake)
    assert changed(d0, gan.D) == set()
    assert changed(g0, gan.G) == set(gan.G.params)
    for k, g in gan.D.grads.items():  # pass 2 ran D.backward with param_grads=False
        np.testing.assert_array_equal(g, d_grads[k])


@pytest.mark.parametrize("objective", ["minimax", "non-saturating", "lsgan", "wgan", "hinge"])
def test_generator_gradient_through_d_matches_finite_differences(objective):
    """G's gradient, passed back THROUGH D, is d g_loss(D(G(z))) / d G's weights (float64)."""
    gan = tiny_gan(objective, dtype=np.float64, lr=0.0)  # lr 0: the step leaves the weights as they are
    z = gan.noise(6).astype(np.float64)
    obj = get_objective(objective)

    def g_loss():
        return float(obj.g_loss(copy.deepcopy(gan.D).forward(copy.deepcopy(gan.G).forward(z)))[0])

    fake = gan.G.forward(z)
    gan.generator_pass(fake)
    for key, p in gan.G.params.items():
        assert rel_error(gan.G.grads[key], numerical_gradient(g_loss, p)) < 1e-6, key


def test_discriminator_gradient_matches_finite_differences():
    gan = tiny_gan(dtype=np.float64, lr=0.0)
    real = real_batch(dtype=np.float64)
    noise_state = copy.deepcopy(gan.noise_rng.bit_generator.state)
    gan.discriminator_pass(real)
    gan.noise_rng.bit_generator.state = noise_state
    fake = gan.G.forward(gan.noise(len(real)).astype(np.float64))

    def d_loss():
        logits = copy.deepcopy(gan.D).forward(np.concatenate([real, fake]))
        return float(gan.objective.d_loss(logits[: len(real)], logits[len(real) :])[0])

    for key, p in gan.D.params.items():
        assert rel_error(gan.D.grads[key], numerical_gradient(d_loss, p)) < 1e-6, key


def test_d_steps_updates_g_every_kth_step():
    gan = tiny_gan(d_steps=3)
    g0 = snapshot(gan.G)
    gan.train_step(real_batch())
    gan.train_step(real_batch())
    assert changed(g0, gan.G) == set()
    gan.train_step(real_batch())
    assert changed(g0, gan.G) == set(gan.G.params)


def test_simultaneous_uses_one_forward_for_both_players():
    """With lr 0 for G... compare against the alternating schedule: both G gradients come
    from the same D, so at the very first step they must agree, but D then differs."""
    a, s = tiny_gan(lr=0.0), tiny_gan(lr=0.0, schedule="simultaneous")
    a.train_step(real_batch())
    s.train_step(real_batch())
    # with lr 0 D does not move, so the alternating G gradient equals the simultaneous one
    for k in a.G.grads:
        np.testing.assert_allclose(a.G.grads[k], s.G.grads[k], rtol=1e-5, atol=1e-7)
    g0, d0 = snapshot(tiny_gan().G), snapshot(tiny_gan().D)
    s2 = tiny_gan(schedule="simultaneous")
    s2.train_step(real_batch())
    assert changed(g0, s2.G) == set(s2.G.params) and changed(d0, s2.D) == set(s2.D.params)


def test_same_seed_same_numbers():
    def run():
        G, D = mlp_gan(latent_dim=8, hidden=16, seed=3)
        gan = GAN(G, D, latent_dim=8, seed=5)
        x = np.random.default_rng(0).uniform(-1, 1, (64, 1, 28, 28)).astype(np.float32)
        gan.fit(x, epochs=2, batch_size=16, progress=False)
        return gan.history, G.params

    h1, p1 = run()
    h2, p2 = run()
    assert h1 == h2
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_float32_step_never_upcasts():
    G, D = dcgan(latent_dim=16, seed=0)
    gan = GAN(G, D, latent_dim=16, seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    gan.train_step(x)
    gan.train_step(x)
    for net in (G, D):
        for d in (net.params, net.grads, net.get_buffers()):
            assert all(v.dtype == np.float32 for v in d.values())
    for opt in (gan.opt_G, gan.opt_D):
        assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if k != "t")
    assert gan.sample(4).dtype == np.float32


def test_nan_loss_stops_training():
    """The guard reads the step's one copy of its statistics, so it names the loss and
    the step; that step has been applied (a device is not waited for mid-step)."""
    gan = tiny_gan()
    bad = real_batch()
    bad[0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match="d_loss became nan at step 1"):
        gan.train_step(bad)


def test_wgan_clips_the_critic():
    gan = tiny_gan("wgan", lr=0.5)
    gan.train_step(real_batch())
    assert max(float(np.abs(p).max()) for p in gan.D.params.values()) <= 0.01 + 1e-7


def test_an_objective_object_brings_its_own_settings():
    """GAN takes an objective object as well as a name: the penalty weight given to
    WGANGP is the one the critic step uses (its loss differs from lambda = 10's)."""
    weak, strong = tiny_gan(WGANGP(weight=0.1), lr=0.0), tiny_gan("wgan-gp", lr=0.0)
    assert weak.objective.weight == 0.1 and strong.objective.weight == 10.0
    d_weak, d_strong = weak.train_step(real_batch())["d_loss"], strong.train_step(real_batch())["d_loss"]
    assert d_weak != d_strong
    with pytest.raises(ValueError, match="label_smoothing"):
        tiny_gan(NonSaturating(0.1), label_smoothing=0.1)
    assert tiny_gan(NonSaturating(0.1)).objective.label_smoothing == 0.1


def test_sampling_leaves_batchnorm_statistics_alone():
    G, D = dcgan(latent_dim=8, seed=0)
    gan = GAN(G, D, latent_dim=8, seed=0)
    before = {k: v.copy() for k, v in G.get_buffers().items()}
    gan.sample(4)
    for k, v in G.get_buffers().items():
        np.testing.assert_array_equal(v, before[k])
    assert G.training


def test_toy_model_learns_to_move_towards_the_data():
    G, D = toy(seed=0)
    gan = GAN(G, D, latent_dim=2, lr=1e-3, seed=0)
    x = (np.random.default_rng(0).standard_normal((2048, 2)) * 0.05 + [3.0, -2.0]).astype(np.float32)
    gan.fit(x, epochs=15, batch_size=128, progress=False)
    mean = gan.sample(z=gan.noise(512)).mean(axis=0)
    assert np.linalg.norm(mean - [3.0, -2.0]) < 1.0, mean


def test_bad_arguments():
    G, D = toy()
    with pytest.raises(ValueError, match="schedule"):
        GAN(G, D, 2, schedule="random")
    with pytest.raises(ValueError, match="d_steps"):
        GAN(G, D, 2, d_steps=0)
    with pytest.raises(ValueError, match="objective|unknown"):
        GAN(G, D, 2, objective="nope")
    with pytest.raises(ValueError, match="objective"):
        GAN(G, D, 2, objective=None)
    gan = GAN(G, D, 2)
    with pytest.raises(ValueError, match="batch size"):
        gan.fit(np.zeros((10, 2), np.float32), epochs=1, batch_size=11, progress=False)


def test_reshape_generator_output():
    G = Sequential(Dense(2, 4), Reshape((1, 2, 2)))
    assert G.forward(np.zeros((3, 2), np.float32)).shape == (3, 1, 2, 2)
