# %% [markdown]
# # 5. BatchNorm and Dropout: training mode and evaluation mode
#
# Two layers behave differently while a network trains and when it is used:
#
# * **BatchNorm** normalises with the statistics of the current batch while training, and with running averages
#   of them afterwards;
# * **Dropout** zeroes random units while training, and does nothing afterwards.
#
# Every layer has a `training` flag, switched with `layer.train()` and `layer.eval()`. `GAN.sample` puts the
# generator in evaluation mode to draw samples and back in training mode after. In this notebook you watch both
# modes, derive BatchNorm's backward pass (the hardest small formula in the library) and write it.
#
# *About 30 minutes.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from minigan.exercises import check
from minigan.layers import BatchNorm, Dropout

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## BatchNorm in training mode
#
# For input $(N, C)$ (or $(N, C, H, W)$, then over $N, H, W$), per channel and over the $m$ values of the batch:
#
# $$\mu = \frac1m\sum_i x_i, \qquad \sigma^2 = \frac1m\sum_i (x_i - \mu)^2, \qquad
# \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y_i = \gamma \hat x_i + \beta.$$
#
# Every channel of $\hat x$ has mean 0 and variance 1 **over the batch**; $\gamma$ and $\beta$ are learned, so the
# layer can still choose any scale and shift. At the same time it keeps **running** averages for later
# (momentum $0.1$, as PyTorch):
#
# $$\text{running\_mean} \leftarrow 0.9\,\text{running\_mean} + 0.1\,\mu, \qquad
# \text{running\_var} \leftarrow 0.9\,\text{running\_var} + 0.1\,\tfrac{m}{m-1}\sigma^2.$$
#
# Feed batches from a distribution whose channels have known means and variances, and watch the running
# statistics converge:

# %%
true_mean = np.array([5.0, -2.0, 0.5])
true_std = np.array([3.0, 0.5, 1.0])
bn = BatchNorm(3)
steps = 60 if FAST else 100
trace_mean, trace_var = [], []
for _ in range(steps):
    batch = (true_mean + true_std * rng.standard_normal((32, 3))).astype(np.float32)
    bn.forward(batch)  # training mode: normalises with the batch's statistics, updates the running ones
    trace_mean.append(bn.running_mean.copy())
    trace_var.append(bn.running_var.copy())

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.5))
for c in range(3):
    ax1.plot(np.array(trace_mean)[:, c], color=f"C{c}", label=f"channel {c}")
    ax1.axhline(true_mean[c], color=f"C{c}", linestyle="--", linewidth=1)
    ax2.plot(np.array(trace_var)[:, c], color=f"C{c}")
    ax2.axhline(true_std[c] ** 2, color=f"C{c}", linestyle="--", linewidth=1)
ax1.set_title("running_mean (dashed: the true mean)")
ax2.set_title("running_var (dashed: the true variance)")
for ax in (ax1, ax2):
    ax.set_xlabel("training batches seen")
ax1.legend()
plt.show()

# %% [markdown]
# They start at 0 and 1 and close the gap by a factor $0.9$ per batch: after 20 batches $0.9^{20} \approx 12\%$ of
# the initial value is left, after 50 about $0.5\%$. They then jitter around the truth, because each batch's
# statistics do.
#
# ## Why evaluation mode exists
#
# In training mode, an example's output depends on **the other examples in its batch**. Put the same example into
# two different batches:

# %%
example = np.array([[4.0, -1.0, 2.0]], dtype=np.float32)
batch_a = np.concatenate([example, (true_mean + true_std * rng.standard_normal((7, 3))).astype(np.float32)])
batch_b = np.concatenate([example, (true_mean + true_std * rng.standard_normal((7, 3))).astype(np.float32)])

bn_check = BatchNorm(3)  # a second layer that starts from the running statistics learned above
bn_check.running_mean, bn_check.running_var = bn.running_mean.copy(), bn.running_var.copy()
print("training mode, batch A:", bn_check.forward(batch_a)[0].round(3))
print("training mode, batch B:", bn_check.forward(batch_b)[0].round(3))
bn_check.eval()
print("eval mode,     batch A:", bn_check.forward(batch_a)[0].round(3))
print("eval mode,     batch B:", bn_check.forward(batch_b)[0].round(3))
print("eval mode,     alone  :", bn_check.forward(example)[0].round(3))

