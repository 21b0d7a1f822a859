# %% [markdown]
# # 6. The minimax game in code
#
# Notebook 1 wrote the game as one formula. Turning it into a training step takes three decisions, and each one
# matters in practice:
#
# 1. **How to compute the losses** without taking the log of 0: from logits.
# 2. **Which loss the generator minimises**: the one in the formula saturates; the one everybody uses does not.
# 3. **How the two players take turns**, and what "the other network is frozen" really means.
#
# Then we train the classic fully connected GAN on the 10,000 MNIST digits bundled with minigan.
#
# *About 40 minutes, plus training time.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from minigan.exercises import check

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning

# %% [markdown]
# ## 1. Losses from logits
#
# D ends in a plain linear unit that outputs a **logit** $\ell$; $D = \sigma(\ell)$. The discriminator minimises the
# binary cross-entropy, real labelled 1 and fake labelled 0, which is exactly $-V$ on a batch:
#
# $$L_D = -\operatorname{mean}\log\sigma(\ell_\text{real}) - \operatorname{mean}\log\big(1 - \sigma(\ell_\text{fake})\big).$$
#
# Computed as written, in float32, this breaks as soon as D is confident: $\sigma(-100)$ rounds to $0$ and
# $1 - \sigma(20)$ rounds to $0$, and $\log 0 = -\infty$. One such example turns the loss, then every weight, into
# `nan`. The fix is to never form the probability. With $\text{softplus}(t) = \log(1 + e^t)$:
#
# $$\log\sigma(\ell) = -\text{softplus}(-\ell), \qquad \log(1 - \sigma(\ell)) = -\text{softplus}(\ell), \qquad
# \text{softplus}(t) = \max(t, 0) + \log(1 + e^{-|t|}),$$
#
# where $e^{-|t|} \le 1$ never overflows (and `log1p` keeps its small values accurate).

# %%
from minigan.losses import softplus

logits = np.array([-100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0], dtype=np.float32)
with np.errstate(all="ignore"):  # the naive formulas overflow and divide by zero; we want to see the result
    d = 1 / (1 + np.exp(-logits))
    naive_log_d, naive_log_1md = np.log(d), np.log(1 - d)
print(f"{'logit':>7} {'log D naive':>12} {'stable':>9} {'log(1-D) naive':>15} {'stable':>9}")
for row in zip(logits, naive_log_d, -softplus(-logits), naive_log_1md, -softplus(logits)):
    print("{:>7.0f} {:>12.4g} {:>9.4g} {:>15.4g} {:>9.4g}".format(*row))

# %% [markdown]
# The stable column is finite everywhere and equal to the naive one where the naive one works. `minigan.losses`
# computes every objective this way, and returns the gradient with respect to the logits along with the loss
# (the sigmoid's derivative folded in: $\frac{d}{d\ell}\text{softplus}(\ell) = \sigma(\ell)$).
#
# ## 2. The generator's loss: saturating or not
#
# In the game, G minimises the second term of $V$: $L_G^\text{minimax} = \operatorname{mean}\log(1 - D(G(z)))$.
# Early in training G's samples are poor, D rejects them with confidence, $D(G(z)) \approx 0$, and
#
# $$\frac{\partial}{\partial \ell}\log(1 - \sigma(\ell)) = -\sigma(\ell) = -D(G(z)) \approx 0:$$
#
# **the generator gets no gradient exactly when it most needs one.** Goodfellow et al. proposed, in the same paper,
# to let G maximise $\log D(G(z))$ instead: the same fixed point (fool D), but
#
# $$L_G^\text{NS} = -\operatorname{mean}\log D(G(z)) = \operatorname{mean}\,\text{softplus}(-\ell),
# \qquad \frac{\partial L_G^\text{NS}}{\partial \ell} = \sigma(\ell) - 1 \approx -1 \text{ when } D(G(z)) \approx 0.$$
#
# Plot both (per example, so $N = 1$) against $D(G(z))$:

# %%
from minigan.losses import Minimax, NonSaturating

D_of_fake = np.linspace(0.001, 0.999, 500)
logit = np.log(D_of_fake / (1 - D_of_fake))[:, None]  # (500, 1), the logit that gives each D
curves = {}
for name, objective in [("saturating (minimax): log(1 - D)", Minimax()), ("non-saturating: -log D", NonSaturating())]:
    per_example = [objective.g_loss(t[None]) for t in logit]  # N = 1: no 1/N in the gradient
    curves[name] = (np.array([float(v) for v, _ in per_example]), np.array([float(g[0, 0]) for _, g in per_example]))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
