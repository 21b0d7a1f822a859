# %% [markdown]
# # 8. The digit you asked for: a conditional GAN
#
# The DCGAN of notebook 7 draws digits, but you cannot choose which: the digit is decided somewhere inside the
# noise $z$. The first thing everyone asks next is "can I make it draw a 7?". The answer is the **conditional GAN**
# (Mirza and Osindero, 2014): give **both** players the label $y$,
#
# $$G(z, y) \to \text{an image of class } y, \qquad D(x, y) \to \text{how real the pair (image, label) looks},$$
#
# and play the same game. In this notebook you see why that is enough, the three ways a label is fed into a
# network (concatenated to the features, as an extra image channel, or through the projection term of Miyato and
# Koyama, 2018), each layer's forward and backward, and you write the backward of the one layer that holds what
# the networks learn about the labels, the `Embedding`. Then you train a conditional GAN and ask it for every digit.
#
# *About 30 minutes, plus the training: a few minutes on a quiet laptop CPU (measured below before it starts).*

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from minigan.cgan import ConditionalGAN
from minigan.data import load_dataset
from minigan.exercises import check
from minigan.gradcheck import check_layer
from minigan.layers import Concat, Embedding, Projection, Reshape, Sequential
from minigan.models import conditional_mlp_gan
from minigan.viz import image_grid, show_images

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## Why a label is enough
#
# The bundled digits come with their labels: `digits.y[i]` is the digit that image `i` shows.

# %%
digits = load_dataset("mnist", subset=320 if FAST else None)
x = digits.model_input(-1, 1)  # float32 (N, 1, 28, 28) in [-1, 1]
y = digits.y  # int64 (N,), the digit each image shows
print(x.shape, y.shape, y.dtype)
print("share of each digit:", np.round(np.bincount(y, minlength=10) / len(y), 3))

