# %% [markdown]
# # 10. The same code on a GPU
#
# Everything so far ran on NumPy. With [CuPy](https://cupy.dev), a NumPy look-alike whose arrays live on an NVIDIA
# GPU, **the same layers run on the GPU without a single change**. This notebook shows why that works, what does
# change (moving data, timing), and how much faster a DCGAN trains.
#
# No GPU here? Every cell still runs, on the CPU, and says what it would have shown. To get a GPU: a machine with
# an NVIDIA card and driver, then `pip install 'minigan[gpu]'` (CuPy for CUDA 12).
#
# *About 20 minutes.*

# %%
# %matplotlib inline
import os
import time

import numpy as np

from minigan.backend import get_array_module, gpu_available, to_device, to_numpy

FAST = os.environ.get("MINIGAN_FAST") == "1"  # short runs for automatic testing; leave unset when learning
GPU = gpu_available()  # CuPy installed AND a CUDA device visible; never raises
DEVICE = "gpu" if GPU else "cpu"
if GPU:
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print("GPU found:", name, f"({props['totalGlobalMem'] / 2**30:.0f} GiB)")
else:
    print("No usable GPU (or CuPy is not installed): the cells below run on the CPU and say what a GPU would do.")

# %% [markdown]
# ## One seam: `get_array_module`
#
# Arithmetic operators (`x * y`, `x @ W`) already work on NumPy and CuPy arrays alike. For everything else
# (`exp`, `tanh`, `zeros`, `pad`, ...) a layer asks its input which array library it belongs to and uses that
# module, called `xp`. NumPy and CuPy share the same API, so the same line computes on either device. The whole
# decision lives in one small function:

# %%
import inspect

import minigan.backend
from minigan.layers import Tanh

print(inspect.getsource(minigan.backend.get_array_module))
print(inspect.getsource(Tanh.forward))

# %% [markdown]
# Nothing in `minigan/layers/` imports CuPy. A layer's parameters live where you put them (`layer.to("gpu")`),
# its input arrives from the device it is on, and every array it creates comes from `xp`, so from the same device.
#
# ## Moving data: explicit and counted
#
# Copies between the computer's memory and the GPU's go over the PCIe bus, and they are slow compared to the GPU's
# own arithmetic. minigan never moves data behind your back: `to_device(x, "gpu")` and `to_numpy(x)` (or
# `to_device(x, "cpu")`) are the only doors.

# %%
from minigan.layers import Dense

x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
x_dev = to_device(x, DEVICE)
layer = Dense(3, 2).to(DEVICE)
y = layer.forward(x_dev)
print("input :", type(x_dev).__module__, type(x_dev).__name__, "->", get_array_module(x_dev).__name__)
print("output:", type(y).__module__, type(y).__name__, y.dtype, y.shape)
print("back on the CPU:", type(to_numpy(y)).__name__)
print("to_device(x, 'cpu') is x:", to_device(x, "cpu") is x, "(already there: no copy)")

# %%
def timed(fn, repeat=5):
    """Seconds per call of fn(), waiting for the GPU to finish before the clock is read."""
    fn()  # warm up: the first CuPy calls compile and cache their GPU kernels
    if GPU:
        cupy.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    if GPU:
        cupy.cuda.Device().synchronize()  # GPU calls return at once; the work may still be running
    return (time.perf_counter() - t0) / repeat


batch = np.random.default_rng(1).standard_normal((64, 1, 28, 28)).astype(np.float32)  # one batch of images
if GPU:
    up = timed(lambda: to_device(batch, "gpu"))
    on_gpu = to_device(batch, "gpu")
    down = timed(lambda: to_numpy(on_gpu))
    print(f"one batch, {batch.nbytes / 1e3:.0f} kB: to the GPU {up * 1e6:.0f} us, back {down * 1e6:.0f} us")
else:
    print("On the CPU there is nothing to move. On a GPU, this cell times copying one batch there and back.")

# %% [markdown]
# Two timing rules hide in `timed`:
#
# * **Warm up first.** CuPy compiles each GPU kernel the first time it is used, so the first call is slow.
# * **Synchronise.** A CuPy call returns as soon as its work is *queued*. Without `synchronize()` you time the
#   queueing, not the work.
#
# The rule for training: copy the whole dataset to the GPU **once**, and copy back only what you want to look at.
# `GAN.fit` indexes the data where it lives, so a dataset on the GPU never comes back during training.
#
# ## A DCGAN step, CPU and GPU

# %%
from minigan.data import load_dataset
from minigan.gan import GAN
from minigan.models import dcgan

