"""One flat buffer per network: every parameter, and every gradient, a view into it.

A network keeps its weights in many arrays (a W and a b per layer). An optimizer
that walks them one by one makes a dozen passes over each; with all of them laid
end to end in ONE 1-D array, the same arithmetic runs over one array: a handful
of calls on a GPU, and on a CPU cache-sized blocks in which the dozen passes hit
the core's own cache instead of main memory.

The layers notice nothing. Each still holds its own ``params`` / ``grads`` dict;
the arrays in it are now views into the network's two buffers, and layers only
ever change them in place (``+=``, ``[...] =``), which writes through a view:

    flatten(net)                  # once the network is built (again after a move to another device)
    flat_buffer(net.params.values())   # the 1-D buffer they tile, or None

``optim.Adam`` looks for the buffers at every step and falls back to one array at
a time when they are not there (a network nobody flattened, or one whose arrays
were replaced), with the same numbers either way.
"""

import math

import numpy as np

from . import cores
from .backend import compiled_loops, data_address, device_of, get_array_module, in_halves, loop_layout, pass_block


def leaf_layers(net):
    """The layers that own arrays, in the order ``net.params`` lists their keys."""
    if hasattr(net, "layers"):  # a Sequential, possibly holding others
        return [leaf for layer in net.layers for leaf in leaf_layers(layer)]
    return [net]


def views_into(buffer, shaped_like):
    """Views into 1-D ``buffer``, laid end to end in order, one shaped like each array of
    ``shaped_like`` (a dict: the views keep its keys)."""
    views, start = {}, 0
    for key, a in shaped_like.items():
        views[key] = buffer[start : start + a.size].reshape(a.shape)
        start += a.size
    return views


def flatten(net):
    """Move ``net``'s parameters and gradients into one buffer each; the layers keep views.

    Values are copied, so nothing changes but where the numbers live. Returns
    ``(params, grads)``: the two 1-D buffers, or ``(None, None)`` for a network
    without parameters or one whose arrays mix dtypes or devices (left as it is:
    the optimizer then takes one array at a time).
    """
    layers = [layer for layer in leaf_layers(net) if layer.params]
    arrays = [p for layer in layers for p in layer.params.values()]
    if not arrays or len({(a.dtype, device_of(a)) for a in arrays}) > 1:
        return None, None
    xp, dtype = get_array_module(arrays[0]), arrays[0].dtype
    n = sum(int(a.size) for a in arrays)
    params, grads = xp.empty(n, dtype=dtype), xp.zeros(n, dtype=dtype)
    start = 0
    for layer in layers:
        size = sum(int(p.size) for p in layer.params.values())
        new_params = views_into(params[start : start + size], layer.params)
        new_grads = views_into(grads[start : start + size], layer.params)
        for key, p in layer.params.items():
            new_params[key][...] = p
            if key in layer.grads:  # gradients already accumulated travel along
                new_grads[key][...] = layer.grads[key]
        layer.params, layer.grads = new_params, new_grads
        start += size
    return params, grads


def flat_buffer(arrays):
    """The 1-D array that ``arrays`` tile end to end in this order, or None.

    True for the views ``flatten`` makes (each one's ``base`` is the buffer, each
    starts where the one before ends, together they cover all of it); false for
    separate arrays, a subset, or another order.
    """
    arrays = list(arrays)
    base = arrays[0].base if arrays else None
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    at, itemsize = data_address(base), base.itemsize
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or data_address(a) != at:
            return None
        at += a.size * itemsize
    return base if at == data_address(base) + base.size * itemsize else None


# ---- Adam over one buffer -----------------------------------------------------------
CPU_BLOCK = 65536  # elements: 256 KiB of float32 per array, so a block's p, g, m, v and scratch stay in L2


