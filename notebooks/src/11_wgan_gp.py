# %% [markdown]
# # 11. WGAN-GP: the derivative of a backward pass
#
# Notebook 9 tried the WGAN objective, whose critic is kept in check by clipping its weights. WGAN-GP (Gulrajani et
# al., 2017) replaces the clipping with a **gradient penalty**: a term in the critic's loss that asks the gradient
# of the critic with respect to its *input* to have length 1. That gradient comes out of a backward pass, so
# training with the penalty needs the derivative of a backward pass with respect to the weights. Frameworks with
# automatic differentiation get it by "double backprop"; minigan has no autograd, so in this notebook you derive it
# by hand, first on paper for a tiny critic, then as the general recipe the library uses, and check both against
# central differences. Then you train a WGAN-GP on ring8.
#
# *About 40 minutes, plus a few minutes of training.*

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from minigan.data import load_dataset
from minigan.gan import GAN
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.layers import BatchNorm, Conv2D, Dense, Flatten, LeakyReLU, Sequential, Tanh
from minigan.losses import WGANGP
from minigan.metrics import toy2d_report
from minigan.models import toy
from minigan.second_order import gradient_penalty
from minigan.viz import plot_mode_coverage

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Why a gradient penalty
#
# The Wasserstein GAN trains a **critic** $D$ that gives scores, not probabilities, and uses the
# Kantorovich-Rubinstein duality:
#
# $$W(p_\text{data}, p_G) = \max_{\|D\|_L \le 1}\ \mathbb{E}_{x \sim p_\text{data}}[D(x)]
#   - \mathbb{E}_{z}[D(G(z))].$$
#
# The maximum is over **1-Lipschitz** functions, $|D(x) - D(y)| \le \|x - y\|$, which for a differentiable $D$
# means $\|\nabla_x D(x)\| \le 1$ everywhere. Without that constraint the critic would push its scores to
# $\pm\infty$.
#
# The original WGAN enforces it crudely: after every critic step each weight is clipped to $[-0.01, 0.01]$ (the
# `wgan` objective of notebook 9). That bounds the Lipschitz constant only loosely, and it shapes the critic: most
# weights end up at $\pm 0.01$ and the critic can only draw very simple functions; with a clip too small its
# gradients vanish, with one too large they explode.
#
# The WGAN-GP paper observes that the optimal critic has gradient norm **exactly 1** on the straight lines between
# paired real and generated points, and asks for that softly, with a penalty at random points on such lines:
#
# $$\hat x = \alpha x + (1 - \alpha) G(z), \qquad \alpha \sim U[0, 1] \text{ per sample},$$
#
# $$L_D = \underbrace{\mathbb{E}_z[D(G(z))] - \mathbb{E}_x[D(x)]}_{\text{the WGAN critic loss}}
#   + \underbrace{\lambda\, \mathbb{E}_{\hat x}\big[(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2\big]}_{P,\ \lambda = 10},
# \qquad L_G = -\mathbb{E}_z[D(G(z))].$$
#
# The paper's recipe, which minigan's `objective="wgan-gp"` follows: $\lambda = 10$, 5 critic steps per generator
# step, Adam with learning rate $10^{-4}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$, and no weight clipping. Here is where
# the penalty looks: a batch of real ring8 points, a batch from an untrained generator, and the $\hat x$ between
# them.

# %%
ring8 = load_dataset("ring8")  # 100,000 points on 8 modes around the unit circle
G0, _ = toy(seed=0)
n = 16
real = ring8.x[rng.integers(0, len(ring8.x), n)]  # (16, 2)
fake = G0.forward(rng.standard_normal((n, 2)).astype(np.float32))  # (16, 2): an untrained G
alpha = rng.uniform(size=(n, 1))
x_hat = alpha * real + (1 - alpha) * fake

fig, ax = plt.subplots(figsize=(5.5, 5.5))
ax.scatter(ring8.x[:2000, 0], ring8.x[:2000, 1], s=2, color="0.8")
for r, f in zip(real, fake):
    ax.plot([r[0], f[0]], [r[1], f[1]], color="0.6", linewidth=0.8)
ax.scatter(real[:, 0], real[:, 1], s=30, color="C0", label="real x", zorder=3)
ax.scatter(fake[:, 0], fake[:, 1], s=30, color="C1", label="fake G(z)", zorder=3)
ax.scatter(x_hat[:, 0], x_hat[:, 1], s=40, marker="*", color="C3", label=r"$\hat x$: where P looks", zorder=4)
ax.set_aspect("equal")
ax.legend(loc="upper right", fontsize="small")
ax.set_title("The penalty is taken on the segments between real and fake")
plt.show()

