# %% [markdown]
# # 4. Convolutions: im2col, col2im and the transposed convolution
#
# A convolution slides one small kernel over the whole image, so the same few weights look at every patch.
# Written as loops it is slow in Python. The standard trick, **im2col**, copies every patch into a column of a
# matrix; then the whole convolution is **one matrix product**, which BLAS (or cuBLAS on a GPU) does fast. Its
# mirror image, **col2im**, gives the backward pass, and, used as a forward pass, the **transposed convolution**
# that a DCGAN generator uses to grow images.
#
# *About 40 minutes.*

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from minigan.exercises import check
from minigan.layers import Conv2D, ConvTranspose2D
from minigan.layers.conv_reference import col2im, conv2d_naive, im2col

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
rng = np.random.default_rng(0)

# %% [markdown]
# ## The convolution, slowly
#
# Input $x$ of shape $(N, C_\text{in}, h, w)$, kernels $W$ of shape $(C_\text{out}, C_\text{in}, k, k)$, stride
# $s$, zero padding $p$ (as PyTorch's `Conv2d`; strictly it is a cross-correlation, the kernel is not flipped).
# Image sizes are lowercase, $h$ and $w$, so that $W$ always means the kernels:
#
# $$y[n, o, i, j] = b_o + \sum_{c}\sum_{u, v < k} W[o, c, u, v]\; x_\text{padded}[n, c,\; s i + u,\; s j + v],
# \qquad h_o = \left\lfloor \frac{h + 2p - k}{s} \right\rfloor + 1.$$
#
# Written as loops, this is the obvious reference the library's fast layers are tested against. It lives in
# `minigan/layers/conv_reference.py`, next to im2col and col2im:

# %%
import inspect

print(inspect.getsource(conv2d_naive))

# %% [markdown]
# ## im2col: every patch becomes a column
#
# `im2col(x, k, stride, padding)` returns a matrix of shape $(C_\text{in} k^2,\; N H_o W_o)$: one **column** per
# output pixel $(n, i, j)$, holding the patch that pixel sees; one **row** per (channel, kernel row, kernel
# column). Here is a 2-channel $4 \times 4$ input with values 0 to 31 and a $3 \times 3$ kernel, so 4 output pixels
# and $2 \cdot 9 = 18$ rows. The patch of output pixel 0 is outlined on the input.

# %%
x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)  # (N=1, C=2, h=4, w=4)
cols = im2col(x, 3, 1, 0)  # (C*k*k, N*ho*wo) = (18, 4)
print("x", x.shape, "-> cols", cols.shape)

fig, axes = plt.subplots(1, 3, figsize=(11, 5), gridspec_kw={"width_ratios": [1, 1, 1.1]})
for c in range(2):
    ax = axes[c]
    ax.imshow(x[0, c], cmap="Blues", vmin=-8, vmax=40)
    for (i, j), v in np.ndenumerate(x[0, c]):
        ax.text(j, i, int(v), ha="center", va="center")
    ax.add_patch(plt.Rectangle((-0.5, -0.5), 3, 3, fill=False, edgecolor="C3", linewidth=3))
    ax.set_title(f"input, channel {c}")
    ax.set_xticks([])
    ax.set_yticks([])
ax = axes[2]
ax.imshow(cols, cmap="Blues", vmin=-8, vmax=40, aspect="auto")
for (r, col), v in np.ndenumerate(cols):
    ax.text(col, r, int(v), ha="center", va="center", fontsize=8)
ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 18, fill=False, edgecolor="C3", linewidth=3))
ax.set_xticks(range(4), [f"pixel {p}" for p in range(4)])
ax.set_yticks(range(18), [f"c{r // 9} ({r % 9 // 3},{r % 3})" for r in range(18)], fontsize=7)
ax.set_title("im2col(x): one column per output pixel")
plt.tight_layout()
plt.show()

# %% [markdown]
# Each entry of $x$ appears in the matrix once for every patch that contains it (the middle pixels of the
# channel 4 times). With the kernels flattened into rows, $W_\text{cols} = W$ reshaped to $(C_\text{out}, C_\text{in} k^2)$,
# the convolution is
#
# $$Y = W_\text{cols} \cdot \text{cols} \quad (C_\text{out},\; N h_o w_o), \quad\text{then reshaped to } (N, C_\text{out}, h_o, w_o).$$