for name, (loss, grad) in curves.items():
    ax1.plot(D_of_fake, loss, label=name)
    ax2.plot(D_of_fake, np.abs(grad), label=name)
for ax in (ax1, ax2):
    ax.axvspan(0, 0.1, color="C3", alpha=0.1)
    ax.set_xlabel("D(G(z)): how real D finds the fake")
ax1.set_ylabel("generator loss")
ax2.set_ylabel("|d loss / d logit|")
ax1.set_title("the loss G minimises")
ax2.set_title("the gradient G receives (shaded: early training)")
ax1.legend()
plt.show()

# %% [markdown]
# In the shaded region, where every GAN starts, the saturating gradient is nearly zero and the non-saturating one
# is nearly 1. Near $D(G(z)) = 1$ it is the other way round, but a generator that already fools D does not need a
# strong push. minigan's default objective is `"non-saturating"`.
#
# ### Exercise: the non-saturating generator loss, from logits
#
# Write `nonsaturating_g_loss(logits_fake)` returning `(loss, dlogits)`: the mean over the batch of
# $\text{softplus}(-\ell)$, and its gradient $(\sigma(\ell) - 1)/N$. It must survive logits of $\pm 1000$: build
# both from $e^{-|\ell|}$.

# %%
def nonsaturating_g_loss(logits_fake):
    """logits_fake: (N, 1), D's logits on fakes.  Returns (loss: a float, dlogits: (N, 1))."""
    # YOUR CODE HERE (about five lines)
    raise NotImplementedError


check("nonsaturating_g_loss", nonsaturating_g_loss)

# %% [markdown]
# ## 3. Taking turns, and what "frozen" means
#
# One `GAN.train_step` is two passes (Goodfellow et al.'s Algorithm 1 with $k = 1$):
#
# 1. **Train D, G frozen.** $z \to G \to$ fake; D judges `[real; fake]`; $L_D \to$ `D.backward` $\to$ D's
#    optimizer step. G runs forward only.
# 2. **Train G, D frozen.** D judges the same fakes again (it has just changed); $L_G \to$
#    `D.backward(param_grads=False)` $\to$ `G.backward` $\to$ G's optimizer step.
#
# Here is the code of both passes, straight from `minigan/gan.py`:

# %%
import inspect

from minigan.gan import GAN

print(inspect.getsource(GAN.discriminator_pass))
print(inspect.getsource(GAN.generator_pass))

# %% [markdown]
# "Frozen" does **not** mean "no backward". In pass 2, G can only learn through D's judgement, so the gradient
# must flow through every layer of D to reach the fakes. What is frozen is D's **weights**: they do not change,
# and minigan does not even compute their gradients (`param_grads=False`). Let us verify both halves on a real
# batch: the weights that move in each pass, and the gradient that flows through D in pass 2.

# %%
from minigan.data import load_dataset
from minigan.models import mlp_gan


def snapshot(net):
    return {k: v.copy() for k, v in net.params.items()}


def moved(before, net):
    return max(float(np.abs(net.params[k] - v).max()) for k, v in before.items())


digits = load_dataset("mnist", subset=64)
real = digits.model_input(-1, 1)  # (64, 1, 28, 28) float32 in [-1, 1]
G, D = mlp_gan(seed=0)
gan = GAN(G, D, latent_dim=100, seed=0)

G0, D0 = snapshot(G), snapshot(D)
stats, fake = gan.discriminator_pass(real)
print(f"pass 1 (train D): D's weights moved by {moved(D0, D):.2e}, G's by {moved(G0, G):.2e}")

G0, D0 = snapshot(G), snapshot(D)
D_grads_before = {k: g.copy() for k, g in D.grads.items()}
logits_fake = D.forward(fake)
_, dlogits = gan.objective.g_loss(logits_fake)
dfake = D.backward(dlogits, param_grads=False)  # what generator_pass does first
print(f"gradient that reached the fakes through D: norm {np.linalg.norm(dfake):.2e}, shape {dfake.shape}")
print("D's weight gradients touched by that backward:", any(not np.array_equal(D.grads[k], g)
                                                             for k, g in D_grads_before.items()))  # fmt: skip
