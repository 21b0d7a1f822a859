# %% [markdown]
# # 3. Gradient checking: proving a backward pass right
#
# A wrong backward pass does not crash. The network still trains, only worse, and nothing tells you why. The cure
# is to compute the same derivative a second, independent way, from forward passes alone, and compare.
# Every layer in minigan passes this check; in this notebook you build the checker yourself and learn the two
# traps that make a check pass when it should not.
#
# *About 30 minutes.*

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

from minigan.exercises import check

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## Central differences
#
# The derivative is a limit, so approximate it with a small step $\varepsilon$. Taylor's theorem says how good
# each choice is:
#
# $$\underbrace{\frac{f(x + \varepsilon) - f(x)}{\varepsilon}}_{\text{forward}} = f'(x) + O(\varepsilon),
# \qquad
# \underbrace{\frac{f(x + \varepsilon) - f(x - \varepsilon)}{2\varepsilon}}_{\text{central}}
#   = f'(x) + O(\varepsilon^2).$$
#
# In the central difference the $\varepsilon^2 f''$ terms of the two sides cancel. But $\varepsilon$ cannot be
# tiny either: each $f$ is computed with a rounding error of about $10^{-16}|f|$ in float64 ($10^{-7}$ in
# float32), and dividing by $\varepsilon$ magnifies it. The total error is about
# $C\varepsilon^2 + 10^{-16}/\varepsilon$. Measure it for $f = \sin$ at $x = 1$:

# %%
eps = np.logspace(-1, -12, 45)
x0, exact = 1.0, np.cos(1.0)
forward = np.abs((np.sin(x0 + eps) - np.sin(x0)) / eps - exact)
central = np.abs((np.sin(x0 + eps) - np.sin(x0 - eps)) / (2 * eps) - exact)
x32, eps32 = np.float32(x0), eps.astype(np.float32)
central32 = np.abs((np.sin(x32 + eps32) - np.sin(x32 - eps32)) / (2 * eps32) - exact)

plt.figure(figsize=(7, 4))
plt.loglog(eps, forward, label="forward difference, float64")
plt.loglog(eps, central, label="central difference, float64")
plt.loglog(eps, central32, label="central difference, float32", linestyle=":")
plt.axvline(1e-6, color="0.5", linestyle="--", linewidth=1)
plt.xlabel("step eps")
plt.ylabel("|error|")
plt.title("Two sources of error: truncation (left) and rounding (right)")
plt.legend()
plt.gca().invert_xaxis()
plt.show()

# %% [markdown]
# Read from left to right as $\varepsilon$ shrinks: the truncation error falls (slope 1 for forward, slope 2 for
# central), until rounding takes over and the error climbs again. Central differences in float64 around
# $\varepsilon = 10^{-6}$ (dashed) reach about $10^{-11}$ to $10^{-10}$. In float32 the best steps
# ($10^{-2}$ to $10^{-4}$) leave an error of about $10^{-5}$; the dips to below $10^{-6}$ at a few steps are
# lucky cancellations of rounding errors, which the neighbouring steps do not repeat, so no check can count on
# them. At $\varepsilon = 10^{-6}$ the float32 error is a few times $10^{-3}$.
# That is why gradient checks run in **float64**, even though training runs in float32.
#
# ## From one number to a whole array
#
# A layer's input is an array, and its output is an array too. We make a scalar out of it with an upstream
# gradient $g$ of the output's shape: $L(x) = \sum g \odot \text{layer}(x)$. Then $\partial L/\partial x$ is
# exactly what `backward(g)` must return. Numerically, nudge **one entry at a time**:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2\varepsilon}.$$
#
# That is two forward passes per entry: slow, but only ever run on small arrays.
#
# ### Exercise 1: `numerical_gradient(f, x, eps)`
#
# `f` takes no argument: it reads `x`. Change one entry of `x` in place, call `f()`, and **put the entry back**
# before moving on. Any shape of `x` must work (`np.ndindex(x.shape)` walks every index).

# %%
def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (changed in place, restored).

    Returns an array shaped like x.
    """
    grad = np.zeros_like(x)
    # YOUR CODE HERE (about eight lines)
    raise NotImplementedError


check("numerical_gradient", numerical_gradient)

# %% [markdown]
# ## How close is close enough? The relative error
#
# "The two gradients differ by 0.001" means nothing without a scale: it is perfect for entries of size 1000 and
# hopeless for entries of size 0.001. So compare **relatively**, entry by entry, and report the worst entry:
#
# $$\text{rel}(a, n) = \max_i \frac{|a_i - n_i|}{\max(|a_i| + |n_i|,\ 10^{-12})}.$$
#
# The floor keeps $0/0$ away when both are exactly zero. In float64 with central differences a right gradient
# shows somewhere between $10^{-11}$ and $10^{-7}$ (the table of every layer at the end of this notebook), so
# minigan's checks (the library's and the exercise checkers) accept below $10^{-6}$; $10^{-6}$ to $10^{-4}$ needs
# a look (a kink? float32 somewhere?); above $10^{-2}$ is a bug.
#
# ### Exercise 2: `relative_error(a, b)`

# %%
def relative_error(a, b):
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-12), a float."""
    # YOUR CODE HERE (one line)
    raise NotImplementedError