# %% [markdown]
# ## 2. The problem: $P$ depends on a backward pass
#
# Write $g_n = \nabla_x D(\hat x_n; \theta)$ for the critic's input gradient at the $n$-th point of the batch, so
#
# $$P(\theta) = \frac{\lambda}{N} \sum_{n=1}^{N} \big(\|g_n(\theta)\| - 1\big)^2 .$$
#
# In minigan $g$ is what `D.backward(ones)` returns: a **backward** pass from an upstream gradient of ones. To
# train the critic on $P$ we need $\partial P / \partial \theta$: how the *result of a backward pass* changes when
# the weights change. Backward passes are made of matrix products and elementwise products, so this derivative
# exists and the chain rule gives it, but no layer's `backward` computes it.
#
# In PyTorch it is two lines, `g = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)` followed by a
# `.backward()` of the penalty: the first backward pass is itself recorded as a graph and differentiated again,
# which is called **double backprop**. We have no graph to record, so we derive it.
#
# ## 3. On paper: a critic with one hidden layer
#
# Take the smallest critic that has everything: $D$ = `Sequential(Dense(d, h), LeakyReLU(0.2), Dense(h, 1))`. In
# minigan's layout a Dense layer computes $y = xW + b$ with $W$ of shape (in, out) and $x$ a row, so for one
# point $x \in \mathbb{R}^{1 \times d}$:
#
# $$a = x W_1 + b_1 \in \mathbb{R}^{1 \times h}, \qquad D(x) = \varphi(a)\, w_2 + b_2,
# \qquad W_1 \in \mathbb{R}^{d \times h},\ w_2 \in \mathbb{R}^{h \times 1},$$
#
# with $\varphi$ the leaky ReLU, $\varphi'(a) \in \{1, 0.2\}$. Its input gradient, as a column in
# $\mathbb{R}^d$, is
#
# $$g(x) = \nabla_x D = W_1\, \operatorname{diag}(\varphi'(a))\, w_2 = W_1 u, \qquad u = \varphi'(a)^\top \odot w_2
# \in \mathbb{R}^h .$$
#
# **The key fact:** $\varphi'$ is piecewise constant, so $\varphi'' = 0$ almost everywhere. A small change of the
# weights does not change the slopes $\varphi'(a_n)$ (except in the rare case where some $a_n$ sits exactly on the
# kink). So $g_n$ depends on the weights only through the explicit $W_1$ and $w_2$ in $W_1 u_n$.
#
# **The chain rule on the norm.** $P$ depends on the weights only through the $g_n$; call its gradient with respect
# to them $v_n$:
#
# $$v_n = \frac{\partial P}{\partial g_n} = \frac{2\lambda}{N}\, \big(\|g_n\| - 1\big)\, \frac{g_n}{\|g_n\|}
# \in \mathbb{R}^d, \qquad
# \frac{\partial P}{\partial \theta} = \sum_n v_n^\top \frac{\partial g_n}{\partial \theta} .$$
#
# **The four weight gradients.** With $u_n = m_n \odot w_2$, $m_n = \varphi'(a_n)$:
#
# * $W_1$: $v_n^\top g_n = v_n^\top W_1 u_n$ is linear in $W_1$, so
#   $\displaystyle \frac{\partial P}{\partial W_1} = \sum_n v_n u_n^\top = V^\top U$
#   ($d \times h$; rows of $V$ are the $v_n$, rows of $U$ the $u_n$).
# * $w_2$: $v_n^\top W_1 (m_n \odot w_2) = (m_n \odot W_1^\top v_n)^\top w_2$, so
#   $\displaystyle \frac{\partial P}{\partial w_2} = \sum_n m_n \odot (W_1^\top v_n)$,
#   the column sums of $M \odot (V W_1)$, shaped $(h, 1)$.
# * $b_1$: it only shifts $a_n$, so it could act only through the slopes $m_n$, and a small shift does not change
#   them: $\partial P / \partial b_1 = 0$.
# * $b_2$: it adds a constant to $D$, which has no gradient with respect to $x$: $\partial P / \partial b_2 = 0$.
#
# In batch form: $M$ is $(N, h)$ with rows $m_n$, $U = M \odot w_2^\top$, and $U W_1^\top$ is $(N, d)$ with rows
# $g_n$. That is a handful of NumPy lines:

# %%
def penalty_and_grads_by_hand(x, W1, b1, w2, b2, lam=10.0, slope=0.2):
    """P and (dP/dW1, dP/db1, dP/dw2, dP/db2) for D(x) = lrelu(x W1 + b1) w2 + b2, from the formulas above."""
    N = len(x)
    a = x @ W1 + b1  # (N, h)
    M = np.where(a > 0, 1.0, slope)  # (N, h): phi'(a)
    U = M * w2.T  # (N, h): u_n = m_n * w2
    g = U @ W1.T  # (N, d): g_n = W1 u_n
    norm = np.linalg.norm(g, axis=1, keepdims=True)  # (N, 1)
    P = lam * ((norm - 1) ** 2).mean()
    V = (2 * lam / N) * (norm - 1) * g / norm  # (N, d): v_n = dP/dg_n
    dW1 = V.T @ U  # (d, h)
    dw2 = (M * (V @ W1)).sum(axis=0)[:, None]  # (h, 1)
    return P, (dW1, np.zeros_like(b1), dw2, np.zeros_like(b2))


