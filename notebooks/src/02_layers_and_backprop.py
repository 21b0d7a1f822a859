# %% [markdown]
# # 2. Layers and backpropagation, by hand
#
# minigan has no automatic differentiation. Every layer is a class with two methods side by side:
#
# * `forward(x)` computes the output $y$ and **keeps** what the backward pass will need;
# * `backward(dout)` receives $\frac{\partial L}{\partial y}$ (called `dout`, the same shape as $y$) and returns
#   $\frac{\partial L}{\partial x}$ (called `dx`, the same shape as $x$). A layer with parameters also **adds**
#   $\frac{\partial L}{\partial W}$ to `layer.grads["W"]`.
#
# $L$ is whatever scalar sits at the end of the network (a loss). A network is a chain of layers, so its
# backward pass is the chain rule read from right to left: each layer turns the gradient of its output into the
# gradient of its input and hands it on. In this notebook you derive and write the backward passes of `Dense`
# and of the activations yourself; a checker grades each one.
#
# *About 30 minutes.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from minigan.exercises import check
from minigan.layers import Dense, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## Dense: $y = xW + b$
#
# | array | shape | meaning |
# |---|---|---|
# | `x` | $(N, \text{in})$ | a batch of $N$ examples |
# | `W` | $(\text{in}, \text{out})$ | weights |
# | `b` | $(\text{out},)$ | bias, added to every example |
# | `y`, `dout` | $(N, \text{out})$ | output and its gradient |
#
# Write one entry out: $y_{nj} = \sum_i x_{ni} W_{ij} + b_j$. Then, by the chain rule,
#
# $$\frac{\partial L}{\partial x_{ni}} = \sum_j \frac{\partial L}{\partial y_{nj}} W_{ij}
#   \;\Rightarrow\; dx = dout\, W^\top, \qquad
#   \frac{\partial L}{\partial W_{ij}} = \sum_n x_{ni} \frac{\partial L}{\partial y_{nj}}
#   \;\Rightarrow\; dW = x^\top dout, \qquad
#   db = \sum_n dout_{n}.$$
#
# A shortcut worth remembering: **the shapes tell you the formula.** `dW` must be (in, out); the only product of
# `x` (N, in) and `dout` (N, out) with that shape is `x.T @ dout`. The sum over $n$ in `dW` and `db` says that
# every example adds its own gradient to the one shared parameter.
#
# Here is the layer at work. `forward` keeps `x`; `backward` returns `dx` and fills `grads`:

# %%
layer = Dense(3, 2)
x = rng.standard_normal((4, 3)).astype(np.float32)
y = layer.forward(x)
dout = rng.standard_normal(y.shape).astype(np.float32)  # pretend this came from the layers above
dx = layer.backward(dout)

print("x", x.shape, "-> y", y.shape)
print("dout", dout.shape, "-> dx", dx.shape, "  dW", layer.grads["W"].shape, "  db", layer.grads["b"].shape)
print("kept for backward:", layer.x is x)

# %% [markdown]
# ### Exercise 1: Dense backward
#
# Write `dense_backward(dout, x, W)` returning `(dx, dW, db)`. Replace `raise NotImplementedError` with your
# code and run the cell; the checker tries your function on random inputs and compares it with central
# differences of the forward pass (notebook 3 explains them), so it needs no answer to grade you.

# %%
def dense_backward(dout, x, W):
    """y = x @ W + b.   dout: (N, out)   x: (N, in)   W: (in, out).

    Returns (dx, dW, db) with the shapes of x, W and b.
    """
    # YOUR CODE HERE (three lines)
    raise NotImplementedError


check("dense_backward", dense_backward)

# %% [markdown]
# ## Activations
#
# An activation is applied to every entry on its own, $y = f(x)$, so its backward is a product entry by entry:
# $dx = dout \odot f'(x)$.
#
# | layer | $f(x)$ | $f'(x)$ | keeps |
# |---|---|---|---|
# | ReLU | $\max(x, 0)$ | $1$ if $x > 0$ else $0$ | the mask $x > 0$ |
# | LeakyReLU | $x$ if $x > 0$ else $\alpha x$ | $1$ if $x > 0$ else $\alpha$ | the slope $s = f'(x)$, so $y = s\,x$ |
# | Sigmoid | $\sigma(x) = 1/(1 + e^{-x})$ | $\sigma(x)(1 - \sigma(x)) = y(1 - y)$ | the output $y$ |
# | Tanh | $\tanh x$ | $1 - \tanh^2 x = 1 - y^2$ | the output $y$ |
#
# Sigmoid and Tanh keep their **output**: their derivative is cheapest written in terms of $y$.
#
# Because the backward of an elementwise layer multiplies by $f'(x)$, calling `backward` with an upstream
# gradient of ones gives $f'(x)$ itself. That draws the derivatives for us:

