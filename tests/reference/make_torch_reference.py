"""Write torch_layers.npz: what PyTorch computes for each minigan layer, in float64.

    python tests/reference/make_torch_reference.py      (needs PyTorch; the tests do not)

Every input, weight and upstream gradient is drawn with NumPy from one fixed seed
and saved next to PyTorch's outputs, input gradients, parameter gradients and
BatchNorm running statistics, so ``tests/test_torch_reference.py`` can rebuild each
layer in minigan from the same numbers and compare, without importing PyTorch.

Layouts: minigan's Dense stores W as (in, out), PyTorch's Linear as (out, in), so
the file holds Linear.weight.T. Conv2d (C_out, C_in, k, k) and ConvTranspose2d
(C_in, C_out, k, k) are stored as they are; minigan uses the same layouts.
Keys are "<case>.<name>", e.g. "dense.x", "conv_s2p1.dW", "bn2d.step2.running_var".
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240607
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_layers.npz")

rng = np.random.default_rng(SEED)
data = {}


def normal(*shape):
    return rng.standard_normal(shape)


def away_from_zero(*shape):
    """Standard normal values pushed at least 0.1 away from 0 (no entry on a ReLU kink)."""
    x = normal(*shape)
    return x + 0.1 * np.sign(x)


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def save(case, **arrays):
    for name, a in arrays.items():
        data[f"{case}.{name}"] = a.detach().numpy().copy() if isinstance(a, torch.Tensor) else np.asarray(a)


def run(case, fn, x, dout, **params):
    """y = fn(x, **params); backpropagate dout; save inputs, output and every gradient."""
    tx, tp = t(x), {k: t(v) for k, v in params.items()}
    y = fn(tx, **tp)
    y.backward(torch.tensor(dout))
    save(case, x=x, dout=dout, y=y, dx=tx.grad, **params, **{f"d{k}": v.grad for k, v in tp.items()})


# ---- Dense = Linear with W transposed ------------------------------------------
W = normal(5, 4)  # minigan layout (in, out)
run("dense", lambda x, W, b: F.linear(x, W.T, b), normal(3, 5), normal(3, 4), W=W, b=normal(4))

# ---- Conv2d: non-square input, (stride, padding) = (1, 0) and (2, 1) ------------
for case, (stride, padding) in {"conv_s1p0": (1, 0), "conv_s2p1": (2, 1)}.items():
    x, W, b = normal(2, 2, 7, 6), normal(3, 2, 3, 3), normal(3)
    y_shape = F.conv2d(torch.tensor(x), torch.tensor(W), stride=stride, padding=padding).shape
    run(case, lambda x, W, b, s=stride, p=padding: F.conv2d(x, W, b, stride=s, padding=p),
        x, normal(*y_shape), W=W, b=b)  # fmt: skip
    save(case, stride=stride, padding=padding)

# ---- ConvTranspose2d: the DCGAN's k 5, stride 2, padding 2, output_padding 1 ----
x, W, b = normal(2, 3, 4, 3), normal(3, 2, 5, 5), normal(2)  # W: (C_in, C_out, k, k)
y_shape = (2, 2, 8, 6)  # (H - 1)*2 - 2*2 + 5 + 1
run("convT", lambda x, W, b: F.conv_transpose2d(x, W, b, stride=2, padding=2, output_padding=1),
    x, normal(*y_shape), W=W, b=b)  # fmt: skip
save("convT", stride=2, padding=2, output_padding=1)

# ---- activations ------------------------------------------------------------
x = away_from_zero(4, 5)
for case, fn in {
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}.items():
    run(case, fn, x, normal(4, 5))

# ---- BatchNorm1d / 2d: three training steps, then one in eval mode ----------------
for case, shape, Module in (("bn1d", (6, 4), torch.nn.BatchNorm1d), ("bn2d", (4, 3, 3, 2), torch.nn.BatchNorm2d)):
    C = shape[1]
    bn = Module(C, momentum=0.1, eps=1e-5).double()
    gamma, beta = 1 + 0.5 * normal(C), normal(C)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    save(case, gamma=gamma, beta=beta)
    for step, mode in enumerate(["train", "train", "train", "eval"]):
        bn.train(mode == "train")
        bn.zero_grad()
        x, dout = 2 * normal(*shape) + normal(1, C, *shape[2:]), normal(*shape)  # a shifted, scaled batch
        tx = t(x)
        y = bn(tx)
        y.backward(torch.tensor(dout))
        save(f"{case}.step{step}", x=x, dout=dout, y=y, dx=tx.grad, dgamma=bn.weight.grad, dbeta=bn.bias.grad,
             running_mean=bn.running_mean, running_var=bn.running_var)  # fmt: skip

np.savez_compressed(OUT, **data)
print(f"wrote {len(data)} arrays to {OUT} ({os.path.getsize(OUT) / 1024:.1f} KiB), torch {torch.__version__}")
