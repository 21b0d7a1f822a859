# %% [markdown]
# # 7. DCGAN: a convolutional GAN on MNIST
#
# Radford, Metz and Chintala (2015) found a recipe that made GANs on images train reliably, the **DCGAN**:
#
# * no pooling: D downsamples with **strided convolutions**, G upsamples with **transposed convolutions**;
# * **BatchNorm** in the generator; **LeakyReLU** in the discriminator; **Tanh** on G's output;
# * no hidden fully connected layers (only G's first projection from the noise, and D's last logit);
# * **Adam** with learning rate $2 \times 10^{-4}$ and $\beta_1 = 0.5$.
#
# `minigan.models.dcgan` follows the Keras DCGAN example for 28x28 digits. In this notebook you train it with
# fixed noise so you can watch the same samples improve, learn to read the training curves, and see what each
# hyperparameter does.
#
# *About 30 minutes, plus training time (measured below).*

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from minigan.data import load_dataset
from minigan.gan import GAN
from minigan.models import dcgan, recipe
from minigan.viz import plot_history, show_images

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning

# %% [markdown]
# ## The two networks
#
# Follow the shapes through the generator: a dense projection to $128 \times 7 \times 7$, then two transposed
# convolutions, each doubling the image side ($7 \to 14 \to 28$). The discriminator mirrors it with strided
# convolutions ($28 \to 14 \to 7$) and ends in one logit.

# %%
r = recipe("dcgan")  # latent 128, batch 64, Adam(2e-4, beta1 0.5), 5 epochs
G, D = dcgan(latent_dim=r.latent_dim, seed=0)


def trace(net, x):
    print(f"  {str(x.shape):>18}  input")
    for layer in net.layers:
        x = layer.forward(x)
        print(f"  {str(x.shape):>18}  {layer!r}")
    return x


print(f"G: {G.num_params():,} parameters")
fake = trace(G, np.random.default_rng(0).standard_normal((2, r.latent_dim)).astype(np.float32))
print(f"D: {D.num_params():,} parameters")
_ = trace(D, fake)

# %% [markdown]
# ## The data
#
# The 10,000 real MNIST digits bundled with minigan, scaled to $[-1, 1]$ to match G's Tanh.

# %%
digits = load_dataset("mnist", subset=320 if FAST else None)
x = digits.model_input(-1, 1)  # float32 (N, 1, 28, 28) in [-1, 1]
print(x.shape, x.dtype, float(x.min()), float(x.max()))
show_images(x[:32], nrow=16, title="real digits")

# %% [markdown]
# ## How long will it take?
#
# A DCGAN step is a few hundred matrix products of real size. Measure a few steps on this machine before
# committing to a length:

# %%
gan = GAN(G, D, latent_dim=r.latent_dim, lr=r.lr, beta1=r.beta1, seed=0)
BATCH = 32 if FAST else r.batch_size
t0 = time.perf_counter()
for i in range(3):
    gan.train_step(x[i * BATCH : (i + 1) * BATCH])
per_step = (time.perf_counter() - t0) / 3
steps_per_epoch = len(x) // BATCH
print(f"{per_step:.2f} s per step, {steps_per_epoch} steps per epoch: about {per_step * steps_per_epoch / 60:.1f} "
      f"minutes per epoch on this machine")  # fmt: skip

# %% [markdown]
# On a 2-core laptop CPU one epoch over the 10,000 digits takes one to a few minutes; on a GPU (notebook 10), seconds.
# The recipe trains for 5 epochs; digits are recognisable after 1 or 2. Set `EPOCHS` to what your patience allows.
#
# ## Training with fixed noise
#
# `gan.fixed_noise` is a set of 64 noise vectors drawn once. After every epoch we ask G for their images: the same
# inputs each time, so any change is the training's doing. (We start from a fresh GAN so the timing steps above
# do not count.)

# %%
EPOCHS = 2 if FAST else r.epochs
G, D = dcgan(latent_dim=r.latent_dim, seed=0)
gan = GAN(G, D, latent_dim=r.latent_dim, lr=r.lr, beta1=r.beta1, seed=0)
grids = {0: gan.sample(32)}


def on_epoch_end(gan):
    grids[gan.epoch] = gan.sample(32)  # eval mode: BatchNorm uses its running statistics


