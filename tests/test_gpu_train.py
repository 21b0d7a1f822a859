"""The same training on CuPy as on NumPy, compared after 10 steps: one Adam step moves
each weight by about lr * sign(g), so agreement after one step checks only the
gradients' signs; after ten, the moments carry the gradients' sizes too.
(On the strict CuPy stand-in where no GPU is; on a GPU with benchmarks/gpu_check.py.)"""

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
STEPS = 10
TOL = 1e-3  # float32 arithmetic in another order, over 10 steps: relative error of each array


def no_dropout(net):
    for layer in net.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0  # masks are drawn on each device's own generator: switch them off to compare
    return net


def rel_error(gpu_array, cpu_array):
    """||a - b|| / ||b|| over a whole array (0 when both are 0)."""
    a, b = to_numpy(gpu_array).astype(np.float64), np.asarray(cpu_array, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


BUILDS = {"mlp": lambda: mlp_gan(latent_dim=16, hidden=64, seed=0), "dcgan": lambda: dcgan(16, seed=0)}


@pytest.mark.parametrize(("model", "objective"), [("mlp", "non-saturating"), ("mlp", "wgan-gp"),
                                                  ("dcgan", "non-saturating")])  # fmt: skip
def test_ten_steps_agree_with_cpu(model, objective):
    import cupy

    G, D = BUILDS[model]()
    no_dropout(D)
    cpu = GAN(G, D, latent_dim=16, seed=0, objective=objective, d_steps=1)
    gpu = GAN(copy.deepcopy(G), copy.deepcopy(D), latent_dim=16, seed=0, objective=objective, d_steps=1).to("gpu")
    data = np.random.default_rng(0).uniform(-1, 1, (STEPS * 8, 1, 28, 28)).astype(np.float32)
    for i in range(STEPS):
        x = data[i * 8 : (i + 1) * 8]
        s_cpu, s_gpu = cpu.train_step(x), gpu.train_step(cupy.asarray(x))
        for k in ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
            assert s_gpu[k] == pytest.approx(s_cpu[k], rel=TOL, abs=1e-5), f"step {i + 1}: {k}"
    for net_c, net_g in ((cpu.G, gpu.G), (cpu.D, gpu.D)):
        for k, p in net_c.params.items():
            assert isinstance(net_g.params[k], cupy.ndarray)
            assert rel_error(net_g.params[k], p) <= TOL, k
        for k, b in net_c.get_buffers().items():  # BatchNorm's running statistics
            assert rel_error(net_g.get_buffers()[k], b) <= TOL, k
    assert rel_error(gpu.sample(8), cpu.sample(8)) <= TOL  # as a whole: one pixel may differ more after Adam


def test_a_few_gpu_steps_with_dropout_stay_finite_and_on_the_gpu():
    import cupy

    G, D = dcgan(16, seed=0)
    gan = GAN(G, D, latent_dim=16, seed=0).to("gpu")
    x = cupy.asarray(np.random.default_rng(0).uniform(-1, 1, (16, 1, 28, 28)).astype(np.float32))
    for _ in range(3):
        stats = gan.train_step(x)
        assert all(np.isfinite(v) for v in stats.values())
    assert all(isinstance(p, cupy.ndarray) and p.dtype == np.float32 for p in G.params.values())
