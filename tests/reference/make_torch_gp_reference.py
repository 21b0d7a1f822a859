"""Write torch_gp.npz: the WGAN-GP gradient penalty and its weight gradients by double backprop.

    python tests/reference/make_torch_gp_reference.py      (needs PyTorch; the tests do not)

For a dense and a convolutional critic (float64, weights drawn with NumPy from a
fixed seed, minigan's layouts: Dense W is (in, out) = Linear.weight.T), PyTorch
computes g = dD(x_hat)/dx_hat with create_graph=True, the penalty
10 * mean((||g_n|| - 1)^2), and its gradient with respect to every weight. The
points x_hat = alpha * real + (1 - alpha) * fake use one alpha per sample.
Keys: "<critic>.<name>", e.g. "mlp.x_hat", "mlp.penalty", "conv.d3.W".
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 7
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_gp.npz")
rng = np.random.default_rng(SEED)
data = {}


def glorot(*shape, fan):
    return rng.uniform(-1, 1, shape) * np.sqrt(6.0 / fan)


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def penalty(critic, params, real, fake, alpha, name):
    a = alpha.reshape((-1,) + (1,) * (real.ndim - 1))
    x_hat = t(a * real + (1 - a) * fake)
    tp = {k: t(v) for k, v in params.items()}
    s = critic(x_hat, tp)
    (g,) = torch.autograd.grad(s.sum(), x_hat, create_graph=True)
    p = 10.0 * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    p.backward()
    data[f"{name}.x_hat"] = x_hat.detach().numpy()
    data[f"{name}.alpha"] = alpha
    data[f"{name}.penalty"] = np.array(p.item())
    data[f"{name}.grad_x"] = g.detach().numpy()
    for k, v in params.items():
        data[f"{name}.{k}"] = v
        grad = tp[k].grad  # None where the penalty does not depend on it (the last bias)
        data[f"{name}.d{k}"] = np.zeros_like(v) if grad is None else grad.numpy()


# ---- a dense critic: Dense LeakyReLU Dense Tanh Dense Sigmoid Dense ---------------
mlp = {"0.W": glorot(4, 8, fan=12), "0.b": rng.normal(0, 0.1, 8), "2.W": glorot(8, 8, fan=16),
       "2.b": rng.normal(0, 0.1, 8), "4.W": glorot(8, 6, fan=14), "4.b": rng.normal(0, 0.1, 6),
       "6.W": glorot(6, 1, fan=7), "6.b": rng.normal(0, 0.1, 1)}  # fmt: skip


def mlp_critic(x, p):
    h = F.leaky_relu(x @ p["0.W"] + p["0.b"], 0.2)
    h = torch.tanh(h @ p["2.W"] + p["2.b"])
    h = torch.sigmoid(h @ p["4.W"] + p["4.b"])
    return h @ p["6.W"] + p["6.b"]


penalty(mlp_critic, mlp, rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.uniform(size=6), "mlp")

# ---- a convolutional critic: the DCGAN critic's shape, small ------------------------
conv = {"0.W": glorot(4, 1, 5, 5, fan=125), "0.b": rng.normal(0, 0.1, 4), "2.W": glorot(6, 4, 5, 5, fan=250),
        "2.b": rng.normal(0, 0.1, 6), "5.W": glorot(6 * 3 * 3, 1, fan=55), "5.b": rng.normal(0, 0.1, 1)}  # fmt: skip


def conv_critic(x, p):
    h = F.leaky_relu(F.conv2d(x, p["0.W"], p["0.b"], stride=2, padding=2), 0.2)
    h = F.leaky_relu(F.conv2d(h, p["2.W"], p["2.b"], stride=2, padding=2), 0.2)
    return h.flatten(1) @ p["5.W"] + p["5.b"]


penalty(conv_critic, conv, rng.normal(size=(5, 1, 10, 10)), rng.normal(size=(5, 1, 10, 10)),
        rng.uniform(size=5), "conv")  # fmt: skip

np.savez_compressed(OUT, **data)
print(f"wrote {OUT}: {len(data)} arrays")