t0 = time.perf_counter()
gan.fit(x, epochs=EPOCHS, batch_size=BATCH, on_epoch_end=on_epoch_end)
print(f"{EPOCHS} epochs in {(time.perf_counter() - t0) / 60:.1f} minutes")

# %%
for epoch, samples in grids.items():
    display(show_images(samples, nrow=16, title=f"after epoch {epoch}" if epoch else "before training"))

# %% [markdown]
# Before training, the generator draws faint grey noise, much the same for every $z$. After one epoch, strokes;
# after a few, digits, and different noise vectors give different digits. Each place in the grid (row and column)
# belongs to one noise vector, and it keeps roughly its digit from epoch to epoch once training has settled: G is
# refining a mapping, not starting over.
#
# ## Reading the curves

# %%
plot_history(gan.history)

# %% [markdown]
# There is no single loss going down: the two losses measure a game. What to look at:
#
# * **Middle panel, D's verdicts.** In a healthy run $D(x)$ stays above $D(G(z))$, both well inside $(0, 1)$,
#   with no steady drift towards 0 or 1. As the samples get good the two close in on $\tfrac12$ from either side
#   (for this recipe on MNIST, typically to about $0.55$ and $0.45$).
# * **D too strong:** $D(x) \to 1$ and $D(G(z)) \to 0$, the discriminator's loss goes to 0 and the generator's
#   climbs; the samples stop improving. D has won, and a won game teaches G nothing useful (notebook 6's classic
#   MLP GAN is the extreme case).
# * **D too weak:** $D(G(z))$ as high as $D(x)$, or higher, **while the samples are still bad**: D cannot tell, or
#   is fooled by poor fakes, so its opinion carries no information for G. (At the end of a good run the verdicts
#   approach each other too; the samples tell the two situations apart.)
# * **Bottom panel, gradient norms.** Spikes are unstable steps; a generator norm collapsing towards 0 means G has
#   stopped learning.
#
# You can provoke the first two cheaply. Below, three short runs of the (fast) improved MLP GAN from notebook 6:
# the recipe; D's learning rate ten times higher and G's ten times lower; and the reverse.

# %%
from minigan.models import mlp_gan
from minigan.viz import moving_average

mlp_x = load_dataset("mnist", subset=640 if FAST else 4000).model_input(-1, 1)
settings = {"balanced (recipe)": 1.0, "D too strong (D's lr x10, G's / 10)": 10.0,
            "D too weak (D's lr / 10, G's x10)": 0.1}  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(14, 3.4), sharey=True)
for ax, (title, factor) in zip(axes, settings.items()):
    G_m, D_m = mlp_gan(seed=0)
    mlp_gan_run = GAN(G_m, D_m, latent_dim=100, lr=2e-4, beta1=0.5, seed=0)
    mlp_gan_run.opt_D.lr *= factor  # tip the balance: one player learns faster, the other slower
    mlp_gan_run.opt_G.lr /= factor
    mlp_gan_run.fit(mlp_x, epochs=1 if FAST else 3, batch_size=64, progress=False)
    h = mlp_gan_run.history
    for key, label, color in [("d_real", "D(x)", "C2"), ("d_fake", "D(G(z))", "C3")]:
        ax.plot(h["step"], moving_average(np.array(h[key]), 10), color=color, label=label)
    ax.axhline(0.5, color="0.5", linestyle="--", linewidth=1)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylim(0, 1)
axes[0].legend()
plt.show()