fig, axes = plt.subplots(1, 12, figsize=(12, 1.5))
for ax, image, label in zip(axes, x[:12], y[:12], strict=True):
    ax.imshow(image[0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"y = {label}")
    ax.axis("off")
plt.show()

# %% [markdown]
# The discriminator now judges **pairs**. A training step of `minigan.cgan.ConditionalGAN` shows it:
#
# * real pairs $(x, y)$: an image of the data **with its true label**;
# * fake pairs $(G(z, y'), y')$: the label $y'$ is drawn at random (uniformly over the ten digits), and G is asked
#   to draw it.
#
# So D never sees a real image with a wrong label. If G, asked for a 7, draws a perfect 3, the pair (a 3, "7") looks
# like nothing in the real data, and D can reject it without judging the strokes at all: the only way for G to fool
# D is to draw images that look like the real images **labelled 7**. In the language of notebook 1: the game now
# matches the joint distribution of (image, label), so at its end $p_g(x \mid y) = p_{\text{data}}(x \mid y)$ for
# every label. (The fake labels are drawn uniformly, while the data's class frequencies, printed above, are only close
# to a tenth each. That does not move G's target: for each label, the best G still draws exactly
# $p_{\text{data}}(x \mid y)$. Only the joint distributions differ, by how often each label comes up.)
#
# Nothing else changes: the same losses, the same two passes, the same optimizer. What is new is only **how a label
# gets into a network**, which is what the layers below do.
#
# ## A label as a vector: `Embedding`
#
# A label is an integer; a network needs numbers it can learn. The `Embedding` layer keeps a table $W$ of shape
# $(K, D)$, one learned row per class, and looks the label up:
#
# $$e = W[y] \quad (N, D), \qquad\text{the same as}\qquad e = \operatorname{onehot}(y)\, W,$$
#
# where $\operatorname{onehot}(y)$ is $(N, K)$ with a single 1 in row $i$, at column $y_i$.

# %%
embed = Embedding(10, 4, rng=np.random.default_rng(1))  # 10 classes, a vector of 4 numbers for each
labels = np.array([3, 1, 3, 7])
e = embed.forward(labels)
one_hot = (labels[:, None] == np.arange(10)).astype(np.float32)  # (4, 10)
print("e = W[y]:\n", e)
print("one_hot(y) @ W gives the same:", np.allclose(one_hot @ embed.params["W"], e))

# %% [markdown]
# Both examples labelled 3 get the same row: the embedding of a label is shared by every example that carries it.
#
# ### Exercise: `embedding_backward(dout, y, num_embeddings)`
#
# The labels are integers: they have no gradient, and the layer's backward returns none. What it must compute is
# $dW$, the gradient of the table, from $dout = \partial L / \partial e$ of shape $(N, D)$. Write $e =
# \operatorname{onehot}(y)\,W$ and this is a `Dense` layer without bias, whose input happens to be one-hot: notebook
# 2's rule for the weights of a Dense layer applies as it is. Think about what it means for a row of $dW$, and about
# a label that appears **twice** in the batch. Return an array shaped like $W$, $(K, D)$; a class that is not in the
# batch gets a row of zeros. The checker's batches repeat labels on purpose.

# %%
def embedding_backward(dout, y, num_embeddings):
    """dout: (N, D)   y: (N,) integer labels in 0..num_embeddings-1.   Returns dW: (num_embeddings, D)."""
    # YOUR CODE HERE (two or three lines)
    raise NotImplementedError


_ = check("embedding_backward", embedding_backward)  # prints its verdict

# %% [markdown]
# The library's `Embedding.backward` (in `minigan/layers/embedding.py`) adds the same product into its
# `grads["W"]`, and the gradient check of notebook 3 accepts it (the labels are integers, so only $W$ is checked):

# %%
print(check_layer(Embedding(10, 4), np.array([3, 1, 3, 7, 3])))

# %% [markdown]
# Why a product, and not the shorter `dW[y] += dout`? Because NumPy reads `dW[y]` once, adds, and writes back, so
# when a label repeats the last write wins and the other gradients are **lost**, without an error:

# %%
dout = np.ones((5, 2))
y_repeat = np.array([3, 1, 3, 7, 3])  # label 3 three times
dW_lost = np.zeros((10, 2))
dW_lost[y_repeat] += dout
dW_sum = (y_repeat[:, None] == np.arange(10)).T.astype(float) @ dout
print("row 3 with dW[y] += dout:        ", dW_lost[3])
print("row 3 with one_hot(y).T @ dout:  ", dW_sum[3])

# %% [markdown]
# (`np.add.at(dW, y, dout)` adds correctly too, and CuPy has it as well: `cupyx.scatter_add`, which `np.add.at`
# reaches on CuPy arrays from CuPy 12.1 on. The library's layers use the one-hot product all the same: it is one
# ordinary matrix product, the same code on either device, with no atomic additions. On a GPU a scatter-add adds
# the repeated rows in whatever order the threads get there, and float sums in another order differ in their last
# bits; the product gives the same numbers on every run.)
#
# ## Joining a label to the noise, or to an image: `Concat`
#
# The simplest way in is to put the label's vector **next to** the other input, along axis 1:
#
# * in a generator, $[z, \operatorname{embed}(y)]$: features of a vector, $(N, 100) + (N, 50) \to (N, 150)$;
# * in a discriminator, the label drawn as an extra **image channel**, a *label plane*: $[x, \operatorname{plane}(y)]$,
#   $(N, 1, 28, 28) + (N, 1, 28, 28) \to (N, 2, 28, 28)$.
#
# `Concat` takes two inputs and its backward returns two gradients: it cuts `dout` where the inputs were joined,
#
# $$\text{out} = [a, b] \;\Rightarrow\; da = dout[:, :C_a], \qquad db = dout[:, C_a:].$$

# %%
join = Concat()
a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
out = join.forward(a, b)
da, db = join.backward(np.arange(10.0).reshape(2, 5))
print("out:", out.shape, "  da:", da.shape, "  db:", db.shape)
print("dout = [[0..4], [5..9]] is cut into da =", da.tolist(), " and db =", db.tolist())
print(check_layer(Concat(), (a, b)))

# %% [markdown]
# Why does concatenation condition anything? The next layer is a product: for a Dense layer after $[z, e]$,
#
# $$[z, e]\,W = z\,W_z + e\,W_e,$$
#
# so the label adds its own learned vector $e W_e$ to that layer's pre-activations: a class-dependent bias, one entry
# per unit, and through those units it reaches everything that follows. Since $e = \operatorname{onehot}(y)
# W_{\text{embed}}$, the same thing could be had from the one-hot vector itself: $e W_e = \operatorname{onehot}(y)
# \,(W_{\text{embed}} W_e)$ picks row $y$ of a $(K, \text{units})$ table of biases. The embedding adds no power (the
# product of its two matrices is such a table, of rank at most $K$) and here not even economy: with $K = 10$, a
# 50-number embedding and 500 units, $10 \cdot 50 + 50 \cdot 500 = 25{,}500$ weights against $10 \cdot 500 = 5{,}000$
# for the one-hot input. What it gives is one fixed-size vector per label that any layer can take in the same way;
# with many classes and small embeddings it also saves weights.
#
# A **label plane** is an Embedding with one number per pixel, reshaped into an image: $K$ learned pictures, one per
# class. A convolution over $[x, \operatorname{plane}(y)]$ sees the label at every pixel beside the strokes. Here
# are the ten planes of a freshly initialised one (random: training gives them their shapes), and one image with its
# plane joined:

# %%
plane = Sequential(Embedding(10, 28 * 28), Reshape((1, 28, 28)))  # y (N,) -> (N, 784) -> (N, 1, 28, 28)
planes = plane.forward(np.arange(10))  # (10, 1, 28, 28)
display(show_images(planes, value_range=(-3, 3), nrow=10, title="the ten label planes, untrained"))
xy = Concat().forward(x[:1], plane.forward(y[:1]))
print("an image joined with its label plane:", xy.shape)

# %% [markdown]
# (A fixed alternative is ten one-hot planes, all zeros except the label's, as ten extra channels. It works too; a
# learned plane costs one channel instead of ten.)
#
# ## The projection discriminator: $\langle \operatorname{embed}(y), \phi(x)\rangle$
#
# Miyato and Koyama (2018) asked what a discriminator's logit *should* look like when it judges (image, label)
# pairs. Let $h = \phi(x)$ be D's features: its layers up to the last hidden one. Assume that the class probabilities
# given those features are a softmax of a linear function of $h$ (the usual classifier's last layer), both for the
# real data, $p_{\text{data}}(y \mid x)$, and for the generated images, $p_g(y \mid x)$, each with its own weights.
# Then the best logit, $\log p_{\text{data}}(x, y) - \log p_g(x, y)$ (the logit of notebook 1's $D^*$), splits into
# two terms:
#
# $$D(x, y) = \psi(h) + \langle \operatorname{embed}(y), h\rangle, \qquad h = \phi(x) \in \mathbb{R}^F,$$
#
# a label-free "how real does this look" $\psi(h)$ (a Dense to one number), plus a dot product of the features with
# the label's embedding: "how well do these features fit **this** label". The `Projection` layer is the dot product,
# one number per example; each factor's gradient is the other factor:
#
# $$\text{out}_n = \sum_j h_{nj}\, e_{nj} \;\Rightarrow\; dh = dout \odot e, \qquad de = dout \odot h$$
#
# ($dout$ of shape $(N, 1)$ broadcast over the $F$ features). $de$ then flows into the embedding's backward: your
# exercise.

# %%
dot = Projection()
h, e = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
print("out:", dot.forward(h, e).ravel(), " = sum(h * e, axis=1):", (h * e).sum(axis=1))
dh, de = dot.backward(np.ones((3, 1)))
print("with dout = 1: dh == e", np.allclose(dh, e), "  de == h", np.allclose(de, h))
print(check_layer(Projection(), (h, e)))

# %% [markdown]
# A projection sees the label only **after** $\phi$ has turned the image into features; a label plane shows it to
# the very first layer. A network can use either, or both.
#
# A generator has one more door: its **BatchNorm**. `ConditionalBatchNorm(C, K)` normalises as BatchNorm does, then
# scales and shifts with the label's own row of two $(K, C)$ tables, $\text{out} = \gamma[y]\,\hat{x} + \beta[y]$.
# Its parameter gradients are your exercise's one-hot product again, $d\gamma = \operatorname{onehot}(y)^\top
# \sum_{\text{positions}} (dout \odot \hat{x})$ and $d\beta = \operatorname{onehot}(y)^\top \sum_{\text{positions}}
# dout$, and `minigan gradcheck` checks them. `conditional_dcgan`'s generator takes the label this way, at every
# normalised layer, and leaves its first layer to $z$ alone: with the label's embedding joined to $z$ instead, that
# DCGAN learned one drawing per digit and ignored its noise (`benchmarks/RESULTS.md` has the measurements).
#
# ## The two conditional networks
#
# `minigan.models` builds two pairs: `conditional_mlp_gan` (Dense layers; a few seconds per epoch on a CPU) and
# `conditional_dcgan` (the DCGAN's convolutions; many times slower per step on a CPU, the one to train on a GPU or
# from the command line: `minigan train --model cdcgan`). Rather than describe them, print them: each is a
# `ConditionalGenerator` $G(z, y)$ and a `ConditionalDiscriminator` $D(x, y)$, and the printout lists their parts, so
# you can see which of the layers above each one uses, and where.

# %%
LATENT = 100
G, D = conditional_mlp_gan(latent_dim=LATENT, seed=0)
print(G)
print(D)
z = rng.standard_normal((4, LATENT)).astype(np.float32)
asked = np.array([0, 1, 2, 3])
fake = G.forward(z, asked)
print("G(z, y):", z.shape, asked.shape, "->", fake.shape)
print("D(x, y):", fake.shape, asked.shape, "->", D.forward(fake, asked).shape)
print(f"G: {G.num_params():,} parameters   D: {D.num_params():,} parameters")

# %% [markdown]
# ## Training
#
# `ConditionalGAN` is notebook 6's `GAN` with labels alongside: `fit(x, y, ...)` hands each real batch's labels to D
# and draws the fakes' labels itself. Its fixed grid has one **row per class**: row $c$ asks for the digit $c$, and
# column $j$ uses the same noise in every row, so a column shows one "style" drawn as each digit.
#
# Measure a few steps first (after three warm-up steps, which are slower: they also set up the buffers):

# %%
BATCH = 32 if FAST else 64
EPOCHS = 2 if FAST else 40
STEPS = len(x) // BATCH  # steps per epoch
gan = ConditionalGAN(G, D, latent_dim=LATENT, num_classes=10, per_class=10, lr=2e-4, beta1=0.5, seed=0)


def timed_steps(n, first=0):
    """Seconds for n training steps on consecutive batches, starting at batch `first`."""
    t0 = time.perf_counter()
    for i in range(first, first + n):
        j = i % STEPS
        gan.train_step(x[j * BATCH : (j + 1) * BATCH], y[j * BATCH : (j + 1) * BATCH])
    return time.perf_counter() - t0


timed_steps(3)  # warm-up: the first steps also allocate the buffers, so they are slower than the rest
per_step = timed_steps(20, first=3) / 20
print(f"{per_step * 1000:.0f} ms per step, {STEPS} steps per epoch: about {per_step * STEPS:.0f} s per epoch, "
      f"so about {per_step * STEPS * EPOCHS / 60:.1f} minutes for {EPOCHS} epochs on this machine")  # fmt: skip

# %% [markdown]
# Now a fresh pair, trained for `EPOCHS` epochs (40; 2 in fast mode), for about the time estimated above: the cell
# prints how long it really took. On a busy 2-core CPU our runs took about 6 minutes with one BLAS thread per process
# (`OMP_NUM_THREADS=1`) and nearly 40 with two, whose threads fought other programs for the cores; in both the
# estimate was within a third of the truth. The grid is saved after every epoch, and a line of figures is printed
# after the first epoch and every fifth.

# %%
G, D = conditional_mlp_gan(latent_dim=LATENT, seed=0)
gan = ConditionalGAN(G, D, latent_dim=LATENT, num_classes=10, per_class=10, lr=2e-4, beta1=0.5, seed=0)
grids = {0: gan.sample()}


def on_epoch_end(gan):
    grids[gan.epoch] = gan.sample()  # (100, 1, 28, 28): row c asks for the digit c
    if gan.epoch == 1 or gan.epoch % 5 == 0 or gan.epoch == EPOCHS:  # one line now and then, not a bar per step
        last = {k: np.mean(gan.history[k][-STEPS:]) for k in ("d_loss", "g_loss", "d_real", "d_fake")}
        print(f"epoch {gan.epoch}/{EPOCHS}, {time.perf_counter() - t0:.0f} s so far; this epoch's means: "
              + "  ".join(f"{k} {v:.2f}" for k, v in last.items()))  # fmt: skip


t0 = time.perf_counter()
gan.fit(x, y, epochs=EPOCHS, batch_size=BATCH, on_epoch_end=on_epoch_end, progress=False)
minutes = (time.perf_counter() - t0) / 60
print(f"{EPOCHS} epochs in {minutes:.1f} minutes ({minutes * 60 / EPOCHS:.1f} s per epoch)")

# %%
shown = sorted({0, 1, EPOCHS // 3, EPOCHS})
fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.4))
for ax, epoch in zip(axes, shown, strict=True):
    ax.imshow(image_grid(grids[epoch], nrow=10), cmap="gray")
    ax.set_title(f"after epoch {epoch}" if epoch else "before training")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The digit you asked for
#
# The fixed grid after the last epoch, each row labelled with the digit it asked for:

# %%
ROW = 30  # pixels per row of the grid: 28 and the 2-pixel padding
plt.figure(figsize=(7, 7))
plt.imshow(image_grid(grids[EPOCHS], nrow=10), cmap="gray")
plt.yticks(2 + ROW * np.arange(10) + 14, [f"asked: {c}" for c in range(10)])
plt.xticks([])
plt.title(f"G(z, y) after {EPOCHS} epochs: row c asks for the digit c")
plt.show()

# %% [markdown]
# ## Did it draw what we asked for? The judge
#
# Notebook 7's judge, a classifier trained on real digits, can say which digit it sees. Ask G for 1,000 samples,
# each digit in turn ($0, 1, \ldots, 9, 0, 1, \ldots$), and count how often the judge's digit is the one asked for:
# the **label accuracy**. For comparison, the same count for 1,000 real digits the judge never trained on, with
# their true labels. That second figure is the mark: a G whose digits are drawn the way real ones are should score
# about the same, since the judge then misreads its samples as often as it misreads real digits. A score above it
# would not mean better digits, only easier ones, more clear-cut than real handwriting (as from the G of the next
# section that draws one perfect 7). The table also gives notebook 7's Fréchet distance between the judge's features
# of the samples and of real digits, taken as two clouds: lower is closer to the real digits.

# %%
# ---- LABEL ACCURACY -----------------------------------------------------------------------------------
from minigan.evaluate import evaluate_images, real_digits
from minigan.judge import judge_or_none

judge = judge_or_none()  # None, with the reason printed, where its weights cannot be loaded

if judge is not None:
    N_SAMPLES = 200 if FAST else 1000
    asked = np.arange(N_SAMPLES) % 10  # 0, 1, ..., 9, 0, 1, ...: every split of the score sees every digit
    z = np.random.default_rng(1).standard_normal((N_SAMPLES, LATENT)).astype(np.float32)
    samples = np.concatenate([digits.from_model(gan.sample(z=z[i : i + 200], labels=asked[i : i + 200]), -1, 1)
                              for i in range(0, N_SAMPLES, 200)])  # fmt: skip
    real_x, real_y = real_digits()
    rows = [("G, asked for each digit", samples, asked), ("real digits, unseen, true labels", real_x[-1000:],
                                                          real_y[-1000:])]  # fmt: skip
    print(f"{'':34} {'label accuracy':>15} {'Frechet distance':>17}")
    for name, images, wanted in rows:
        result = evaluate_images(images, judge=judge, labels=wanted)
        print(f"{name:34} {result['label_accuracy']:>15.3f} {result['frechet_distance']:>17.1f}")

    predicted = judge.features_and_logits(samples)[1].argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (asked, predicted), 1)  # row: digit asked for, column: digit the judge sees
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    ax1.bar(range(10), confusion.diagonal() / confusion.sum(1))
    ax1.set_xticks(range(10))
    ax1.set_xlabel("digit asked for")
    ax1.set_ylabel("label accuracy")
    ax1.set_ylim(0, 1)
    ax2.imshow(confusion, cmap="Blues")
    for i, j in zip(*np.nonzero(confusion), strict=True):
        ax2.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7)
    ax2.set_xticks(range(10))
    ax2.set_yticks(range(10))
    ax2.set_xlabel("digit the judge sees")
    ax2.set_ylabel("digit asked for")
    plt.show()

    per_digit = confusion.diagonal() / confusion.sum(1)
    weakest = np.argsort(per_digit, kind="stable")[:3]
    print("the three weakest digits:", "  ".join(f"{c}: {per_digit[c]:.2f}" for c in weakest))
    off = confusion * (1 - np.eye(10, dtype=int))  # the mistakes only
    pairs = zip(*np.unravel_index(np.argsort(-off, axis=None, kind="stable")[:5], off.shape), strict=True)
    print(f"the five largest confusions (asked -> seen, out of {N_SAMPLES // 10} each):",
          "  ".join(f"{i}->{j}: {off[i, j]}" for i, j in pairs))  # fmt: skip

