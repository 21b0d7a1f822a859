# %% [markdown]
# # 9. When GANs fail: mode collapse
#
# A GAN's generator is rewarded for fooling the discriminator, **not** for covering the data. If it finds a few
# outputs that D currently accepts, it can send almost every $z$ there. D then learns to reject that spot, G moves
# its whole output to another one, and the chase goes on: **mode collapse**, and its restless form, **mode
# hopping**. The samples can look fine one by one; what is missing is variety.
#
# Two-dimensional mixtures of Gaussians make this visible in seconds: you can see every sample and every mode at
# once. This notebook makes a GAN collapse, shows how to measure it, and tries the usual fixes.
#
# *About 30 minutes, plus training time.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from minigan.data import load_dataset
from minigan.gan import GAN
from minigan.layers import Dropout, LeakyReLU, Sequential
from minigan.metrics import toy2d_report
from minigan.models import toy
from minigan.viz import plot_mode_coverage

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
STEPS = 300 if FAST else 5000

# %% [markdown]
# ## The test beds
#
# * **ring8**: 8 Gaussians on a circle of radius 1, each with standard deviation $0.01$;
# * **grid25**: 25 Gaussians on a $5 \times 5$ grid with spacing 2, each with standard deviation $0.05$.
#
# Both are used in the mode-collapse literature (e.g. the PacGAN paper). Every mode has the same weight.

# %%
ring8 = load_dataset("ring8")  # 100,000 points; .centers (8, 2) and .mode_std
grid25 = load_dataset("grid25")
fig, axes = plt.subplots(1, 2, figsize=(9, 4.3))
for ax, ds in zip(axes, (ring8, grid25)):
    ax.scatter(ds.x[:3000, 0], ds.x[:3000, 1], s=3, color="0.5")
    ax.scatter(ds.centers[:, 0], ds.centers[:, 1], s=80, marker="x", color="k")
    ax.set_title(f"{ds.name}: {len(ds.centers)} modes, std {ds.mode_std}")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## How to tell: two numbers, not one
#
# `minigan.metrics.toy2d_report(samples, dataset)` scores 2,500 generated points the way the PacGAN paper does:
#
# * each sample is assigned to its nearest mode, and is **high quality** if it lies within 3 standard deviations
#   of it;
# * a mode is **covered** if at least one high-quality sample lands on it;
# * the **reverse KL** $\sum_k p_k \log(p_k / \tfrac1M)$ compares how the high-quality samples share out over the
#   modes with the true, equal shares: 0 when balanced, $\log M$ when all sit on one mode.
#
# Coverage and quality together tell the failures apart: a **collapsed** generator covers few modes (often with
# high quality); a **blurry** one touches many modes with few high-quality samples.
#
# ## Make it collapse
#
# The toy models (three hidden layers of 128 units, 2-D noise) with the optimizer settings of the classic Keras
# GAN tutorial: Adam with learning rate $10^{-3}$ and its default momentum $\beta_1 = 0.9$. Everything else as
# before: the non-saturating loss, one D step per G step, batches of 128.

# %%
FAILING = {"lr": 1e-3, "beta1": 0.9}  # the settings that collapse
rng = np.random.default_rng(0)
Z = rng.standard_normal((2500, 2)).astype(np.float32)  # the fixed noise we score and plot


def with_dropout(D, p, seed=0):
    """The same discriminator with Dropout(p) after each LeakyReLU."""
    layers = []
    for layer in D.layers:
        layers.append(layer)
        if isinstance(layer, LeakyReLU):
            layers.append(Dropout(p, seed=seed))
    return Sequential(*layers)


def train(ds, steps=STEPS, n_snapshots=6, dropout=0.0, seed=0, **settings):
    """Train the toy GAN on points of ds; returns (gan, snapshots {step: samples}, curve {step: report})."""
    G, D = toy(seed=seed)
    if dropout:
        D = with_dropout(D, dropout, seed)
    gan = GAN(G, D, latent_dim=2, seed=seed, **{**FAILING, **settings})
    data_rng = np.random.default_rng(seed)
    snap_at = set(np.linspace(steps / n_snapshots, steps, n_snapshots).astype(int))
    snapshots, curve = {}, {}
    for step in range(1, steps + 1):
        gan.train_step(ds.x[data_rng.integers(0, len(ds.x), 128)])  # (128, 2) float32, a fresh random batch
        if step in snap_at or step % max(1, steps // 25) == 0:
            samples = gan.sample(z=Z)
            curve[step] = toy2d_report(samples, ds)
            if step in snap_at:
                snapshots[step] = samples
    return gan, snapshots, curve


def show_snapshots(ds, snapshots, curve, title):
    fig, axes = plt.subplots(1, len(snapshots), figsize=(2.6 * len(snapshots), 3.2), sharex=True, sharey=True)
    for ax, (step, samples) in zip(np.atleast_1d(axes), snapshots.items()):
        ax.scatter(ds.x[:2000, 0], ds.x[:2000, 1], s=2, color="0.7")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, color="C1", alpha=0.5)
        report = curve[step]
        ax.set_title(f"step {step}: {report['modes_covered']} of {len(ds.centers)} modes\n"
                     f"high quality {report['high_quality_fraction']:.2f}", fontsize="small")  # fmt: skip
        ax.set_aspect("equal")
    lim = 1.6 * np.abs(ds.centers).max()
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    fig.suptitle(title)
    plt.show()