# %% [markdown]
# ## The hyperparameters and what they do
#
# | hyperparameter | DCGAN recipe | its role |
# |---|---|---|
# | learning rate | $2 \times 10^{-4}$, both players | too high: the players overshoot each other and oscillate; too low: slow, and D may fall behind or run ahead |
# | Adam $\beta_1$ | $0.5$ (default $0.9$) | shorter momentum memory: the target moves (it is the other player), so old gradients go stale fast |
# | batch size | 64 | larger: smoother gradients, fewer steps per epoch; BatchNorm's statistics depend on it too |
# | latent size | 128 | how many numbers describe one sample; too small limits variety |
# | LeakyReLU slope in D | 0.2 | keeps gradient flowing back to G for negative pre-activations |
# | Dropout in D | 0.3 | stops D memorising the data and overpowering G |
# | kernel 5, stride 2 | | each layer halves (D) or doubles (G) the image side; $k$ not a multiple of the stride risks checkerboards (notebook 4) |
# | BatchNorm in G | momentum 0.1 | keeps G's activations well scaled; the running statistics are used by `sample` |
# | D steps per G step ($k$) | 1 | more makes D stronger (the original paper's $k$; WGAN uses 5) |
# | label smoothing | 0 | real target $0.9$ instead of $1$ tames an over-confident D (notebook 9) |
#
# ## How good are the digits? The judge
#
# A GAN has no loss that measures sample quality. The usual answer is to ask a classifier trained on real data:
# confident, varied class predictions mean recognisable, varied digits. minigan ships such a classifier, the
# *judge* (`minigan.judge`), and `minigan.evaluate` turns its opinions into numbers: the Fréchet distance to the
# real digits (lower is better), an Inception-style score (1 to 10, higher is better) and how many of the ten
# digits the samples cover.
#
# These numbers depend on how many samples are scored: the Fréchet distance of a small set is large even for
# real digits, and the Inception-style score of 64 samples cannot be compared with one of 2,000. So the cell
# scores G's 64 fixed-noise samples beside 64 real digits the judge has never seen (the last of the bundled
# digits), and 2,000 new samples of G (200 in fast mode) beside 1,000 unseen real digits: the sizes the main
# README's table uses (`minigan evaluate`).

# %%
# ---- JUDGE METRICS -----------------------------------------------------------------------------------
# Scores the generator's samples with the judge classifier when its weights (shipped inside the package) load.
from minigan.evaluate import evaluate_images
from minigan.judge import judge_or_none

judge = judge_or_none()  # None, with the reason printed, where its weights cannot be loaded

if judge is not None:
    from minigan.evaluate import real_digits

    samples = digits.from_model(gan.sample(), -1, 1)  # uint8 (64, 1, 28, 28): all of the fixed noise
    N_MORE = 200 if FAST else 2000
    z = np.random.default_rng(1).standard_normal((N_MORE, r.latent_dim)).astype(np.float32)
    # uint8 (N_MORE, 1, 28, 28) from noise G has not been shown, 200 at a time to keep memory small
    more = np.concatenate([digits.from_model(gan.sample(z=z[i : i + 200]), -1, 1) for i in range(0, N_MORE, 200)])
    unseen = real_digits()[0][-1000:]  # the judge's held-out digits, uint8 (1000, 1, 28, 28)
    rows = [
        ("G, the 64 fixed-noise samples", samples),
        ("64 real digits, unseen", unseen[:64]),
        (f"G, {N_MORE:,} new samples", more),
        ("1,000 real digits, unseen", unseen),
    ]
    print(f"{'':32} {'Frechet distance':>17} {'Inception-style':>16} {'digits covered':>15}")
    for name, images in rows:
        result = evaluate_images(images, judge=judge)
        print(f"{name:32} {result['frechet_distance']:>17.1f} {result['inception_score']:>16.2f} "
              f"{result['classes_covered']:>12} of 10")  # fmt: skip
    result = evaluate_images(samples, judge=judge)
    plt.figure(figsize=(6, 2.5))
    plt.bar(range(10), result["class_histogram"])
    plt.xticks(range(10))
    plt.xlabel("digit the judge sees")
    plt.ylabel("samples")
    plt.title("what the judge sees in the 64 fixed-noise samples")
    plt.show()

# %% [markdown]
# Read each row of G against the real row of the same size below it. Real digits the judge has never seen score a
# Fréchet distance of about 48 and an Inception-style score of about 5.8 when only 64 are scored, against about 6
# and 9.6 for 1,000 of them: at 64 samples much of the distance is the small sample, not the generator. The main
# README's figures (2,000 samples, scored by `minigan evaluate`) compare with the third row, not the first. In
# fast mode G has trained for a few seconds and its rows mean little.

# %% [markdown]
# ## What to remember
#
# * Convolutions in both players, BatchNorm in G, LeakyReLU and Dropout in D, Adam(2e-4, 0.5): the DCGAN recipe.
# * Watch samples from **fixed noise**; read D's two verdicts, not the losses alone.
# * D too strong and D too weak both starve G of useful gradient; learning rates and D's regularisation move the
#   balance.
#
# **Next:** notebook 8 gives both players a label, so that G draws the digit you ask for.