# %% [markdown]
# What to read in these printouts (40 epochs, seed 0). The exact figures depend on the machine: on one machine a
# seeded run repeats itself, but another BLAS, or another number of BLAS threads, adds the same numbers in another
# order, and over thousands of steps the differences in the last bits grow into a different run. We ran the chapter
# with one and with two BLAS threads on a 2-core CPU; in both:
#
# * the judge read the digit we asked for in most of G's samples (0.89 and 0.92 in our two runs), and in about 0.98
#   of the real digits it never trained on. What it misses on real digits is the judge's own error; the rest of G's
#   shortfall is G's;
# * 8 and 9 were among the three weakest digits that the printout names (at about 0.7 each in one run, near 0.87 in
#   the other); the third was a 5 in one run and, in the other, a 4, the weakest of all there;
# * the largest confusions, printed beside them and drawn off the diagonal of the matrix, were between digits that
#   share most of their strokes: 8 read as 3 in both runs, and 9 as 7 or 3 in one, 4 as 9 in the other;
# * the Fréchet distance of the samples was several times the real digits' (about 6). In the grid, the strokes are
#   speckled with isolated bright pixels, which no real digit has.
#
# In the grids, before training every cell is grey noise. After one epoch there are bright blobs: within a row the ten
# cells are nearly identical (the noise has hardly any effect yet), while the rows already differ, since each label
# starts with a blob of its own. By epoch 13 most cells show their row's digit and the columns differ; by epoch 40
# the strokes are cleaner. In fast mode G has trained for a few seconds, and neither the grids nor the numbers mean
# anything.
#
# ## Variety within a digit
#
# Label accuracy rewards obedience, not variety: a G that drew one perfect 7 every time it is asked for a 7 would
# score 1. That is mode collapse **within a class**, and conditioning invites it (in effect each label is a small
# game of its own, with a tenth of the data). A number for it: in the judge's feature space, how far the samples of one
# digit lie from their own average, divided by the same for real digits of that digit. Near 1, as varied as real
# digits; near 0, copies of one another.

