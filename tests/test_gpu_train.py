"""The same training step on CuPy as on NumPy (runs only where a CUDA GPU is available)."""

import copy

import numpy as np
import pytest

from minigan.backend import gpu_available, to_numpy
from minigan.gan import GAN
from minigan.layers import Dropout
from minigan.models import dcgan, mlp_gan

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not gpu_available(), reason="CuPy or a CUDA GPU is not available"),
]


def no_dropout(net):
    for layer in net.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0  # masks are drawn on each device's own generator: switch them off to compare
    return net


@pytest.mark.parametrize("build", [lambda: mlp_gan(latent_dim=16, hidden=64, seed=0), lambda: dcgan(16, seed=0)])
def test_first_step_agrees_with_cpu(build):
    G, D = build()
    no_dropout(D)
    cpu = GAN(G, D, latent_dim=16, seed=0)
    gpu = GAN(copy.deepcopy(G), copy.deepcopy(D), latent_dim=16, seed=0).to("gpu")
    x = np.random.default_rng(0).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    import cupy

    s_cpu = cpu.train_step(x)
    s_gpu = gpu.train_step(cupy.asarray(x))
    for k in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert s_gpu[k] == pytest.approx(s_cpu[k], rel=1e-4, abs=1e-5), k
    for net_c, net_g in ((cpu.G, gpu.G), (cpu.D, gpu.D)):
        for k, p in net_c.params.items():
            assert isinstance(net_g.params[k], cupy.ndarray)
            np.testing.assert_allclose(to_numpy(net_g.params[k]), p, rtol=1e-4, atol=1e-5, err_msg=k)


def test_a_few_gpu_steps_stay_finite_and_on_the_gpu():
    import cupy

    G, D = dcgan(16, seed=0)
    gan = GAN(G, D, latent_dim=16, seed=0).to("gpu")
    x = cupy.asarray(np.random.default_rng(0).uniform(-1, 1, (16, 1, 28, 28)).astype(np.float32))
    for _ in range(3):
        stats = gan.train_step(x)
        assert all(np.isfinite(v) for v in stats.values())
    assert all(isinstance(p, cupy.ndarray) and p.dtype == np.float32 for p in G.params.values())