# %% [markdown]
# In evaluation mode the running statistics are constants, so each example is treated on its own, and a batch of
# one works. (In training mode a batch of one has no variance; minigan refuses it with a clear error.)
#
# ## BatchNorm backward
#
# Let $g$ = `dout`. The parameters are easy: $d\gamma = \sum_i g_i \hat x_i$ and $d\beta = \sum_i g_i$. For the
# input, the catch is that $\mu$ and $\sigma$ **depend on every $x_i$** of the batch. Write $s = 1/\sqrt{\sigma^2 +
# \epsilon}$ (`inv_std`) and differentiate $\hat x_j = (x_j - \mu)\,s$ with respect to $x_i$:
#
# $$\frac{\partial \hat x_j}{\partial x_i} = s\Big(\delta_{ij} - \frac1m\Big) - \frac{s}{m}\,\hat x_i \hat x_j.$$
#
# The first term is the direct path and the mean's path; the second comes through $\sigma$ (using
# $\partial\sigma^2/\partial x_i = \frac2m(x_i - \mu)$). Summing $\gamma g_j \,\partial\hat x_j/\partial x_i$
# over $j$:
#
# $$dx = \gamma\, s\,\Big(g - \operatorname{mean}(g) - \hat x \odot \operatorname{mean}(g \odot \hat x)\Big),$$
#
# means over the batch, per channel. In evaluation mode $\mu$ and $\sigma$ are constants and only $dx = \gamma s g$
# is left. Notebook 3 showed what happens if the last term is forgotten: a check with an all-ones upstream gradient
# cannot see it.
#
# ### Exercise: `batchnorm_backward(dout, x_hat, gamma, inv_std)`
#
# Training mode, input $(N, C)$: means and sums over axis 0. `gamma` and `inv_std` have shape $(C,)$ and broadcast.

# %%
def batchnorm_backward(dout, x_hat, gamma, inv_std):
    """dout, x_hat: (N, C)   gamma, inv_std: (C,).   Returns (dx, dgamma, dbeta) with shapes (N, C), (C,), (C,)."""
    # YOUR CODE HERE (about four lines)
    raise NotImplementedError


check("batchnorm_backward", batchnorm_backward)

# %% [markdown]
# **In a GAN.** The DCGAN's generator uses BatchNorm after its first two layers: it keeps the activations of a
# deep generator in a sane range from the first step, which is much of why DCGANs train at all. The discriminator
# here has none, for a reason specific to GANs: D judges the real and the fake batch together, and batch
# statistics would mix the two.
#
# ## Inverted dropout
#
# While training, Dropout zeroes each unit with probability $p$ and scales the survivors by $1/(1 - p)$:
#
# $$y = x \odot \frac{m}{1 - p}, \quad m_i \sim \text{Bernoulli}(1 - p) \qquad\Rightarrow\qquad
# \mathbb{E}[y] = x.$$
#
# Because the expected output already equals the input, evaluation mode is simply $y = x$: nothing to rescale at
# test time (that is what "inverted" refers to). The backward pass multiplies by the same mask, scaled by
# $1/(1-p)$. Here is a digit through Dropout($p = 0.5$): three training passes (three masks), and the average of
# many passes, which approaches the evaluation output.

# %%
from minigan.data import load_dataset

digit = load_dataset("mnist", subset=1).model_input(0, 1)  # (1, 1, 28, 28) in [0, 1]
drop = Dropout(0.5, seed=0)
passes = [drop.forward(digit)[0, 0] for _ in range(3)]
n_avg = 50 if FAST else 500
average = np.mean([drop.forward(digit)[0, 0] for _ in range(n_avg)], axis=0)
drop.eval()
panels = passes + [average, drop.forward(digit)[0, 0]]
titles = ["training pass 1", "training pass 2", "training pass 3", f"mean of {n_avg} passes", "eval mode"]

fig, axes = plt.subplots(1, 5, figsize=(13, 3))
for ax, img, title in zip(axes, panels, titles):
    ax.imshow(img, cmap="gray", vmin=0, vmax=2)
    ax.set_title(title)
    ax.set_axis_off()
plt.show()
print(f"mean pixel: input {digit.mean():.4f}, one training pass {passes[0].mean():.4f}, "
      f"average of passes {average.mean():.4f}")  # fmt: skip

# %% [markdown]
# Surviving pixels are drawn twice as bright (scale $1/(1-p) = 2$), so the average brightness is unchanged. In a
# discriminator, Dropout keeps D from memorising the training set and overpowering G (the improved MLP GAN and the
# DCGAN both use $p = 0.3$ in D). Its masks come from the layer's own seeded generator, so a seed fixes them.
#
# ## What to remember
#
# * BatchNorm: batch statistics in training (outputs depend on the batch), running statistics in evaluation.
# * Its backward has two extra terms because the batch mean and variance depend on the input.
# * Inverted dropout scales in training, so evaluation is the identity.
#
# **Next:** notebook 6 puts layers, losses and optimizers together into the GAN's training step.