# %%
if judge is not None:
    def spread(features):
        """Mean distance of (n, F) feature vectors from their average."""
        return float(np.linalg.norm(features - features.mean(0), axis=1).mean())

    fake_features = judge.features_and_logits(samples)[0]  # (N_SAMPLES, F)
    real_features = judge.features_and_logits(real_x[-1000:])[0]  # (1000, F)
    ratio = [spread(fake_features[asked == c]) / spread(real_features[real_y[-1000:] == c]) for c in range(10)]
    print("spread of G's samples / spread of real digits, for each digit asked for:")
    print("  " + "  ".join(f"{c}: {r:.2f}" for c, r in enumerate(ratio)))
    lo, hi = int(np.argmin(ratio)), int(np.argmax(ratio))
    print(f"lowest {ratio[lo]:.2f} (the {lo}s), highest {ratio[hi]:.2f} (the {hi}s)")

# %% [markdown]
# The last line of the printout gives this run's lowest and highest ratio. In our two runs every ratio lay between
# about 0.7 (the 7s, in both) and 1.1 (a ratio above 1 can also mean badly drawn samples scattered in feature space,
# not only variety): no digit has collapsed to a few copies, and along each row of the grid the digit changes its
# slant, width and thickness from column to column. Since a column keeps its noise, a column tends to keep its style
# too: the noise carries the style, the label the digit.
#
# In fast mode the ratios are near 0.1, which looks like a total collapse. It is not one in the sense above: after a
# few seconds of training G has not yet learnt to use its noise at all, and draws much the same blob for every $z$.
#
# ## What to remember
#
# * A conditional GAN gives both players the label. D sees real images only with their true labels, so the only way
#   for G to fool it is to draw what the real images **of that label** look like.
# * A label enters a network as a learned vector (`Embedding`), joined to the features or channels (`Concat`, a label
#   plane), or dotted with D's features (`Projection`: $\langle \operatorname{embed}(y), \phi(x)\rangle$).
# * The Embedding's backward is Dense's with a one-hot input: $dW = \operatorname{onehot}(y)^\top dout$, which
#   **adds** the gradients of a repeated label (`dW[y] += dout` silently keeps only one).
# * The judge's label accuracy measures obedience only. Variety within a label is a separate question: look along
#   the grid's rows, and compare each digit's spread with the real digits'.
#
# **Next:** notebook 9, mode collapse: a GAN that draws only part of the data, how to see it, and what helps.
