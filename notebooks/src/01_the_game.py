# %% [markdown]
# # 1. The game: a forger and an expert
#
# A Generative Adversarial Network is two networks playing a game.
#
# * The **generator** $G$ is a forger. It turns random noise $z$ into a sample $G(z)$: a number, a point, an image.
# * The **discriminator** $D$ is an expert. It looks at a sample $x$ and says how sure it is that $x$ is real:
#   $D(x) \in (0, 1)$.
#
# The expert learns from real examples and from the forger's fakes; the forger learns only from the expert's
# verdicts. Nobody ever tells $G$ what the data looks like. In this notebook you will write down the game,
# find out who wins, and watch a tiny GAN play it on one-dimensional numbers.
#
# *About 20 minutes.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning

# %% [markdown]
# ## The value of the game
#
# Both players share one number, the **value**
#
# $$V(D, G) = \mathbb{E}_{x \sim p_\text{data}}\big[\log D(x)\big]
#           + \mathbb{E}_{z \sim p_z}\big[\log\big(1 - D(G(z))\big)\big].$$
#
# $D$ wants $V$ large: $D(x) \to 1$ on real data, $D(G(z)) \to 0$ on fakes (both logs go to 0, their maximum).
# $G$ wants $V$ small: it can only change the second term, by making $D(G(z))$ large. The game is
#
# $$\min_G \max_D V(D, G).$$
#
# **The best expert.** Write $p_g$ for the distribution of $G(z)$. For a fixed $G$, $V$ is an integral over $x$
# of $p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))$. For each $x$, $a \log D + b \log(1 - D)$ is largest at
# $D = a / (a + b)$, so
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# **Who wins.** If the forger is perfect, $p_g = p_\text{data}$, then $D^*(x) = \tfrac12$ everywhere: the best
# expert can only guess, and $V = \log\tfrac12 + \log\tfrac12 = -\log 4 \approx -1.386$. Goodfellow et al. (2014)
# showed that this is the game's global optimum: $\max_D V(D, G)$ is smallest, $-\log 4$, exactly when
# $p_g = p_\text{data}$. Let us look at $D^*$ for a few forgers.