d, h, N = 3, 8, 6
x = rng.standard_normal((N, d))  # float64 throughout: we are going to compare to 1e-8
W1, b1 = rng.standard_normal((d, h)), 0.5 * rng.standard_normal(h)
w2, b2 = rng.standard_normal((h, 1)) / np.sqrt(h), rng.standard_normal(1)
P_hand, grads_hand = penalty_and_grads_by_hand(x, W1, b1, w2, b2)
print(f"P = {P_hand:.6f}")
for name, gr in zip(["dP/dW1", "dP/db1", "dP/dw2", "dP/db2"], grads_hand):
    print(f"{name}: shape {gr.shape}, largest entry {np.abs(gr).max():.4f}")

# %% [markdown]
# Now two independent checks. **Central differences** (notebook 3): nudge each weight by $\pm 10^{-6}$ and
# recompute $P$ from its definition, which needs only a forward and a backward pass, never the derivative we are
# checking. And **the library**: the same critic built from minigan layers, the same weights, and
# `minigan.second_order.gradient_penalty`, which adds $\partial P/\partial\theta$ into `D.grads`.

# %%
def penalty_by_definition(D, x, lam=10.0):
    """lam * mean (||dD/dx_n|| - 1)^2 from one forward and one backward pass: no second derivatives."""
    s = D.forward(x)
    g = D.backward(np.ones_like(s), param_grads=False)  # (N, ...): row n is dD(x_n)/dx_n
    norm = np.sqrt((g.reshape(len(x), -1) ** 2).sum(axis=1))
    return lam * ((norm - 1) ** 2).mean()


D = Sequential(Dense(d, h), LeakyReLU(0.2), Dense(h, 1)).astype(np.float64)
for key, value in zip(["0.W", "0.b", "2.W", "2.b"], [W1, b1, w2, b2]):
    D.params[key][...] = value  # params are views into the layers: this sets the critic's weights

D.zero_grad()
P_lib = float(gradient_penalty(D, x, weight=10.0))  # adds dP/dtheta into D.grads
grads_lib = {k: g.copy() for k, g in D.grads.items()}
grads_num = {k: numerical_gradient(lambda: penalty_by_definition(D, x), p) for k, p in D.params.items()}

print(f"P: by hand {P_hand:.12f}   library {P_lib:.12f}   by definition {penalty_by_definition(D, x):.12f}\n")
print(f"{'weight':>10} {'hand vs library':>17} {'hand vs central diff.':>23} {'library vs central diff.':>26}")
for (key, name), gh in zip([("0.W", "W1"), ("0.b", "b1"), ("2.W", "w2"), ("2.b", "b2")], grads_hand):
    print(f"{name + ' (' + key + ')':>10} {rel_error(gh, grads_lib[key]):>17.1e} "
          f"{rel_error(gh, grads_num[key]):>23.1e} {rel_error(grads_lib[key], grads_num[key]):>26.1e}")
print(f"\nlargest |dP/db1| by central differences: {np.abs(grads_num['0.b']).max():.1e}, "
      f"|dP/db2|: {np.abs(grads_num['2.b']).max():.1e}")