gan.generator_pass(fake)
print(f"pass 2 (train G): D's weights moved by {moved(D0, D):.2e}, G's by {moved(G0, G):.2e}")

# %% [markdown]
# ## The classic MLP GAN on MNIST
#
# `minigan.models.mlp_gan` builds the fully connected GAN of the well-known Keras tutorial: G maps 100 noise
# numbers through two hidden layers of 500 units to 784 pixels; D mirrors it and outputs one logit. It comes in
# two variants:
#
# | | `"classic"` (the tutorial, kept faithful) | `"improved"` (minigan's default) |
# |---|---|---|
# | hidden activations | ReLU | LeakyReLU(0.2): D passes gradient for negative inputs |
# | D regularisation | L1 + L2 weight penalty $10^{-5}$ | Dropout(0.3) |
# | G output | Sigmoid, pixels in $[0, 1]$ | Tanh, pixels in $[-1, 1]$ (centred, like the noise) |
# | optimiser | Adam(lr $10^{-3}$, $\beta_1 = 0.9$), batch 128 | Adam(lr $2 \times 10^{-4}$, $\beta_1 = 0.5$), batch 64 |
#
# Each variant has its recipe in `minigan.models.recipe`. We train both on the same data and save a grid of
# samples from the **same fixed noise** after some epochs, so that the change from grid to grid is the training's
# doing alone. (Each MLP step takes some tens of milliseconds on a laptop CPU; the full run below takes a few
# minutes.)

# %%
from minigan.models import recipe
from minigan.optim import L1L2
from minigan.viz import plot_history, show_images

if FAST:
    SUBSET, EPOCHS, SHOW_AT = 512, 2, (1, 2)
else:
    SUBSET, EPOCHS, SHOW_AT = None, 20, (1, 5, 10, 20)


def train_mlp(variant):
    r = recipe("mlp-classic" if variant == "classic" else "mlp")
    G, D = mlp_gan(r.latent_dim, variant=variant, seed=0)
    penalty = L1L2(*r.l1l2) if any(r.l1l2) else None
    gan = GAN(G, D, latent_dim=r.latent_dim, lr=r.lr, beta1=r.beta1, penalty=penalty, seed=0)
    x = load_dataset("mnist", subset=SUBSET).model_input(*r.value_range)
    grids = {}

    def on_epoch_end(gan):
        if gan.epoch in SHOW_AT:
            grids[gan.epoch] = gan.sample(32)  # the first 32 of the fixed noise, in eval mode

    gan.fit(x, epochs=EPOCHS, batch_size=r.batch_size, on_epoch_end=on_epoch_end)
    return gan, grids, r.value_range


runs = {variant: train_mlp(variant) for variant in ("classic", "improved")}

# %%
for variant, (gan, grids, value_range) in runs.items():
    for epoch, samples in grids.items():
        display(show_images(samples, value_range=value_range, nrow=16, title=f"{variant}, epoch {epoch}"))

# %% [markdown]
# Each grid holds 32 samples in 2 rows of 16, and each place in the grid (row and column) belongs to one fixed
# noise vector, the same in every grid: compare a place from grid to grid to see what G does with that vector as
# it learns. Things to look for:
#
# * **Variety.** Do the 32 samples show many different digits, or the same few shapes again and again? A generator
#   that maps most noise vectors to one or two digits has **collapsed** (notebook 9 is about this).
# * **Stability.** Does a place keep its digit from one epoch to the next, or jump around?
#
# With the full 20 epochs and seed 0, the classic recipe typically ends with the same noisy pattern in every
# place, while the improved one draws different digit-like shapes in different places. The curves tell the
# same story in numbers (notebook 7 reads them in detail). In the classic run, look for $D(x)$ pinned at 1 and
# $D(G(z))$ at 0: the discriminator has won outright, and a generator that has lost this badly gets no useful
# direction from it.

# %%
for variant, (gan, _, _) in runs.items():
    fig = plot_history(gan.history)
    fig.suptitle(f"{variant} MLP GAN", fontsize="large")
    display(fig)

# %% [markdown]
# ## What to remember
#
# * Losses are computed from logits with softplus; the sigmoid lives inside the loss, never before a log.
# * The non-saturating generator loss gives G a strong gradient exactly when its fakes are poor.
# * "Frozen" means the frozen network's weights do not change; the gradient still flows through it.
#
# **Next:** notebook 7 swaps the fully connected layers for convolutions: the DCGAN.