collapsed = train(ring8)
show_snapshots(ring8, collapsed[1], collapsed[2], "ring8, Adam(lr 1e-3, beta1 0.9): the orange points are G's samples")

# %% [markdown]
# Instead of spreading over the ring, G's samples form one narrow blob or streak, and from snapshot to snapshot it
# **moves**: D learns to reject wherever G's samples are, and G shifts all of them somewhere else. That is mode
# hopping. The numbers over training:

# %%
display(plot_mode_coverage({"Adam(1e-3, beta1 0.9)": collapsed[2]}, "ring8: coverage and quality during training"))
print("final report:", {k: v for k, v in collapsed[2][STEPS].items() if k != "mode_counts"})

# %% [markdown]
# ## The usual fixes
#
# Each fix below is a one-line change to the run that collapsed, trained for the same number of steps with the
# same seed:
#
# | fix | the change | the idea |
# |---|---|---|
# | label smoothing | `label_smoothing=0.1` | D's target for real data is $0.9$, not $1$: a less over-confident D, softer gradients for G |
# | dropout in D | `Dropout(0.3)` after each LeakyReLU | a noisier D cannot draw razor-sharp boundaries around G's current samples |
# | lower learning rate | `lr=1e-4` | smaller steps: less overshooting when the players chase each other |
# | lower momentum | `beta1=0.5` (the DCGAN setting) | Adam forgets old gradients faster; the target (the other player) keeps moving |
# | WGAN objective | `objective="wgan"`, 5 critic steps per G step | D becomes a critic giving scores, kept smooth by weight clipping; G's gradient does not vanish when D is sure |

# %%
fixes = {
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "dropout 0.3 in D": {"dropout": 0.3},
    "lower lr (1e-4)": {"lr": 1e-4},
    "beta1 = 0.5": {"beta1": 0.5},
    "WGAN, 5 critic steps": {"objective": "wgan", "lr": 1e-4, "d_steps": 5},
}
runs = {"collapsed (no fix)": collapsed}
for name, change in fixes.items():
    runs[name] = train(ring8, n_snapshots=1, **change)

fig, axes = plt.subplots(1, len(runs), figsize=(2.7 * len(runs), 3.2), sharex=True, sharey=True)
for ax, (name, (_, snapshots, curve)) in zip(axes, runs.items()):
    samples = snapshots[STEPS]
    ax.scatter(ring8.x[:2000, 0], ring8.x[:2000, 1], s=2, color="0.7")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="C1", alpha=0.5)
    report = curve[STEPS]
    ax.set_title(f"{name}\n{report['modes_covered']} of 8 modes, HQ {report['high_quality_fraction']:.2f}",
                 fontsize="small")
    ax.set_aspect("equal")
ax.set_xlim(-1.6, 1.6)
ax.set_ylim(-1.6, 1.6)
plt.show()

print(f"{'':24} {'--- at the last step ---':^30}   {'- 2nd half, mean -':^20}   all 8 modes covered")
print(f"{'run':24} {'modes':>6} {'high quality':>13} {'rev. KL':>9}   {'modes':>6} {'high quality':>13}   "
      f"{'(share of checks)':>19}")  # fmt: skip