# %% [markdown]
# The three agree: the hand formulas and the library to rounding (about $10^{-16}$), both and the central
# differences to a few times $10^{-9}$ or better, what a float64 check of a correct gradient gives (notebook 3). The biases get no gradient from the
# penalty at all: nudging $b_1$ by $10^{-6}$ moves no unit across its kink, so $P$ does not change by a single bit.
# Only the weights $W_1$ and $w_2$ are pushed around by the penalty.
#
# ## 4. The general recipe: a tangent pass, then its backward
#
# The derivation on paper used the structure of one small network. The library needs something that works layer by
# layer for any stack, the way `backward` does. It takes three steps.
#
# **Step 1: $v = \partial P / \partial g$**, as above: $v_n = \frac{2\lambda}{N}(\|g_n\| - 1)\, g_n / \|g_n\|$.
#
# **Step 2: turn $v \cdot g$ into a forward computation.** By the chain rule,
# $\partial P/\partial\theta = \partial/\partial\theta \sum_n v_n \cdot g_n$ with $v$ **held fixed** (it is the
# outer derivative, evaluated once). And $v_n \cdot g_n = v_n \cdot \nabla_x D(\hat x_n)$ is the **directional
# derivative** of $D$ at $\hat x_n$ along $v_n$: how fast the score changes when the input moves in direction
# $v_n$,
#
# $$\dot s_n = \lim_{\varepsilon \to 0} \frac{D(\hat x_n + \varepsilon v_n) - D(\hat x_n)}{\varepsilon}
#   = J_x D(\hat x_n)\, v_n .$$
#
# It can be computed **forward**, layer by layer, next to the ordinary forward pass: every layer maps a value and a
# tangent $(a, \dot a)$ to $(y, \dot y) = (f(a),\ J_f(a)\, \dot a)$, starting from $\dot a = v$ at the input. For the
# two kinds of layer:
#
# | layer | forward | tangent |
# |---|---|---|
# | linear, $y = aW + b$ | $y = aW + b$ | $\dot y = \dot a W$ (no bias: it does not move with the input) |
# | activation, $y = \varphi(a)$ | $y = \varphi(a)$ | $\dot y = \varphi'(a) \odot \dot a$ |
#
# A convolution is linear too, so its tangent is the same convolution of $\dot a$, without the bias.
#
# **Step 3: backpropagate $\sum_n \dot s_n$ through the tangent pass.** With $v$ fixed, it is an ordinary function
# of the weights, so ordinary backprop applies. Each layer has **two** inputs $(a, \dot a)$ and two outputs
# $(y, \dot y)$, so it receives two upstream gradients $(dy, d\dot y)$ and returns two, $(da, d\dot a)$, adding its
# weight gradients on the way:
#
# | layer | weight gradients | gradients for the layer below |
# |---|---|---|
# | linear | $dW \mathrel{+}= a^\top dy + \dot a^\top d\dot y$, $\ db \mathrel{+}= \sum dy$ | $da = dy\, W^\top$, $\ d\dot a = d\dot y\, W^\top$ |
# | activation | none | $da = \varphi'(a) \odot dy + \varphi''(a) \odot \dot a \odot d\dot y$, $\ d\dot a = \varphi'(a) \odot d\dot y$ |
#
# It starts at the output with $d\dot y = 1$ (the objective is $\sum_n \dot s_n$) and $dy = 0$ (it does not
# depend on the score $s$ itself). The only way to make $dy$ non-zero is the $\varphi''$ term of an activation.
# For (leaky) ReLU $\varphi'' = 0$, so $dy$ stays zero all the way down, the $a^\top dy$ term vanishes and no bias
# gets a gradient, just as on paper. With Tanh or Sigmoid in the critic, $\varphi'' \ne 0$ and the biases below
# them do get one.
#
# Run the recipe on the one-hidden-layer critic and you get back the formulas of section 3: the tangent pass
# gives $\dot a_1 = v W_1$, $\dot y_1 = m \odot \dot a_1$, $\dot s = \dot y_1 w_2$; backwards from $d\dot s = 1$,
# $dw_2 = \dot y_1^\top 1 = \sum_n m_n \odot (W_1^\top v_n)$, $d\dot y_1 = w_2^\top$,
# $d\dot a_1 = m \odot w_2^\top = U$ and $dW_1 = v^\top U$.
#
# In code, `gradient_penalty` is one forward pass, one ordinary backward pass (for $g$), then the two loops
# (`minigan/second_order.py` has the per-layer rules, also for Conv2D, Tanh, Sigmoid, Dropout and the reshaping
# layers):
#
# ```python
# a_dot, caches = v, []
# for layer in layers:                                   # step 2: the tangent pass
#     a_dot, cache = tangent_forward(layer, a_dot)
#     caches.append(cache)
# dy, dy_dot = None, ones_like(a_dot)                    # None stands for an all-zero dy
# for layer, cache in zip(reversed(layers), reversed(caches)):
#     dy, dy_dot = tangent_backward(layer, cache, dy, dy_dot)   # step 3: adds into layer.grads
# ```
#
# The tangent pass really is a directional derivative: compare it with central differences of the critic's
# output along a random direction, on a small convolutional critic with a Tanh in it (so that the $\varphi''$
# term is exercised).

# %%
from minigan.second_order import flat_layers, tangent_forward

conv_D = Sequential(Conv2D(1, 3, 3, stride=2, padding=1), LeakyReLU(0.2),  # (N, 1, 8, 8) -> (N, 3, 4, 4)
                    Conv2D(3, 4, 3, stride=2, padding=1), Tanh(),  # -> (N, 4, 2, 2)
                    Flatten(), Dense(16, 1)).astype(np.float64)  # fmt: skip
real_img, fake_img = rng.standard_normal((4, 1, 8, 8)), rng.standard_normal((4, 1, 8, 8))
a = rng.uniform(size=(4, 1, 1, 1))
x_img = a * real_img + (1 - a) * fake_img  # (4, 1, 8, 8): the points x_hat
direction = rng.standard_normal(x_img.shape)