# %%
x = rng.standard_normal((2, 3, 7, 7))
W = rng.standard_normal((4, 3, 3, 3))
cols = im2col(x, 3, 2, 1)  # (27, 2*4*4)
Y = W.reshape(4, -1) @ cols  # (C_out, N*ho*wo) = (4, 32)
y_fast = Y.reshape(4, 2, 4, 4).transpose(1, 0, 2, 3)  # (N, C_out, ho, wo): channels were first

layer = Conv2D(3, 4, 3, stride=2, padding=1, bias=False).astype(np.float64)
layer.params["W"][...] = W
print("im2col matmul vs loops:", np.abs(y_fast - conv2d_naive(x, W, None, 2, 1)).max())
print("Conv2D layer  vs loops:", np.abs(layer.forward(x) - conv2d_naive(x, W, None, 2, 1)).max())

# %% [markdown]
# ## The backward pass: col2im
#
# From $Y = W_\text{cols}\,\text{cols}$ (a plain matrix product, notebook 2) with $dY$ = `dout` rearranged to
# $(C_\text{out}, N h_o w_o)$:
#
# $$dW_\text{cols} = dY\,\text{cols}^\top, \qquad d\text{cols} = W_\text{cols}^\top\, dY.$$
#
# `dcols` holds one gradient per **copy** of each input pixel. A pixel copied into four patches influenced four
# outputs, so its gradient is the **sum** of its four copies' gradients. `col2im(dcols, x_shape, k, stride, padding)`
# does exactly that: it adds every column back onto the patch it came from. Feeding it ones shows how many
# patches cover each pixel:

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, (h, k, s, p) in zip(axes, [(6, 3, 1, 0), (7, 3, 2, 1)]):
    ho = (h + 2 * p - k) // s + 1
    counts = col2im(np.ones((k * k, ho * ho)), (1, 1, h, h), k, s, p)[0, 0]
    ax.imshow(counts, cmap="viridis", vmin=0)
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, int(v), ha="center", va="center", color="w")
    ax.set_title(f"h={h}, k={k}, stride={s}, padding={p}")
    ax.set_axis_off()
fig.suptitle("col2im(ones): how many patches cover each pixel")
plt.show()

# %% [markdown]
# ### Exercise 1: Conv2D backward via col2im
#
# Write `conv2d_backward(dout, cols, W, x_shape, stride, padding)` returning `(dx, dW)` (no bias). `cols` is
# what the forward pass kept. Mind the layout: `dout` is $(N, C_\text{out}, h_o, w_o)$ but the matrix product
# wants channels first, $(C_\text{out}, N h_o w_o)$: transpose before you reshape.

# %%
def conv2d_backward(dout, cols, W, x_shape, stride, padding):
    """dout: (N, C_out, ho, wo)   cols: (C_in*k*k, N*ho*wo)   W: (C_out, C_in, k, k)   x_shape: (N, C_in, h, w).

    Returns (dx, dW) with the shapes of x and W.
    """
    C_out, k = W.shape[0], W.shape[2]
    # YOUR CODE HERE (about five lines; use col2im)
    raise NotImplementedError


check("conv2d_backward", conv2d_backward)

# %% [markdown]
# ## Adjoints: the transposed convolution
#
# For a fixed kernel, the convolution is a **linear** map $x \mapsto Ax$ from the input space to the output space.
# Its backward pass computes $dx = A^\top dout$. $A^\top$ runs the other way, from a small (strided) output
# back to the large input: it **upsamples**. Used as a layer in its own right, $A^\top$ is the *transposed
# convolution*: `ConvTranspose2D`'s forward is Conv2D's input gradient (col2im), and its backward is Conv2D's
# forward (im2col). Its output size inverts Conv2D's:
#
# $$h_o = (h - 1)s - 2p + k + \text{output\_padding}.$$
#
# "Transpose" means $\langle Ax, y\rangle = \langle x, A^\top y\rangle$ for **every** $x$ and $y$. With the same
# kernel array in both layers (PyTorch's layouts make that work: Conv2D's $W$ is $(C_\text{out}, C_\text{in}, k, k)$,
# ConvTranspose2D's is $(C_\text{in}', C_\text{out}', k, k)$ with the roles swapped), check it on random arrays:

# %%
conv = Conv2D(3, 4, 3, stride=2, padding=1, bias=False).astype(np.float64)
convT = ConvTranspose2D(4, 3, 3, stride=2, padding=1, output_padding=1, bias=False).astype(np.float64)
convT.params["W"] = conv.params["W"]  # the same kernel, (4, 3, 3, 3)