x_cpu = load_dataset("mnist", subset=512 if FAST else None).model_input(-1, 1)  # float32 (N, 1, 28, 28)


def dcgan_step_time(device, batch_size=64, repeat=2 if FAST else 5):
    G, D = dcgan(seed=0)
    gan = GAN(G, D, latent_dim=128, seed=0).to(device)
    real = to_device(x_cpu[:batch_size], device)
    return timed(lambda: gan.train_step(real), repeat)


cpu_step = dcgan_step_time("cpu")
print(f"CPU: {cpu_step * 1e3:7.1f} ms per DCGAN step (batch 64)")
if GPU:
    gpu_step = dcgan_step_time("gpu")
    print(f"GPU: {gpu_step * 1e3:7.1f} ms per DCGAN step (batch 64), {cpu_step / gpu_step:.0f}x faster")
else:
    print("GPU: not available here")

# %% [markdown]
# On a GPU, a DCGAN step is a few milliseconds, and much of that is Python calling small kernels one after another:
# a larger batch costs little more per step. On a CPU, the matrix products themselves dominate.
#
# ## Training on the GPU
#
# `GAN.to("gpu")` moves both networks and both optimizers' state; the data goes over once with `to_device`. The
# rest of the loop is unchanged. Noise is drawn on the CPU and then moved, so a seed gives the same noise on every
# device.

# %%
from minigan.viz import plot_history, show_images

G, D = dcgan(seed=0)
gan = GAN(G, D, latent_dim=128, seed=0).to(DEVICE)
x_dev = to_device(x_cpu, DEVICE)  # the whole dataset, once
if GPU and not FAST:
    epochs = 5  # the full recipe: a few seconds per epoch on a recent GPU
else:
    x_dev = x_dev[: 64 * (4 if FAST else 40)]  # on the CPU, a short run only: notebook 7 does the long one
    epochs = 1
t0 = time.perf_counter()
gan.fit(x_dev, epochs=epochs, batch_size=64)
print(f"{epochs} epoch(s) over {len(x_dev)} digits on the {DEVICE.upper()}: {time.perf_counter() - t0:.1f} s")
show_images(gan.sample(32, xp=get_array_module(x_dev)), nrow=16, title=f"fixed-noise samples, trained on the {DEVICE}")

# %% [markdown]
# Without a GPU the run above is short on purpose: 40 steps (4 in fast mode), where notebook 7 trains for over 700.
# So do not expect digits here. What you see instead is a regular grid over grey noise, much the same in every
# sample: the checkerboard of notebook 4. The generator's transposed convolutions (kernel 5, stride 2) hit some
# output pixels with more kernel placements than their neighbours, and after so few steps G has not yet learned
# weights that even this out. With a GPU, and not in fast mode, the cell trains the full 5 epochs and shows digits.

# %%
plot_history(gan.history)

# %% [markdown]
# ## Same numbers? Almost
#
# The same weights on the same input give the same output on both devices **up to rounding**: a GPU adds up the
# terms of a matrix product in a different order, and float32 addition is not associative. Differences of about
# $10^{-6}$ relative are normal; anything larger is a bug.

# %%
G_cpu, _ = dcgan(seed=0)
G_cpu.eval()
z = np.random.default_rng(2).standard_normal((8, 128)).astype(np.float32)
out_cpu = G_cpu.forward(z)
if GPU:
    G_gpu, _ = dcgan(seed=0)  # the same seed: the same initial weights
    G_gpu.eval().to("gpu")
    out_gpu = to_numpy(G_gpu.forward(to_device(z, "gpu")))
    print("max |CPU - GPU| on the generator's output:", float(np.abs(out_cpu - out_gpu).max()))
else:
    print("On a GPU, this cell compares the generator's output on both devices.")

# %% [markdown]
# Random numbers are the other difference: `Dropout` draws its masks from a generator on the input's device, and
# CuPy's generator gives different numbers than NumPy's for the same seed. Each device is reproducible on its own.
#
# ## What to remember
#
# * One seam, `xp = get_array_module(x)`, makes the whole library run on NumPy or CuPy.
# * Moves between devices are explicit (`to_device`, `to_numpy`, `GAN.to`). Put the data on the GPU once.
# * Time GPU code after a warm-up and with `synchronize()`.
#
# **Beyond one GPU**, the usual route is data-parallel training: each GPU takes part of the batch and the gradients
# are summed across GPUs (an all-reduce, which CuPy exposes through NCCL) before every optimizer step.