conv_D.forward(x_img)  # the tangent pass reads the caches of this forward pass
s_dot = direction
for layer in flat_layers(conv_D):
    s_dot, _ = tangent_forward(layer, s_dot)
eps = 1e-6
s_dot_num = (conv_D.forward(x_img + eps * direction) - conv_D.forward(x_img - eps * direction)) / (2 * eps)
print("tangent pass:             ", s_dot.ravel())
print("central differences of D: ", s_dot_num.ravel())
print(f"relative error: {rel_error(s_dot, s_dot_num):.1e}")

# %% [markdown]
# And the whole recipe, every weight gradient of the penalty on that critic against central differences of
# $P$:

# %%
conv_D.zero_grad()
gradient_penalty(conv_D, x_img, weight=10.0)
print(f"{'weight':>6} {'shape':>14} {'largest |dP/dw|':>16} {'library vs central diff.':>26}")
for key, p in conv_D.params.items():
    num = numerical_gradient(lambda: penalty_by_definition(conv_D, x_img), p)
    print(f"{key:>6} {p.shape!s:>14} {np.abs(num).max():>16.2e} {rel_error(conv_D.grads[key], num):>26.1e}")

# %% [markdown]
# All below $10^{-7}$. Note the biases: `0.b` and `2.b` now have gradients, because the Tanh's $\varphi''$ feeds
# $dy$ and $dy$ reaches every layer below it; the last layer's bias `5.b` still gets none.
#
# ## 5. Training on ring8
#
# The toy networks of notebook 9 (three hidden layers of 128 units; the critic's output is a plain linear score)
# with the WGAN-GP recipe, and next to it a vanilla GAN (the non-saturating loss, one D step per G step) with the
# library's default optimizer, Adam$(2\cdot 10^{-4}, \beta_1 = 0.5)$. Both train for the same number of
# **generator** steps, so the WGAN-GP critic takes five times as many steps as the vanilla discriminator, and each
# of them costs a little more (the penalty adds a forward pass, a backward pass and the tangent pass forward and
# back).

# %%
STEPS = 300 if FAST else 10_000  # generator steps
SHORT = 150 if FAST else 3000  # a shorter run, below
Z = np.random.default_rng(0).standard_normal((2500, 2)).astype(np.float32)  # the fixed noise we score and plot


def train(steps=STEPS, n_snapshots=5, seed=0, gp_weight=None, **settings):
    """Train the toy GAN on ring8 for ``steps`` generator steps (gp_weight: a lambda other than 10).

    Returns (gan, snapshots {g_step: samples}, curve {g_step: report}, log [stats after each generator step]).
    """
    G, D = toy(seed=seed)
    if gp_weight is not None:
        settings["objective"] = WGANGP(weight=gp_weight)  # an objective object carries its own settings
    gan = GAN(G, D, latent_dim=2, seed=seed, **settings)
    data_rng = np.random.default_rng(seed)
    snap_at = set(np.linspace(steps / n_snapshots, steps, n_snapshots).astype(int))
    snapshots, curve, log = {}, {}, []
    start = time.perf_counter()
    for g_step in range(1, steps + 1):
        for _ in range(gan.d_steps):  # d_steps critic updates, the last one followed by a G update
            stats = gan.train_step(ring8.x[data_rng.integers(0, len(ring8.x), 128)])
        log.append(stats)
        if g_step in snap_at or g_step % max(1, steps // 25) == 0 or g_step == SHORT:
            samples = gan.sample(z=Z)
            curve[g_step] = toy2d_report(samples, ring8)
            if g_step in snap_at:
                snapshots[g_step] = samples
    print(f"{gan.objective!r}: {steps} generator steps, {gan.step} critic steps in {time.perf_counter() - start:.0f} s")
    return gan, snapshots, curve, log


def plot_snapshot(ax, samples, report, label):
    """ring8 in grey, the samples in orange, titled with the step's coverage and quality."""
    ax.scatter(ring8.x[:2000, 0], ring8.x[:2000, 1], s=2, color="0.7")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="C1", alpha=0.4)
    ax.set_title(f"{label}\n{report['modes_covered']} of 8 modes, HQ {report['high_quality_fraction']:.2f}",
                 fontsize="small")  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlim(-1.7, 1.7)
    ax.set_ylim(-1.7, 1.7)


runs = {
    "WGAN-GP": train(objective="wgan-gp", lr=1e-4, beta1=0.5, beta2=0.9, d_steps=5),
    "vanilla GAN": train(objective="non-saturating", lr=2e-4, beta1=0.5),
}