# %%
def gauss(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


x = np.linspace(-3, 6, 400)
p_data = gauss(x, 3.0, 0.5)  # the data: numbers around 3
forgers = [("a poor forger", 0.0, 1.0), ("a better one", 2.3, 0.8), ("a perfect one", 3.0, 0.5)]

fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
for ax, (title, mean, std) in zip(axes, forgers):
    p_g = gauss(x, mean, std)
    ax.fill_between(x, p_data, color="0.7", label="$p_{data}$")
    ax.plot(x, p_g, color="C1", label="$p_g$")
    ax.plot(x, p_data / (p_data + p_g + 1e-300), color="k", label="$D^*(x)$")
    ax.axhline(0.5, color="k", linestyle=":", linewidth=1)
    ax.set_title(title)
    ax.set_xlabel("x")
axes[0].legend(loc="upper left")
plt.show()

# %% [markdown]
# Where only real data lives, $D^* = 1$; where only fakes live, $D^* = 0$. The forger's samples sit on the slope
# of $D^*$, and that slope is exactly what training uses: $G$ moves its samples uphill on $D$. When the two
# distributions match, the slope is gone.
#
# ## The players in code
#
# The data are numbers drawn from $\mathcal{N}(3, 0.5^2)$; the noise is $z \sim \mathcal{N}(0, 1)$. Both
# players are small fully connected networks from `minigan.models.toy`. $G$ maps one number to one number;
# $D$ maps one number to one **logit** $\ell$, and $D(x) = \sigma(\ell) = 1 / (1 + e^{-\ell})$ (notebook 6
# explains why the sigmoid lives in the loss, not in the network).

# %%
from minigan.gan import GAN
from minigan.losses import sigmoid
from minigan.models import toy


def real_batch(n, rng):
    """(n, 1) float32 numbers from the data distribution N(3, 0.5^2)."""
    return (3.0 + 0.5 * rng.standard_normal((n, 1))).astype(np.float32)


G, D = toy(latent_dim=1, data_dim=1, hidden=32, seed=0)
print("G:", G)
print("D:", D)
gan = GAN(G, D, latent_dim=1, lr=2e-4, beta1=0.5, seed=0)

# %% [markdown]
# One call to `gan.train_step(real)` is one round of the game, two moves:
#
# 1. **D moves** (G frozen): D sees a real batch and a batch of fakes and takes one gradient step **up** $V$.
# 2. **G moves** (D frozen): G takes one gradient step that makes $D(G(z))$ larger.
#
# It returns what D said on average: `d_real` $= \overline{D(x)}$ and `d_fake` $= \overline{D(G(z))}$. We
# keep those numbers, and now and then a snapshot of G's samples and of D's opinion $D(x)$ over a range of $x$.

# %%
STEPS = 600 if FAST else 3000
SNAP_AT = [0, 100, 300, STEPS // 2, STEPS]

rng = np.random.default_rng(0)
xs = np.linspace(-2, 6, 200, dtype=np.float32)[:, None]  # (200, 1) where we ask D for its opinion
z_show = rng.standard_normal((4000, 1)).astype(np.float32)  # the same noise for every snapshot


def snapshot():
    fake = gan.sample(z=z_show)[:, 0]  # G's samples, (4000,)
    opinion = sigmoid(D.forward(xs))[:, 0]  # D(x) on the grid, (200,)
    return fake, opinion


snapshots = {0: snapshot()}
for step in range(1, STEPS + 1):
    stats = gan.train_step(real_batch(64, rng))
    gan.record(stats)  # appends to gan.history, as gan.fit does
    if step in SNAP_AT:
        snapshots[step] = snapshot()
print(f"{STEPS} steps; last: D(x) = {stats['d_real']:.3f}, D(G(z)) = {stats['d_fake']:.3f}")

# %% [markdown]
# ## Watch the game
#
# Each panel is one moment of training: the data (grey), G's samples (orange) and D's opinion $D(x)$ (black,
# right axis).

# %%
real_show = real_batch(4000, np.random.default_rng(1))[:, 0]
fig, axes = plt.subplots(1, len(snapshots), figsize=(3.2 * len(snapshots), 3.2), sharey=True)
for ax, (step, (fake, opinion)) in zip(axes, snapshots.items()):
    bins = np.linspace(-2, 6, 60)
    ax.hist(real_show, bins=bins, density=True, color="0.7", label="data")
    ax.hist(fake, bins=bins, density=True, color="C1", alpha=0.6, label="G(z)")
    ax.set_title(f"step {step}")
    ax.set_xlabel("x")
    d_ax = ax.twinx()
    d_ax.plot(xs[:, 0], opinion, color="k", label="D(x)")
    d_ax.axhline(0.5, color="k", linestyle=":", linewidth=1)
    d_ax.set_ylim(0, 1)
axes[0].legend(loc="upper left")
d_ax.set_ylabel("D(x)")
plt.tight_layout()
plt.show()

# %% [markdown]
# What happens, in order:
#
# * At step 0 the untrained G puts its samples near 0, and D has no opinion yet.
# * D learns fast that numbers near 3 are real and numbers near 0 are fake: its curve rises to the right.
# * G's samples climb that slope towards the data. G never sees the data; the slope of $D$ is its only guide.
# * Once the two distributions overlap, D cannot separate them and its curve flattens towards $\tfrac12$.
#
# ## D's verdicts drift to one half
#
# `minigan.viz.plot_history` draws the history: the losses, D's average verdicts, and the size of each player's
# gradient.

# %%
from minigan.viz import plot_history

plot_history(gan.history, samples="numbers")  # the data here are numbers, not images

# %% [markdown]
# The middle panel is the game's scoreboard. Early on $D(x)$ and $D(G(z))$ separate: the expert is winning.
# Then they meet at the dashed line $\tfrac12$: the expert is reduced to guessing, which is exactly the
# equilibrium we derived. The discriminator's loss is $-V$ (notebook 6), so at equilibrium it sits near
# $\log 4 \approx 1.386$:

# %%
d_loss = np.array(gan.history["d_loss"])
tail = d_loss[-len(d_loss) // 5 :]  # the last fifth of training
print(f"discriminator loss over the last fifth of training: {tail.mean():.3f}   log 4 = {np.log(4):.3f}")

# %% [markdown]
# ## Try it
#
# * Make the data harder: `3.0 + 0.5 * ...` to a mixture of two bumps, e.g. half the batch around $-1$, half
#   around $3$. Does G find both? (Notebook 9 is about what happens when it does not.)
# * Give G almost no capacity: `toy(..., hidden=2)`. Can the expert still be fooled?
# * Raise the learning rate to `lr=1e-2`. Games with two players do not always settle down.
#
# **Next:** notebook 2 opens the networks up: what a layer's `forward` and `backward` really compute.
