"""What one training step asks of the device, counted by the strict CuPy stand-in:
at most ONE device-to-host wait a step (the statistics, copied together), none in
the layers, at most one host-to-device copy a step (the noise) plus one an epoch
(the data order), and a launch budget for the DCGAN step. Counts, never times."""

import numpy as np
import pytest

from minigan.cgan import ConditionalGAN
from minigan.gan import GAN
from minigan.losses import OBJECTIVES, get_objective
from minigan.models import conditional_dcgan, conditional_mlp_gan, dcgan, mlp_gan

pytestmark = pytest.mark.gpu
DCGAN_LAUNCH_BUDGET = 300
# The two networks' passes and the losses of one step, without the optimizers and the
# gradient bookkeeping: 188 launches for the DCGAN at batch 64 and 111 for the MLP on
# the stand-in (518 and 181 before the fused chains and the one-sum row2im).
DCGAN_PASSES_BUDGET = 200
MLP_PASSES_BUDGET = 120
# The conditional DCGAN's whole step at batch 64: 318 launches on the stand-in, the DCGAN's
# 251 plus the label plane, the projection term and the conditional BatchNorms' one-hot products.
CDCGAN_LAUNCH_BUDGET = 340


def gpu_gan(build, latent_dim=16, **kw):
    G, D = build()
    return GAN(G, D, latent_dim=latent_dim, seed=0, **kw).to("gpu")


def images(n, seed=0):
    import cupy

    return cupy.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32))


def mlp():
    return mlp_gan(latent_dim=16, hidden=32, seed=0)


def small_dcgan():
    return dcgan(16, seed=0)


def step_counts(gan, x, ledger, steps=3):
    gan.train_step(x)  # the first step makes the optimizers' state: not a steady step
    before = {k: ledger.total(k) for k in ("syncs", "h2d", "launches")}
    syncs_before = ledger.by_file("syncs")
    for _ in range(steps):
        gan.train_step(x)
    per_step = {k: (ledger.total(k) - before[k]) / steps for k in before}
    in_layers = {f: n - syncs_before.get(f, 0) for f, n in ledger.by_file("syncs").items() if "minigan/layers/" in f}
    return per_step, {f: n for f, n in in_layers.items() if n}


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_one_wait_and_one_copy_a_step_for_every_objective(objective, ledger):
    gan = gpu_gan(mlp, objective=objective, d_steps=1)
    per_step, in_layers = step_counts(gan, images(8), ledger)
    assert per_step["syncs"] == 1, ledger.report("syncs")
    assert per_step["h2d"] <= 1, ledger.report("h2d")
    assert in_layers == {}


@pytest.mark.parametrize("kw", [{"schedule": "simultaneous"}, {"d_steps": 2}])
def test_one_wait_a_step_for_the_other_schedules(kw, ledger):
    per_step, in_layers = step_counts(gpu_gan(mlp, **kw), images(8), ledger, steps=4)
    assert per_step["syncs"] == 1 and per_step["h2d"] <= 1 and in_layers == {}, ledger.report("syncs")


def test_the_dcgan_step_waits_once_and_never_in_the_layers(ledger):
    per_step, in_layers = step_counts(gpu_gan(small_dcgan), images(16), ledger)
    assert per_step["syncs"] == 1, ledger.report("syncs")
    assert per_step["h2d"] <= 1, ledger.report("h2d")
    assert in_layers == {}


def test_fit_copies_the_data_order_once_an_epoch(ledger):
    gan, x = gpu_gan(mlp), images(32)
    syncs, h2d = ledger.total("syncs"), ledger.total("h2d")
    gan.fit(x, epochs=2, batch_size=8, progress=False)  # 2 epochs of 4 steps
    assert ledger.total("syncs") - syncs == 8, ledger.report("syncs")
    assert ledger.total("h2d") - h2d == 8 + 2, ledger.report("h2d")  # the noise a step, the order an epoch