for name, (_, _, curve) in runs.items():
    r = curve[STEPS]
    second_half = [c for step, c in curve.items() if step > STEPS // 2]  # the checks after the halfway step
    all_covered = np.mean([c["modes_covered"] == 8 for c in curve.values()])
    print(f"{name:24} {r['modes_covered']:>6} {r['high_quality_fraction']:>13.2f} {r['reverse_kl']:>9.2f}   "
          f"{np.mean([c['modes_covered'] for c in second_half]):>6.1f} "
          f"{np.mean([c['high_quality_fraction'] for c in second_half]):>13.2f}   {all_covered:>19.0%}")  # fmt: skip
display(plot_mode_coverage({name: curve for name, (_, _, curve) in runs.items()}, "ring8: each fix over training"))

# %% [markdown]
# A `nan` in the reverse-KL column means that not one of the 2,500 samples is high quality (none lies within 3
# standard deviations of a mode): there are no shares over the modes to compare with the true ones, so the
# reverse KL is undefined, and `toy2d_report` says so with `nan` instead of inventing a number. Read it as worse
# than any number in that column.
#
# Read the table with both numbers, and the scatter plots with your eyes:
#
# * A fix that **works** covers all 8 modes with a high share of high-quality samples, and keeps covering them.
#   Look at the curves and the second-half means, not only at the last step: a hopping generator covers modes by
#   luck now and then, and a good run can lose modes for a while.
# * A **blurry** result (WGAN often starts this way) touches many modes but lands few samples on them: no
#   collapse, not yet good either.
# * Some fixes only slow the hopping down.
#
# In the full-length run (seed 0, 5,000 steps) the last step alone tells the wrong story. $\beta_1 = 0.5$ covers
# all 8 modes at every check but one from step 1,200 to 4,800, mostly with 70 to 95% of its samples high quality
# (second-half means: 7.5 modes and 0.80), and then, at the very last check, it has fallen back to 3 modes and
# 0.06. Label smoothing ends on more modes (7) but never covers all 8 at once, with at most about a third of
# its samples high quality; dropout and the lower learning rate stay collapsed; WGAN touches half the modes with
# almost no high-quality samples. (In fast mode, 300 steps, no run has had time to get anywhere: at
# most about 1% of any run's samples are high quality.)
#
# So among these one-line changes the momentum is the one that mattered here: with $\beta_1 = 0.9$ each player
# keeps pushing in the direction that *was* good while the other has already moved, and halving it was the only
# change that turned the collapse into coverage for most of training. That is why the DCGAN recipe lowers
# $\beta_1$ to $0.5$. It is one seed, and the same run relapsed at the end: a lower $\beta_1$ makes the chase
# calmer, it does not end it. GAN training is chaotic, so a fair comparison uses several seeds and the whole curve.
#
# ## The bigger grid
#
# grid25 has more, and farther apart, modes. The DCGAN optimizer settings ($\beta_1 = 0.5$) against the failing
# ones:

# %%
for name, change in [("Adam(1e-3, beta1 0.5)", {"beta1": 0.5}), ("Adam(1e-3, beta1 0.9)", {})]:
    gan, snapshots, curve = train(grid25, n_snapshots=4, **change)
    show_snapshots(grid25, snapshots, curve, f"grid25, {name}")

# %% [markdown]
# Two things to notice. A generator that covers the grid still draws **lines** between the modes: $G$ is a
# continuous function of $z$, so samples whose noise lies between two modes' regions land between the modes. That
# is why the high-quality fraction stays well below 1 even in a good run. And "modes covered" alone is lenient: a
# blur that spreads over the whole square touches many modes with a few lucky samples, which only the
# high-quality fraction exposes.

# %% [markdown]
# ## Mode collapse on digits
#
# On images you cannot count modes by eye, but you can ask the judge classifier (`minigan.judge`) which digit each
# sample is. A healthy generator spreads its samples over all ten digits; a collapsed one piles them onto a few.
# The classic MLP GAN from notebook 6 is the standard example of a generator that collapses on MNIST.

# %%
from minigan.models import mlp_gan, recipe
from minigan.optim import L1L2
from minigan.viz import show_images

r = recipe("mlp-classic")
digits = load_dataset("mnist", subset=512 if FAST else None)
G, D = mlp_gan(r.latent_dim, variant="classic", seed=0)
classic = GAN(G, D, latent_dim=r.latent_dim, lr=r.lr, beta1=r.beta1, penalty=L1L2(*r.l1l2), seed=0)
classic.fit(digits.model_input(*r.value_range), epochs=2 if FAST else 20, batch_size=r.batch_size)
samples = classic.sample()  # (64, 1, 28, 28): all of the fixed noise, in [0, 1]
show_images(samples, value_range=r.value_range, nrow=16, title="classic MLP GAN: fixed-noise samples")

# %%
# ---- JUDGE METRICS -----------------------------------------------------------------------------------
# How many digits do the samples cover? Needs the judge's weights (shipped inside the package).
from minigan.evaluate import evaluate_images
from minigan.judge import judge_or_none

judge = judge_or_none()  # None, with the reason printed, where its weights cannot be loaded

if judge is not None:
    pixels = digits.from_model(samples, *r.value_range)  # uint8 (64, 1, 28, 28)
    real = digits.x[:64]
    fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), sharey=True)
    for ax, (name, images) in zip(axes, [("64 real digits", real), ("64 generated digits", pixels)]):
        result = evaluate_images(images, judge=judge)
        ax.bar(range(10), result["class_histogram"])
        ax.set_xticks(range(10))
        ax.set_title(f"{name}: {result['classes_covered']} digits covered, class KL {result['class_kl']:.2f}")
        ax.set_xlabel("digit the judge sees")
    axes[0].set_ylabel("samples")
    plt.show()

# %% [markdown]
# ## What to remember
#
# * Mode collapse: G maps most of its noise to a few outputs; mode hopping: those outputs keep moving.
# * Measure coverage **and** quality (`toy2d_report` for points, the judge's class histogram for digits); look at
#   samples from fixed noise over time.
# * Fixes soften the discriminator (label smoothing, dropout), slow the chase (lower learning rate, lower $\beta_1$)
#   or change the game (WGAN). None is universal: compare them on more than one seed.
#
# **Next:** notebook 10 runs the same code on a GPU.