x = rng.standard_normal((2, 3, 8, 8))  # the conv's input space
y = rng.standard_normal((2, 4, 4, 4))  # its output space
lhs = float((conv.forward(x) * y).sum())  # <A x, y>
rhs = float((x * convT.forward(y)).sum())  # <x, A^T y>
print(f"<conv(x), y>  = {lhs:.10f}")
print(f"<x, convT(y)> = {rhs:.10f}")
print("ConvTranspose2D maps", y.shape, "->", convT.forward(y).shape)

# %% [markdown]
# ### Exercise 2: ConvTranspose2D forward
#
# Write `conv_transpose2d_forward(x, W, stride, padding, output_padding=0)` (no bias), with `W` of shape
# $(C_\text{in}, C_\text{out}, k, k)$. It is the backward pass of a Conv2D used as a forward pass:
#
# $$x_\text{cols} = x \text{ as } (C_\text{in}, N h w), \qquad \text{cols} = W_\text{cols}^\top x_\text{cols} \;\; (C_\text{out} k^2, N h w),
# \qquad y = \text{col2im}(\text{cols}, (N, C_\text{out}, h_o, w_o), k, s, p),$$
#
# with $W_\text{cols} = W$ reshaped to $(C_\text{in}, C_\text{out} k^2)$, the matrix of the Conv2D it is the adjoint of.

# %%
def conv_transpose2d_forward(x, W, stride, padding, output_padding=0):
    """x: (N, C_in, h, w)   W: (C_in, C_out, k, k)  ->  y: (N, C_out, ho, wo)."""
    N, C_in, h, w = x.shape
    C_out, k = W.shape[1], W.shape[2]
    # YOUR CODE HERE (about five lines; use col2im)
    raise NotImplementedError


check("conv_transpose2d_forward", conv_transpose2d_forward)

# %% [markdown]
# ## The checkerboard artefact
#
# col2im **adds** overlapping patches. When the kernel size is not a multiple of the stride, some output pixels
# receive contributions from more kernel placements than their neighbours. Feed a constant image through a
# ConvTranspose2D whose kernel is all ones, and the overlap count is all you see:

# %%
def constant_through(k, stride, padding=0, output_padding=0):
    layer = ConvTranspose2D(1, 1, k, stride=stride, padding=padding, output_padding=output_padding, bias=False)
    layer.params["W"][...] = 1.0
    return layer.forward(np.ones((1, 1, 8, 8), dtype=np.float32))[0, 0]


cases = [("k=3, stride 2", constant_through(3, 2)), ("k=4, stride 2", constant_through(4, 2)),
         ("k=5, stride 2, pad 2, out_pad 1\n(the DCGAN's layers)", constant_through(5, 2, 2, 1))]  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, (title, img) in zip(axes, cases):
    im = ax.imshow(img, cmap="magma", vmin=0)
    ax.set_title(f"{title}\n{img.shape[0]}x{img.shape[1]}, values {sorted(set(img.ravel().tolist()))}")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.show()

# %% [markdown]
# With $k = 3$ and stride 2, pixels are hit by 1, 2 or 4 kernel placements: a checkerboard, from a perfectly flat
# input. With $k = 4$ every interior pixel is hit equally often (only the border differs). A generator must
# *learn* weights that cancel the uneven overlap, and early in training you can often see the grid in its samples
# (Odena, Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", 2016). The classic DCGAN uses $k = 5$
# with stride 2, so it has the same tendency; kernels divisible by the stride, or "resize, then convolve", avoid it.
#
# ## How the library makes it fast (optional)
#
# `Conv2D` and `ConvTranspose2D` compute exactly the products above, arranged for speed in two ways. Both come
# from one fact: a CPU moves memory in runs, and what it touched a moment ago is still in its cache.
#
# **Channels last.** `im2row(x)` is `im2col(x)` transposed, with the channel index moved last: one **row** per
# output pixel, columns in (kernel row, kernel column, channel) order. When $x$ is *stored* as $(N, h, w, C)$ (the
# arrays keep their shape $(N, C, h, w)$; only the memory order changes, PyTorch's "channels last"), the $k$
# pixels of one kernel row times the $C$ channels are one contiguous run of $kC$ numbers, so the copy moves long
# runs instead of gathering single numbers. Then the convolution is `rows @ W_rows`, a Dense layer on the rows,
# with `W_rows = kernel_matrix(W)` of shape $(k^2 C_\text{in}, C_\text{out})$. This machinery lives in
# `minigan/layers/conv_fast.py`; the layers in `conv.py` read as the products alone.