# %%
xs = np.linspace(-4, 4, 401)[:, None]  # (401, 1)
fig, axes = plt.subplots(1, 4, figsize=(14, 3))
for ax, act in zip(axes, [ReLU(), LeakyReLU(0.2), Sigmoid(), Tanh()]):
    ys = act.forward(xs)
    slope = act.backward(np.ones_like(ys))  # dout = 1 -> dx = f'(x)
    ax.plot(xs, ys, label="f(x)")
    ax.plot(xs, slope, label="f'(x) = backward(ones)", linestyle="--")
    ax.set_title(repr(act))
    ax.grid(alpha=0.3)
axes[0].legend(loc="upper left", fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# Look at the dashed lines. ReLU passes **no** gradient for negative inputs (a unit stuck there is "dead");
# LeakyReLU always passes at least $\alpha$, which is why GAN discriminators use it. Sigmoid's slope is at most
# $\tfrac14$ and vanishes for large $|x|$: a saturated sigmoid stops learning.
#
# ### Exercises 2-4: activation backward passes

# %%
def sigmoid_backward(dout, y):
    """y = sigmoid(x), kept by forward.   dout, y: the same shape.   Returns dx."""
    # YOUR CODE HERE (one line)
    raise NotImplementedError


check("sigmoid_backward", sigmoid_backward)

# %%
def tanh_backward(dout, y):
    """y = tanh(x), kept by forward.   dout, y: the same shape.   Returns dx."""
    # YOUR CODE HERE (one line)
    raise NotImplementedError


check("tanh_backward", tanh_backward)

# %%
def leaky_relu_backward(dout, x, alpha):
    """y = x if x > 0 else alpha * x.   dout, x: the same shape; alpha: a float.   Returns dx."""
    # YOUR CODE HERE (one line; np.where helps)
    raise NotImplementedError


check("leaky_relu_backward", leaky_relu_backward)

# %% [markdown]
# ## A network: forward in order, backward in reverse
#
# `Sequential` chains layers. Its `backward` is a loop over the layers in reverse, each handing its `dx` to the
# layer before it as that layer's `dout`. Follow the shapes:

# %%
net = Sequential(Dense(3, 5), LeakyReLU(0.2), Dense(5, 2), Tanh())
h = rng.standard_normal((4, 3)).astype(np.float32)
print("forward ")
for layer in net.layers:
    out = layer.forward(h)
    print(f"  {layer!r:32} {str(h.shape):>8} -> {out.shape}")
    h = out
g = np.ones_like(h)
print("backward")
for layer in reversed(net.layers):
    dx = layer.backward(g)
    print(f"  {layer!r:32} {str(g.shape):>8} -> {dx.shape}")
    g = dx

# %% [markdown]
# Gradients **accumulate**: `backward` adds into `grads` with `+=`. That lets a discriminator see the real batch
# and the fake batch in two passes before one optimizer step. The price: call `zero_grad()` before each new
# step, or last step's gradients leak into this one.

# %%
print("after one backward :", float(np.abs(net.grads["0.W"]).sum()))
net.backward(np.ones((4, 2), dtype=np.float32))  # a second backward without zero_grad: the sum grows
print("after a second one :", float(np.abs(net.grads["0.W"]).sum()))
net.zero_grad()
print("after zero_grad()  :", float(np.abs(net.grads["0.W"]).sum()))

# %% [markdown]
# ## Put it to work: fit a curve with hand-made gradients
#
# Everything a training loop needs is now in place: forward, a loss and its gradient, backward, an update. We
# fit $y = \sin(x)$ with the mean squared error $L = \frac1N\sum_n(\hat y_n - y_n)^2$, whose gradient is
# $\frac{\partial L}{\partial \hat y} = \frac{2}{N}(\hat y - y)$, and Adam from `minigan.optim`.

# %%
from minigan.optim import Adam

x_train = np.linspace(-3, 3, 128, dtype=np.float32)[:, None]  # (128, 1)
y_train = np.sin(x_train)
model = Sequential(Dense(1, 32), Tanh(), Dense(32, 32), Tanh(), Dense(32, 1))
opt = Adam(lr=1e-2)
losses = []
for step in range(300 if FAST else 2000):
    y_hat = model.forward(x_train)
    loss = float(((y_hat - y_train) ** 2).mean())
    model.zero_grad()
    model.backward(2 * (y_hat - y_train) / len(x_train))  # dL/dy_hat
    opt.step(model.params, model.grads)
    losses.append(loss)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.2))
ax1.semilogy(losses)
ax1.set_xlabel("step")
ax1.set_ylabel("mean squared error")
ax2.plot(x_train, y_train, label="sin(x)")
ax2.plot(x_train, model.forward(x_train), "--", label="network")
ax2.legend()
plt.show()
print(f"final loss {losses[-1]:.2e}")

# %% [markdown]
# ## What to remember
#
# * `backward(dout)` returns `dx` with the shape of `x`, and adds each parameter's gradient into `grads`.
# * Write one entry of the output as a sum, differentiate it, then read the matrix formula off the shapes.
# * Elementwise layers multiply by the local slope; layers in a chain apply the chain rule in reverse.
#
# How do we **know** a backward pass is right? Notebook 3 builds the tool that proves it: the gradient check.
#
# *Reference solutions: `notebooks/solutions.py` in the repository, or your instructor's copy (look after you have
# tried).*