def test_the_dcgan_step_fits_the_launch_budget(ledger):
    """A whole DCGAN step at batch 64: 251 launches on the stand-in (740 before the flat
    Adam, the fused chains and the one-sum row2im)."""
    gan = gpu_gan(lambda: dcgan(128, seed=0), latent_dim=128)
    per_step, _ = step_counts(gan, images(64), ledger, steps=1)
    assert per_step["launches"] <= DCGAN_LAUNCH_BUDGET, ledger.report("launches", top=40)


def network_passes(G, D, objective, z, real):
    """The networks' work of one step (gan.GAN's two passes without the optimizers,
    zero_grad and the gradient norms): G forward, D forward and backward on real and
    fake, the losses, D's input gradient and G backward."""
    import cupy

    fake = G.forward(z)
    logits = D.forward(cupy.concatenate([real, fake]))
    h = len(logits) // 2
    _, dl_real, dl_fake = objective.d_loss(logits[:h], logits[h:])
    D.backward(cupy.concatenate([dl_real, dl_fake]), input_grad=False)
    _, dl = objective.g_loss(D.forward(fake))
    G.backward(D.backward(dl, param_grads=False), input_grad=False)


@pytest.mark.parametrize(("build", "latent", "budget"), [
    (lambda: dcgan(128, seed=0), 128, DCGAN_PASSES_BUDGET),
    (lambda: mlp_gan(100, seed=0), 100, MLP_PASSES_BUDGET),
], ids=["dcgan", "mlp"])  # fmt: skip
def test_the_networks_passes_fit_their_launch_budget(build, latent, budget, ledger):
    """Everything of a step at batch 64 but the optimizer's side: row2im as one strided sum
    and the elementwise chains as fused kernels keep it under budget."""
    import cupy

    G, D = (net.to("gpu") for net in build())
    z = cupy.asarray(np.random.default_rng(1).standard_normal((64, latent)).astype(np.float32))
    real, objective = images(64), get_objective("non-saturating")
    network_passes(G, D, objective, z, real)  # the first pass makes the kept buffers
    before = ledger.total("launches")
    network_passes(G, D, objective, z, real)
    assert ledger.total("launches") - before <= budget, ledger.report("launches", top=40)


def step_counts_labelled(gan, x, y, ledger, steps=3):
    """step_counts for a conditional GAN: train_step(x, y)."""
    gan.train_step(x, y)
    before = {k: ledger.total(k) for k in ("syncs", "h2d", "launches")}
    syncs_before = ledger.by_file("syncs")
    for _ in range(steps):
        gan.train_step(x, y)
    per_step = {k: (ledger.total(k) - before[k]) / steps for k in before}
    in_layers = {f: n - syncs_before.get(f, 0) for f, n in ledger.by_file("syncs").items() if "minigan/layers/" in f}
    return per_step, {f: n for f, n in in_layers.items() if n}


@pytest.mark.parametrize(("build", "latent"), [
    (lambda: conditional_dcgan(latent_dim=16, seed=0), 16),
    (lambda: conditional_mlp_gan(latent_dim=16, hidden=32, seed=0), 16),
], ids=["cdcgan", "cmlp"])  # fmt: skip
def test_a_conditional_step_waits_once_and_never_in_the_layers(build, latent, ledger):
    """The labels stay on the device: no range check in the layers (Embedding's was a wait
    every pass). Two host-to-device copies a step: the noise, and the fakes' labels."""
    import cupy

    G, D = build()
    gan = ConditionalGAN(G, D, latent_dim=latent, seed=0).to("gpu")
    y = cupy.asarray(np.arange(16) % 10)
    per_step, in_layers = step_counts_labelled(gan, images(16), y, ledger)
    assert per_step["syncs"] == 1, ledger.report("syncs")
    assert per_step["h2d"] <= 2, ledger.report("h2d")  # the noise and the fakes' labels
    assert in_layers == {}


def test_the_conditional_dcgan_step_fits_its_launch_budget(ledger):
    import cupy

    G, D = conditional_dcgan(seed=0)
    gan = ConditionalGAN(G, D, latent_dim=128, seed=0).to("gpu")
    y = cupy.asarray(np.arange(64) % 10)
    per_step, _ = step_counts_labelled(gan, images(64), y, ledger, steps=1)
    assert per_step["launches"] <= CDCGAN_LAUNCH_BUDGET, ledger.report("launches", top=40)