check("relative_error", relative_error)

# %% [markdown]
# The library's versions are `minigan.gradcheck.numerical_gradient` and `rel_error`. Its `rel_error` adds one
# refinement: gradients that are truly zero (a bias right before a BatchNorm) carry only rounding noise, so an
# entry also passes when its **absolute** error is below $10^{-8}$. `check_layer(layer, x)` puts it all together:
# a float64 copy of the layer, a random upstream gradient, and one error per gradient.

# %%
from minigan.gradcheck import check_layer, numerical_gradient as library_numerical_gradient, rel_error
from minigan.layers import BatchNorm, Dense, ReLU

print(check_layer(Dense(4, 3), rng.standard_normal((5, 4))))
print()
print(check_layer(BatchNorm(3), rng.standard_normal((6, 3))))

# %% [markdown]
# ## Trap 1: an upstream gradient of ones
#
# It is tempting to check with $g = 1$ everywhere, i.e. $L = \sum \text{layer}(x)$. Let us see why that is a
# mistake, with the classic BatchNorm bug. In training, BatchNorm computes $\hat x = (x - \mu)/\sigma$ with the
# batch's own mean and standard deviation, so both depend on $x$. The correct input gradient (notebook 5 derives
# it) is
#
# $$dx = \frac{\gamma}{\sigma}\Big(g - \operatorname{mean}(g) - \hat x \operatorname{mean}(g \odot \hat x)\Big).$$
#
# A buggy version forgets the last term. Here it is as a layer:

# %%
class BuggyBatchNorm(BatchNorm):
    """BatchNorm whose backward forgets the - x_hat * mean(dout * x_hat) term (for (N, C) input)."""

    def backward(self, dout, param_grads=True):
        if param_grads:
            self.grads["gamma"] += (dout * self.x_hat).sum(axis=0)
            self.grads["beta"] += dout.sum(axis=0)
        scale = self.params["gamma"] * self.inv_std  # (1, C)
        return scale * (dout - dout.mean(axis=0, keepdims=True))  # the bug: a term is missing


def input_gradient_error(layer, x, g):
    """Relative error of layer.backward(g) against central differences of L = sum(g * layer(x))."""
    layer = layer.astype(np.float64)
    layer.forward(x)
    analytic = layer.backward(g)

    def L():
        return float((layer.forward(x) * g).sum())  # training mode: batch statistics of the current x

    return rel_error(analytic, library_numerical_gradient(L, x))


x = rng.standard_normal((8, 3)) * 2 + 1
ones, random_g = np.ones((8, 3)), rng.standard_normal((8, 3))
for name, g in [("all ones", ones), ("random  ", random_g)]:
    line = f"upstream gradient {name}:"
    for layer in (BatchNorm(3), BuggyBatchNorm(3)):
        err = input_gradient_error(layer, x, g)
        line += f"   {type(layer).__name__:>14} {err:.1e} {'passes' if err < 1e-6 else 'FAILS '}"
    print(line)

# %% [markdown]
# With ones, **both pass**; with a random gradient the bug is caught at once. Why? $\sum_n \hat x_n = 0$ in every
# channel (that is what normalising does), so with $g = 1$ the missing term is $\hat x \cdot \operatorname{mean}(\hat x)
# = 0$: the bug multiplies zero. Worse, BatchNorm's outputs always sum to $N\beta$ whatever $x$ is, so with $g = 1$
# the **true** gradient is zero, and any backward that returns zeros would pass. A random $g$ has no such special
# structure, so every term of the formula matters. `check_layer` always draws $g$ at random.
#
# ## Trap 2: kinks
#
# ReLU has no derivative at 0. Central differences straddle the kink and return an average of the two slopes, and
# any input closer to 0 than $\varepsilon$ is straddled too:

# %%
relu = ReLU()
x = np.array([[-1.0, 0.0, 3e-7, 1.0]])
relu.forward(x)
analytic = relu.backward(np.ones_like(x))
numeric = library_numerical_gradient(lambda: float(relu.forward(x).sum()), x, eps=1e-6)
print("x        ", x[0])
print("backward ", analytic[0])
print("numerical", numeric[0].round(3))

# %% [markdown]
# At $x = 0$ the numerical slope is $0.5$ and at $x = 3 \times 10^{-7}$ it is $0.65$, while the (correct) backward
# says 0 and 1. The backward is fine; the check is not. So test inputs are kept **away from kinks**: minigan's own
# checks draw random inputs and push them to $|x| \ge 0.1$.
#
# ## Every layer in the library
#
# `minigan gradcheck` on the command line runs this for every built-in layer, in training and evaluation mode.
# The same from Python:

# %%
from minigan.gradcheck import check_builtin, format_table

results = check_builtin()
print(format_table(results))
print("all pass:", all(report.ok for _, _, report in results))

# %% [markdown]
# ## What to remember
#
# * Central differences in float64 with $\varepsilon \approx 10^{-6}$; compare with the relative error of the
#   worst entry.
# * Always a **random** upstream gradient: structure in $g$ can hide whole terms of a formula.
# * Keep inputs away from kinks, and from the edges of anything piecewise.
#
# **Next:** notebook 4 opens the convolution, the layer where getting the backward right by hand is hardest.