# %%
fig, axes = plt.subplots(2, 5, figsize=(13, 5.6), sharex=True, sharey=True)
for row, (name, (_, snapshots, curve, _)) in zip(axes, runs.items()):
    for ax, (step, samples) in zip(row, snapshots.items()):
        plot_snapshot(ax, samples, curve[step], f"{name}, G step {step}")
fig.suptitle("ring8: the same fixed noise through G during training (grey: data, orange: samples)")
plt.show()

display(plot_mode_coverage({name: curve for name, (_, _, curve, _) in runs.items()}, xlabel="generator step"))

print(f"{'':12} {'--- at the last step ---':^34}   {'all 8 modes covered':>19}")
print(f"{'run':12} {'modes':>6} {'high quality':>13} {'reverse KL':>12}   {'(share of checks)':>19}")
for name, (_, _, curve, _) in runs.items():
    r = curve[STEPS]
    all_covered = np.mean([c["modes_covered"] == 8 for c in curve.values()])
    print(f"{name:12} {r['modes_covered']:>6} {r['high_quality_fraction']:>13.2f} {r['reverse_kl']:>12.2f}   "
          f"{all_covered:>19.0%}")  # fmt: skip

# %% [markdown]
# What the full-length run shows (seed 0; in fast mode the runs are far too short for any of this):
#
# * The **vanilla GAN** (with the DCGAN optimizer setting $\beta_1 = 0.5$, the fix of notebook 9) covers all 8
#   modes within about 1,600 generator steps and ends with about 95% of its samples high quality.
# * The **WGAN-GP** run with the paper's recipe is much slower. For some 7,000 generator steps its samples form
#   one blob or streak that wanders around the plane and covers at most a few modes; then they spread out, and at
#   10,000 steps they cover all 8 modes, but as a rounded square *through* the modes: only about 5% of the samples
#   are high quality. On this problem and this budget WGAN-GP is **blurrier and slower** than the vanilla GAN,
#   and it costs more than five times the time per generator step.
# * One seed is an anecdote (notebook 9). We also ran seeds 1 and 2 for 10,000 generator steps outside this
#   notebook. The vanilla GAN covered all 8 modes with 79% and 92% high-quality samples. WGAN-GP with seed 2 did
#   well (all 8 modes by step 2,500, 65% high quality at the end); with seed 1 it was still sitting on one or
#   two modes after **20,000** generator steps.
#
# ### What the critic learned
#
# Training logs the critic's loss, which for WGAN-GP is the WGAN loss plus the penalty. Split apart: the WGAN part
# $\mathbb{E}[D(x)] - \mathbb{E}[D(G(z))]$ is the critic's **estimate of the Wasserstein distance** between data and
# samples, and should fall as $G$ improves; the penalty should stay small once the critic has found its shape.

# %%
log = runs["WGAN-GP"][3]
w_estimate = np.array([s["d_real"] - s["d_fake"] for s in log])  # d_real, d_fake: mean raw scores
penalty = np.array([s["d_loss"] for s in log]) + w_estimate  # d_loss = -w_estimate + penalty
window = max(1, len(log) // 50)


def smooth(y):
    """Mean over each run of ``window`` consecutive values."""
    return np.convolve(y, np.ones(window) / window, mode="valid")


g_steps = np.arange(window, len(log) + 1)  # the last step of each averaging window
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.3))
ax1.plot(g_steps, smooth(w_estimate))
ax1.set_title("E[D(x)] - E[D(G(z))]: the critic's Wasserstein estimate")
ax2.plot(g_steps, smooth(penalty), color="C3")
ax2.set_yscale("log")
ax2.set_title("the gradient penalty P (log scale)")
for ax in (ax1, ax2):
    ax.set_xlabel(f"generator step (average of {window})")
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# The critic is a function on the plane, so we can look at it whole: its score, and the length of its gradient,
# $\|\nabla_x D\|$, on a grid (one forward and one backward pass of 40,000 points). On the right, the gradient
# norm at fresh points $\hat x$ between data and samples, where the penalty asked for 1.

# %%
gan = runs["WGAN-GP"][0]
critic = gan.D
lin = np.linspace(-1.8, 1.8, 200)
grid = np.stack(np.meshgrid(lin, lin), axis=-1).reshape(-1, 2).astype(np.float32)  # (40000, 2)
score = critic.forward(grid)
grad = critic.backward(np.ones_like(score), param_grads=False)  # (40000, 2): dD/dx at each grid point
grad_norm = np.linalg.norm(grad, axis=1)



def norms_between(gan):
    """||grad_x D(x_hat)|| at 2,500 fresh points x_hat between ring8 points and the generator's samples."""
    samples = gan.sample(z=Z)
    pick = np.random.default_rng(1).integers(0, len(ring8.x), len(samples))
    a = np.random.default_rng(2).uniform(size=(len(samples), 1)).astype(np.float32)
    s = gan.D.forward(a * ring8.x[pick] + (1 - a) * samples)
    return np.linalg.norm(gan.D.backward(np.ones_like(s), param_grads=False), axis=1)