# %%
from minigan.layers.conv_fast import ConvWorkspace, im2row, kernel_matrix, row2im


def best_ms(fn, repeats=3 if FAST else 10):
    """The fastest of a few calls, in milliseconds (the least disturbed by anything else running)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


N = 16 if FAST else 128  # the DCGAN discriminator's second convolution, 64 -> 128 channels, 14x14 -> 7x7,
# at its batch of 128 (real and fake images together)
x_cl = rng.standard_normal((N, 14, 14, 64)).astype(np.float32).transpose(0, 3, 1, 2)  # channels-last in memory
rows = im2row(x_cl, 5, 2, 2)  # (N*7*7, 5*5*64)
cols = im2col(x_cl, 5, 2, 2)  # (64*5*5, N*7*7)
same = np.array_equal(rows.reshape(-1, 5, 5, 64).transpose(3, 1, 2, 0).reshape(64 * 25, -1), cols)
print(f"im2row holds im2col's numbers, reordered: {same}")
t_col, t_row = best_ms(lambda: im2col(x_cl, 5, 2, 2)), best_ms(lambda: im2row(x_cl, 5, 2, 2))
print(f"im2col: {t_col:.1f} ms   im2row: {t_row:.1f} ms")

# %% [markdown]
# **Blocks of images.** Conv2D's input gradient is `row2im(dy_rows @ W_rows.T)`. For the whole batch at once the
# product is a big matrix (40 MB at the discriminator's batch of 128): the product writes it out to memory and
# row2im reads it back. Each conv layer holds a `ConvWorkspace`, whose `matmul_row2im` makes the product for a
# block of a few images at a time (about 4 MB) and lets row2im add the block up at once, while it is still in
# the cache: the same sums, up to rounding. The workspace also keeps its buffers from call to call.

# %%
W = rng.standard_normal((128, 64, 5, 5)).astype(np.float32)
dy_rows = rng.standard_normal((N * 49, 128)).astype(np.float32)  # dL/dy, one row per output pixel
W_rows = kernel_matrix(W)  # (5*5*64, 128)
patches = ConvWorkspace(5, 2, 2)
whole = row2im(dy_rows @ W_rows.T, x_cl.shape, 5, 2, 2)  # one product for the batch, then row2im
blocked = patches.matmul_row2im(dy_rows, W_rows.T, x_cl.shape)
print(f"largest difference: {np.abs(whole - blocked).max():.1e} (at most float32 rounding)")
print(f"whole batch: {best_ms(lambda: row2im(dy_rows @ W_rows.T, x_cl.shape, 5, 2, 2)):.1f} ms   "
      f"blocks: {best_ms(lambda: patches.matmul_row2im(dy_rows, W_rows.T, x_cl.shape)):.1f} ms")  # fmt: skip

# %% [markdown]
# **Compiled loops (where numba is installed).** row2im adds the $k^2$ slices one after the other, and in a
# channels-last image each slice is one run of $C$ numbers per pixel; NumPy pays a fixed cost to start every run,
# which for $C = 64$ costs more than the adds. Where the package numba is installed (`pip install ".[fast]"`),
# `row2im` hands the same adds, in the same order, to one compiled loop (`minigan/compiled.py`), and `im2row` its
# copy: the same numbers bit for bit, so everything above holds either way. `minigan.backend.compiled_loops(np)`
# says which runs here: None means NumPy's code.

# %%
from minigan.backend import compiled_loops

print("row2im's adds and im2row's copy run as:", "NumPy's code" if compiled_loops(np) is None else "compiled loops")

# %% [markdown]
# Timings move from run to run when something else is using the machine: run the cells again if the numbers
# look odd. How much each of these buys, and the whole training step next to PyTorch, is in
# `benchmarks/RESULTS.md`; `benchmarks/layers.py` times every layer of the DCGAN on your machine. On a GPU the
# batch stays one block.
#
# ## What to remember
#
# * im2col turns a convolution into one matrix product; the row layout is (channel, kernel row, kernel column),
#   the column layout is (example, output row, output column). Mind the transposes.
# * col2im is im2col's adjoint: it adds each column back onto its patch. It gives Conv2D's input gradient.
# * ConvTranspose2D is Conv2D's adjoint used as a layer: each one's forward is the other's backward.
#
# **Next:** notebook 5, the two layers that behave differently in training and in evaluation.