def cpu_block(n):
    """Elements per block of Adam's passes over a buffer of n on the CPU.

    One thread: ``CPU_BLOCK``. Two (a buffer that ``in_halves`` splits): blocks of up to
    twice that, an even number of them, so each core gets the same share. Why larger:
    each pass is one NumPy call, and each call takes Python's lock back; with two
    threads making calls, a thread that finds the lock taken sleeps until it is free,
    and waking costs more than the cache misses of the larger block
    (benchmarks/RESULTS.md, round 9).
    """
    if cores.cpu_threads() < 2 or n < cores.SPLIT_ELEMENTS:
        return CPU_BLOCK
    pairs = -(-n // (4 * CPU_BLOCK))  # blocks of at most 2 * CPU_BLOCK, two per pair
    return -(-n // (2 * pairs))


def adam_update(p, g, m, v, t, lr, beta1, beta2, eps, block=None):
    """``optim.Adam.update`` over whole buffers: the same operations in the same order on
    every element, so the same numbers to the last bit.

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    p, g, m, v: 1-D arrays of one size, changed in place (p, m, v). On a CPU the 13
    passes run block by block so that they read the core's cache, not main memory;
    with two CPU threads (cores.cpu_threads) the first half of the blocks goes to
    the second one (cores.in_halves). Where numba is installed they run as one
    compiled loop instead (``compiled.loops().adam``; the same numbers), half of the
    elements on each core. On a GPU each pass is one launch over the whole buffer.
    ``block``: elements per block of the NumPy passes (default ``cpu_block``).
    """
    n = p.size
    constants = (lr / (1 - beta1**t), math.sqrt(1 - beta2**t), beta1, beta2, eps)  # Python floats: p's dtype
    loops = compiled_loops(get_array_module(p))
    python_numbers = all(type(c) in (float, int) for c in (lr, beta1, beta2, eps))  # as optim.Adam passes them
    if loops is not None and block is None and python_numbers and _one_layout(p, g, m, v):
        scalars = [p.dtype.type(c) for c in (*constants, 1 - beta1, 1 - beta2)]  # as NumPy casts a Python float

        def elements(lo, hi):  # elements lo..hi-1
            loops.adam(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], *scalars)

        in_halves(np, elements, n, n)
        return
    block = pass_block(p, block or cpu_block(n))  # the whole buffer on a GPU

    def part(lo, hi):  # blocks lo..hi-1
        _adam_blocks(p, g, m, v, lo * block, min(hi * block, n), block, *constants)

    in_halves(get_array_module(p), part, -(-n // block), n)  # half of the blocks on each core (CPU)


def _one_layout(*arrays):
    """Whether the arrays are 1-D and of one size, and the compiled loop takes them (``loop_layout``)."""
    return loop_layout(*arrays) and all(a.ndim == 1 and a.shape == arrays[0].shape for a in arrays)


def _adam_blocks(p, g, m, v, lo, hi, block, step_size, bias_correction2_sqrt, beta1, beta2, eps):
    """Adam's 13 passes over elements lo:hi, one block at a time."""
    xp = get_array_module(p)
    tmp, update = xp.empty(block, dtype=p.dtype), xp.empty(block, dtype=p.dtype)
    for start in range(lo, hi, block):
        end = min(start + block, hi)
        P, G, M, V = p[start:end], g[start:end], m[start:end], v[start:end]
        T, U = tmp[: end - start], update[: end - start]
        xp.multiply(M, beta1, out=M)  # m = beta1 * m + (1 - beta1) * g
        xp.multiply(G, 1 - beta1, out=T)
        xp.add(M, T, out=M)
        xp.multiply(V, beta2, out=V)  # v = beta2 * v + (1 - beta2) * g * g
        xp.multiply(G, 1 - beta2, out=T)
        xp.multiply(T, G, out=T)
        xp.add(V, T, out=V)
        xp.sqrt(V, out=U)  # update = m / (sqrt(v) / bias_correction2_sqrt + eps) * step_size
        xp.divide(U, bias_correction2_sqrt, out=U)
        xp.add(U, eps, out=U)
        xp.divide(M, U, out=U)
        xp.multiply(U, step_size, out=U)
        xp.subtract(P, U, out=P)