samples = gan.sample(z=Z)
norm_between = norms_between(gan)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
extent = (lin[0], lin[-1], lin[0], lin[-1])
im = axes[0].imshow(score.reshape(200, 200), origin="lower", extent=extent, cmap="coolwarm")
axes[0].contour(lin, lin, score.reshape(200, 200), levels=12, colors="k", linewidths=0.4)
axes[0].set_title("critic score D(x) (red: 'real')")
im2 = axes[1].imshow(grad_norm.reshape(200, 200), origin="lower", extent=extent, cmap="viridis",
                     vmin=0, vmax=max(2.0, np.percentile(grad_norm, 99)))  # fmt: skip
axes[1].set_title(r"$\|\nabla_x D(x)\|$")
for ax, image in zip(axes[:2], (im, im2)):
    ax.scatter(ring8.x[:500, 0], ring8.x[:500, 1], s=1, color="k")
    ax.scatter(samples[:500, 0], samples[:500, 1], s=1, color="w", alpha=0.6)
    fig.colorbar(image, ax=ax, fraction=0.046)
axes[2].hist(norm_between, bins=50, color="C3")
axes[2].axvline(1, color="k", linestyle="--")
axes[2].set_title(r"$\|\nabla D(\hat x)\|$ at 2,500 points $\hat x$")
axes[2].set_xlabel("gradient norm")
plt.show()
print(f"at the points x_hat: median gradient norm {np.median(norm_between):.2f}, "
      f"{np.mean(np.abs(norm_between - 1) < 0.2):.0%} within 0.2 of 1")

# %% [markdown]
# The critic has become a tent over the ring: highest (red) on the modes, falling away in every direction with a
# slope of about 1 over most of the plane, not only on the segments where the penalty looked. That slope is what
# the generator climbs: every sample is pushed uphill, towards the modes. Only in corners far from any data, where
# nothing constrains it, is the critic steeper (yellow). At the points $\hat x$ the gradient norms sit tightly around
# 1, as asked. (The score itself has drifted to about 20: only differences of scores mean anything, so nothing
# holds the level.)
#
# ### The penalty weight
#
# $\lambda = 10$ is the paper's value for images. The authors' own code for these 2-D toy problems uses
# $\lambda = 0.1$, with the comment that a smaller $\lambda$ seems to help for toy tasks. Try it: the same run,
# the same seed, only $\lambda$ changed (for fewer steps, to save time), next to the first steps of the
# $\lambda = 10$ run.

# %%
runs["WGAN-GP, lambda 0.1"] = train(steps=SHORT, objective="wgan-gp", lr=1e-4, beta1=0.5, beta2=0.9, d_steps=5,
                                     gp_weight=0.1)  # fmt: skip
_, snapshots, curve, _ = runs["WGAN-GP, lambda 0.1"]
fig, axes = plt.subplots(1, 6, figsize=(16, 3.2), layout="constrained")
for ax, (step, samples) in zip(axes, snapshots.items()):
    plot_snapshot(ax, samples, curve[step], f"lambda 0.1, G step {step}")
for lam, name in [(10, "WGAN-GP"), (0.1, "WGAN-GP, lambda 0.1")]:
    axes[5].hist(norms_between(runs[name][0]), bins=50, alpha=0.6, label=f"lambda {lam}")
axes[5].axvline(1, color="k", linestyle="--")
axes[5].set_title(r"$\|\nabla D(\hat x)\|$ at the end of each run", fontsize="small")
axes[5].legend(fontsize="small")
plt.show()

print(f"{'run':22} {'G step':>7} {'modes':>6} {'high quality':>13} {'reverse KL':>11}")
for name in ["WGAN-GP", "WGAN-GP, lambda 0.1"]:
    curve = runs[name][2]
    for step in [SHORT, STEPS] if name == "WGAN-GP" else [SHORT]:
        r = curve[step]
        print(f"{name:22} {step:>7} {r['modes_covered']:>6} {r['high_quality_fraction']:>13.2f} "
              f"{r['reverse_kl']:>11.2f}")  # fmt: skip

# %% [markdown]
# With $\lambda = 0.1$ the same seed covers all 8 modes within 600 generator steps, and has 70% high-quality
# samples at step 3,000, where the $\lambda = 10$ run had not found a single mode yet. (With seed 1, where
# $\lambda = 10$ stayed collapsed for 20,000 steps, $\lambda = 0.1$ covered all 8 modes within 1,000 steps; we
# measured that outside this notebook.) The histogram shows what changed: with $\lambda = 0.1$ the critic's
# gradient norms at $\hat x$ spread from 0 to almost 2, most of them above 1. The weak penalty is a loose leash that
# only stops the slopes from growing without bound; $\lambda = 10$ holds them at 1.
#
# So $\lambda$ is a hyperparameter like the learning rate, and 10 is tuned for images, not for every problem.
# Whatever its value, the derivative of the penalty is the same code: $\lambda$ only scales $v$.
#
# ## 6. Why not BatchNorm in the critic
#
# The penalty is about **one** function of **one** point: $\|\nabla_{\hat x_n} D(\hat x_n)\| = 1$. `D.backward(ones)`
# returns that gradient because every row of the output depends on its own row of the input only: row $n$ of the
# result is $\sum_m \partial D(\hat x_m) / \partial \hat x_n = \partial D(\hat x_n) / \partial \hat x_n$.
#
# BatchNorm in training mode breaks that. It normalises with the mean and variance of the **batch**, so the score
# of one point depends on every other point in the batch, $\partial D(\hat x_m)/\partial \hat x_n \ne 0$ for
# $m \ne n$, and row $n$ of `backward(ones)` is a sum of all of them: not the per-sample gradient the penalty is
# about, and no longer the gradient of a function of $\hat x_n$. Look at the matrix of
# $\|\partial D(x_m)/\partial x_n\|$ for a batch of 6, by central differences:

# %%
def cross_gradients(D, x, eps=1e-6):
    """(N, N) matrix of ||d D(x_m) / d x_n||, by central differences (D in training mode)."""
    N = len(x)
    J = np.zeros((N, N, x.shape[1]))  # J[m, n, i] = d D(x_m) / d x_n[i]
    for n_ in range(N):
        for i in range(x.shape[1]):
            step = np.zeros_like(x)
            step[n_, i] = eps
            J[:, n_, i] = ((D.forward(x + step) - D.forward(x - step)) / (2 * eps))[:, 0]
    return np.linalg.norm(J, axis=2)


xb = rng.standard_normal((6, 2))
plain = Sequential(Dense(2, 8), LeakyReLU(0.2), Dense(8, 1)).astype(np.float64)
with_bn = Sequential(Dense(2, 8), BatchNorm(8), LeakyReLU(0.2), Dense(8, 1)).astype(np.float64)
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, (name, net) in zip(axes, [("no BatchNorm", plain), ("with BatchNorm", with_bn)]):
    ax.imshow(cross_gradients(net, xb), cmap="Greys")
    ax.set_title(name + r": $\|\partial D(x_m)/\partial x_n\|$")
    ax.set_xlabel("input n")
    ax.set_ylabel("output m")
plt.show()

# %% [markdown]
# Without BatchNorm the matrix is diagonal; with it, every point's score depends on every other point. The
# WGAN-GP paper therefore drops batch normalization from the critic (and suggests layer normalization, which
# normalises each sample on its own, if you want a normalization). minigan refuses a BatchNorm critic by name
# instead of computing a penalty that means something else:

# %%
G_toy, _ = toy(seed=0)
bn_critic = Sequential(Dense(2, 128), BatchNorm(128), LeakyReLU(0.2), Dense(128, 1))
bad = GAN(G_toy, bn_critic, latent_dim=2, objective="wgan-gp", lr=1e-4, beta1=0.5, beta2=0.9, d_steps=5)
try:
    bad.train_step(ring8.x[:128])
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## What to remember
#
# * The WGAN-GP critic loss is the WGAN loss plus $\lambda\,\mathbb{E}[(\|\nabla_{\hat x} D(\hat x)\| - 1)^2]$ at
#   points between real and fake: a soft 1-Lipschitz constraint instead of weight clipping.
# * The penalty's gradient is the derivative of a backward pass. It needs no new kind of calculus: $v = \partial
#   P/\partial g$, then $v \cdot g$ is a directional derivative that a **tangent pass** computes forward, and the
#   weight gradients come from backpropagating through that tangent pass.
# * With only piecewise-linear activations, $\varphi'' = 0$: the penalty moves only the weights, never the biases.
# * On ring8 the paper's recipe ($\lambda = 10$) is slow and blurry and depends a lot on the seed; $\lambda = 0.1$
#   works much better there. Tune $\lambda$, and compare on several seeds. (`benchmarks/RESULTS.md` has both
#   next to the vanilla GAN on ring8 and grid25, 5 seeds each.)
# * On MNIST the paper's recipe does work with the DCGAN critic, slowly: `minigan train --objective wgan-gp
#   --epochs 90` reaches readable digits of all ten classes (the judge: Inception-style score 6.5, Frechet
#   distance 44; the 5-epoch vanilla DCGAN: 4.8 and 96), after some 14,000 critic steps.
# * Check second-order code like first-order code: central differences of the quantity itself, in float64.
# * The penalty assumes each score depends on its own input only, so no BatchNorm in the critic.
