"""The one place that knows about NumPy versus CuPy.

Every layer asks ``get_array_module(x)`` for the array module of its input and
uses that module (called ``xp``) for all its arithmetic, so the same code runs
on the CPU (NumPy) and on an NVIDIA GPU (CuPy). CuPy is imported only when a
GPU array is seen or the GPU is asked for; nothing here moves data between
devices unless you call ``to_device``.
"""

import functools
import os
import warnings

import numpy as np

from . import compiled
from .cores import both_cores, cpu_threads, in_halves  # noqa: F401  (the seam's names)

GPU_INSTALL_HINT = (
    "install the GPU extra with  pip install 'minigan[gpu]'  (CuPy for CUDA 12) "
    "on a machine with an NVIDIA GPU and driver"
)


class GPUUnavailableError(RuntimeError):
    """Raised when the GPU is asked for but CuPy or a CUDA device is missing."""


def get_array_module(x):
    """Return ``numpy`` or ``cupy``: the module that owns array ``x``.

    Decided by the array's type, so a NumPy-only machine never imports CuPy.
    """
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def gpu_module():
    """Return the ``cupy`` module, or raise one clear error saying how to get it."""
    try:
        import cupy
    except ImportError as e:
        raise GPUUnavailableError(f"the GPU was asked for but CuPy is not installed: {GPU_INSTALL_HINT}") from e
    try:
        available = cupy.is_available()
    except Exception:  # a broken driver stack raises instead of answering False
        available = False
    if not available:
        raise GPUUnavailableError(f"the GPU was asked for but CuPy sees no usable CUDA device: {GPU_INSTALL_HINT}")
    return cupy


def gpu_available():
    """True when CuPy is installed and sees a CUDA device (never raises)."""
    try:
        gpu_module()
    except GPUUnavailableError:
        return False
    return True


def module_for(device):
    """``numpy`` for ``"cpu"``, ``cupy`` for ``"gpu"`` (with a clear error when missing)."""
    if device == "cpu":
        return np
    if device == "gpu":
        return gpu_module()
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'gpu'")


def values_readable_now(x):
    """True when reading values of array ``x`` on the host costs no wait for a device (a
    NumPy array). Layers then check their inputs' values (e.g. a label's range) on every
    pass; a GPU array's values are checked once where they come in, not in every forward."""
    return get_array_module(x) is np


def device_of(x):
    """``"cpu"`` or ``"gpu"``: where array ``x`` lives."""
    return "cpu" if get_array_module(x) is np else "gpu"


def data_address(x):
    """The address of array ``x``'s first element, in host or device memory: two views
    that start at the same address start at the same number."""
    if get_array_module(x) is np:
        return x.__array_interface__["data"][0]
    return x.data.ptr  # a cupy.cuda.MemoryPointer


def to_device(x, device):
    """Return array ``x`` on ``device`` ("cpu" or "gpu"); the same object when already there."""
    if device == "cpu":
        return to_numpy(x)
    xp = module_for(device)
    return xp.asarray(x)


def to_numpy(x):
    """Return ``x`` as a NumPy array: a copy off the GPU when it lives there (one wait
    for the device), else ``np.asarray(x)`` (NumPy scalars, floats, and lists of them,
    or of device scalars: one wait each)."""
    if isinstance(x, (list, tuple)) and any(get_array_module(v) is not np for v in x):
        return np.asarray([to_numpy(v) for v in x])
    if get_array_module(x) is np:
        return np.asarray(x)
    return x.get()


def to_module(x, xp):
    """Return array ``x`` on the array module ``xp`` (``numpy`` or ``cupy``): the same
    object when already there, else one copy (host to device, or device to host).

    For code that holds an array module rather than a device name, e.g. noise drawn
    on the CPU for a network on ``xp``.
    """
    if xp is np:
        return to_numpy(x)
    return xp.asarray(x)


# ---- random numbers ---------------------------------------------------------
# Initial weights are drawn on the CPU from one generator, so a seed gives the
# same network on every machine; ``manual_seed`` resets it (as torch.manual_seed).
_init_rng = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the generator that layers draw their initial weights (and seeds) from."""
    global _init_rng
    _init_rng = np.random.default_rng(seed)


def init_rng():
    """The generator new layers draw their initial weights from (see ``manual_seed``)."""
    return _init_rng


def new_seed(rng=None):
    """A fresh integer seed drawn from ``rng`` (default: the init generator)."""
    return int((rng or _init_rng).integers(0, 2**63 - 1))


def generator(seed, xp=np):
    """A seeded random generator on the module ``xp`` (NumPy's or CuPy's ``default_rng``)."""
    return xp.random.default_rng(seed)


# ---- device decisions of the layers -------------------------------------------
# The layers run one code path through ``xp``; where the CPU and the GPU want
# different work (a block size, how random bits are drawn), the choice is made here.
BLOCK_BYTES = 4 << 20  # on the CPU, one block of patch rows: it fits in the cache


def images_per_block(xp, n, bytes_per_image):
    """How many of n images one block of a convolution's patch matrix holds.

    CPU: as many as fit in BLOCK_BYTES (at least one), so a block is used while it
    is in the cache. GPU: all n (each block costs k*k kernel launches there, and the
    whole batch is what keeps the GPU busy).
    """
    if xp is not np:
        return n
    return max(1, min(n, BLOCK_BYTES // max(1, bytes_per_image)))


def pass_block(x, cpu_elements):
    """How many elements of 1-D array x one elementwise pass should take at a time.

    CPU: ``cpu_elements`` (at most all of x), so that a chain of passes over a block
    reads the core's cache, not main memory. GPU: all of x (each block would be one
    kernel launch more, and the whole array is what keeps the GPU busy).
    """
    if get_array_module(x) is not np:
        return x.size
    return min(x.size, cpu_elements)


# ---- where freed arrays go (CPU) ------------------------------------------------
# glibc's malloc hands an array larger than its mmap threshold fresh pages from the
# kernel, and gives them back when the array is freed; a training step frees and makes
# its large arrays again at every step, so every step pays for fresh zeroed pages
# (about 2,000 page faults and 5 to 10 ms of kernel time per DCGAN step on a 2-core
# Xeon, benchmarks/RESULTS.md). Raising the two thresholds keeps freed memory in the
# process for the next step: the resident memory stays at the step's peak instead.
MMAP_THRESHOLD = 32 << 20  # bytes: arrays up to this size come from memory the process keeps
TRIM_THRESHOLD = 256 << 20  # bytes of free memory the process keeps before it gives any back


def keep_freed_memory():
    """Raise glibc's malloc thresholds (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) so that freed
    arrays are reused, not returned to the kernel. True when set; False where there is no
    glibc (macOS, Windows, musl), which changes nothing but the speed, or where the
    environment says MINIGAN_KEEP_FREED_MEMORY=0.

    The setting holds for the whole process, so minigan does not make it on import: the
    trainer (``GAN.fit``) makes it when it starts training on the CPU.
    """
    if os.environ.get("MINIGAN_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


# ---- the CPU's second core ------------------------------------------------------
# cores.py cuts large products, copies and passes in two halves, one per core, within
# ``both_cores`` (which ``GAN.fit`` uses for a network with convolutions). The two
# products the layers call go through it here; the numbers are those of a @ b and a * b.

SPLIT_MACS = 1 << 25  # a product of fewer multiply-adds stays on one thread (32M: about 0.4 ms on one core);
# its halves then stay far above the sizes for which OpenBLAS picks kernels of its own
# for small products (up to about 2M multiply-adds on a Xeon with AVX-512), which sum
# in another order: a half in one of those would change the product's last bits.


def matmul(a, b, out=None):
    """a @ b for 2-D a (m, k) and b (k, n): (m, n), written into ``out`` when given.

    On the CPU with two threads (``cpu_threads``), a product of at least ``SPLIT_MACS``
    multiply-adds is cut in two: by its rows when m >= n, else by its columns (each
    half then packs only its half of the larger operand), each half a product of the
    BLAS on one thread. Every entry of a @ b is the same sum either way, so the numbers
    are those of one a @ b with the BLAS on one thread, bit for bit (tests/test_cpu_threads.py).
    """
    xp = get_array_module(a)
    if out is None:
        out = xp.empty((a.shape[0], b.shape[1]), dtype=xp.result_type(a, b))
    (m, k), n = a.shape, b.shape[1]
    if k == 1 and xp is np:  # an outer product: one elementwise product, far faster than BLAS
        multiply(a, b, out=out)
        out += 0  # the BLAS's sum starts at +0, which turns a product's -0.0 into +0.0: the same bits
        return out

    def rows(lo, hi):
        xp.matmul(a[lo:hi], b, out=out[lo:hi])

    def columns(lo, hi):
        xp.matmul(a, b[:, lo:hi], out=out[:, lo:hi])

    in_halves(xp, rows if m >= n else columns, max(m, n), m * k * n, minimum=SPLIT_MACS)
    return out


def multiply(a, b, out=None):
    """a * b, broadcast, into ``out`` (laid out like a when not given). On the CPU with two
    threads, half of a's first axis on each core: the same numbers, bit for bit.
    b: an array of a's shape, one that broadcasts along a's first axis ((1, n) or
    shorter), or a scalar."""
    xp = get_array_module(a)
    if out is None:
        out = xp.empty_like(a, dtype=xp.result_type(a, b))
    if xp is not np or a.ndim == 0:
        return xp.multiply(a, b, out=out)
    whole = getattr(b, "ndim", 0) == a.ndim and b.shape[0] == a.shape[0] > 1  # b is cut along with a

    def part(lo, hi):
        xp.multiply(a[lo:hi], b[lo:hi] if whole else b, out=out[lo:hi])

    in_halves(xp, part, len(a), out.size)
    return out


def fold_in_one_sum(xp):
    """How row2im (conv_fast.py) adds overlapping patches back into an image.

    CPU: k*k strided adds of the rows in place, a block of images at a time, while the
    block is in the cache. GPU: each add would be a kernel launch (25 per call for k = 5,
    most of a DCGAN step's launches), so the rows are copied once into zeros padded by
    stride phase and summed as one strided view: 3 launches, at the price of a padded
    copy about 2.5x the rows (for k = 5, stride 2), which the GPU's memory bandwidth
    pays in microseconds.
    """
    return xp is not np


def loop_dtypes(*arrays):
    """Whether the compiled loops take these arrays as numbers: float32 or float64 (numba
    has no float16 arithmetic; other dtypes would follow other promotion rules)."""
    return all(a.dtype in (np.float32, np.float64) for a in arrays)


def loop_layout(*arrays):
    """Whether a compiled loop takes these arrays as they are: C-contiguous, all of one
    dtype that the loops handle (``loop_dtypes``)."""
    return loop_dtypes(*arrays) and all(a.flags.c_contiguous and a.dtype == arrays[0].dtype for a in arrays)


def memory_axes(a):
    """a's axes, outermost in memory first (for a channels-last (N, C, h, w): 0, 2, 3, 1)."""
    return sorted(range(a.ndim), key=lambda ax: -abs(a.strides[ax]))


def memory_order_views(*arrays):
    """1-D views of arrays of one shape, each listing its elements in memory order, when
    all of them are dense in one layout (C order, channels-last, ...); else None.
    Element i of every view is then the same element of the arrays' common shape."""
    axes = memory_axes(arrays[0])
    views = []
    for b in arrays:
        b = b.transpose(axes)
        if b.shape != arrays[0].transpose(axes).shape or not b.flags.c_contiguous:
            return None
        views.append(b.reshape(-1))  # a view: b is contiguous
    return views


def channel_rows(*arrays):
    """(P, C) views of arrays shaped (N, C) or (N, C, h, w), all alike, when their
    channels are innermost in memory (C order for 2-D, channels-last for 4-D) and C >= 2:
    row p is the p-th pixel (sample) in memory order. Else None (BatchNorm's compiled
    loops then leave the work to NumPy, whose sums would run in another order)."""
    a = arrays[0]
    if a.ndim not in (2, 4) or a.shape[1] < 2 or not loop_dtypes(a):
        return None
    order = (0, 2, 3, 1) if a.ndim == 4 else (0, 1)
    rows = []
    for b in arrays:
        b = b.transpose(order)
        if b.shape != a.transpose(order).shape or b.dtype != a.dtype or not b.flags.c_contiguous:
            return None
        rows.append(b.reshape(-1, a.shape[1]))
    return rows


def _channel_vectors(C, ndim, dtype, *vectors):
    """(C,) views of (1, C) or (1, C, 1, 1) arrays of dtype (per-channel constants), or None."""
    shape = (1, C) if ndim == 2 else (1, C, 1, 1)
    if any(getattr(v, "shape", None) != shape or v.dtype != dtype for v in vectors):
        return None
    return [np.ascontiguousarray(v.reshape(C)) for v in vectors]


def _batchnorm_loops(*arrays):
    """(the compiled loops, the arrays' (P, C) rows) where BatchNorm's loops take these
    arrays, else (None, None)."""
    loops = compiled_loops(get_array_module(arrays[0]))
    rows = loops and channel_rows(*arrays)
    return (loops, rows) if rows else (None, None)


def batch_statistics_loop(x):
    """(mean, x - mean, biased var) per channel of x (N, C) or (N, C, h, w), from one
    compiled loop, with the numbers of norm.batch_statistics; None where it does not
    apply (no numba, a GPU array, channels not innermost in memory)."""
    loops, rows = _batchnorm_loops(x)
    if loops is None:
        return None
    C = x.shape[1]
    x_centered = np.empty_like(x)  # laid out like x
    mean, var = np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
    loops.batch_statistics(rows[0], np.float64(rows[0].shape[0]), mean, channel_rows(x_centered)[0], var)
    return mean, x_centered, var


def normalise_loop(x_centered, inv_std, gamma, beta):
    """norm.normalise's (x_hat, y) from one compiled loop, or None where it does not apply."""
    loops, rows = _batchnorm_loops(x_centered)
    vectors = loops and _channel_vectors(x_centered.shape[1], x_centered.ndim, x_centered.dtype, inv_std, gamma, beta)
    if not vectors:
        return None
    x_hat, y = np.empty_like(x_centered), np.empty_like(x_centered)
    loops.normalise(rows[0], *vectors, channel_rows(x_hat)[0], channel_rows(y)[0])
    return x_hat, y


def gradient_sums_loop(dout, x_hat):
    """(sum(dout * x_hat), sum(dout)) per channel from one compiled loop, or None."""
    loops, rows = _batchnorm_loops(dout, x_hat)
    if loops is None:
        return None
    dgamma, dbeta = np.empty(dout.shape[1], dtype=dout.dtype), np.empty(dout.shape[1], dtype=dout.dtype)
    loops.gradient_sums(*rows, dgamma, dbeta)
    return dgamma, dbeta


def batchnorm_dx_loop(scale, dout, mean_dout, x_hat, mean_dout_xhat):
    """norm.batchnorm_dx from one compiled loop, or None where it does not apply."""
    loops, rows = _batchnorm_loops(dout, x_hat)
    vectors = loops and _channel_vectors(dout.shape[1], dout.ndim, dout.dtype, scale, mean_dout, mean_dout_xhat)
    if not vectors:
        return None
    dx = np.empty_like(dout)
    loops.batchnorm_dx(vectors[0], rows[0], vectors[1], rows[1], vectors[2], channel_rows(dx)[0])
    return dx


def compiled_loops(xp):
    """The compiled CPU loops of ``minigan.compiled`` for arrays of module xp, or None.

    On the CPU where numba is installed (and MINIGAN_COMPILED is not 0); None on a GPU,
    without numba, and where np.errstate asks to raise, where the NumPy code runs.
    Either way the numbers are the same.
    """
    if xp is not np or _errors_acted_on():
        return None
    return compiled.loops()


def _errors_acted_on():
    """Whether np.errstate asks for more than a warning on some floating-point error
    ("raise", "call", "log"): the compiled loops neither warn nor raise, so NumPy's code
    runs then. (Under the default, "warn", they run, and an overflow or a NaN they make
    passes without NumPy's RuntimeWarning.)"""
    return any(mode not in ("ignore", "warn") for mode in np.geterr().values())


# ---- fused elementwise chains (GPU) -------------------------------------------
# On a GPU every elementwise operation is one kernel launch, and the launches, not
# the arithmetic, decide the speed of a small network's step. ``fused`` makes a
# short chain of them one kernel there, and leaves the CPU's code as it is written.


def fused(fn=None, *, cpu=None):
    """Decorate an elementwise function: one GPU kernel (``cupy.fuse``) on CuPy arrays,
    ``fn`` itself, line for line, on NumPy arrays.

    ``fn`` may use only what cupy.fuse can compile: operators, ufuncs (``xp.exp``,
    ``xp.where``...) with broadcasting, arrays and scalars as positional arguments,
    and literal constants; no shapes, dtypes, reshapes, in-place updates or
    reductions. It gets its ``xp`` from ``get_array_module`` as any layer does.

    ``@fused(cpu=loop)``: on NumPy arrays ``loop(*args)`` first, a function that gives
    fn's results from a compiled loop (the same numbers) or None where it does not
    apply; then fn.
    """
    if fn is None:
        return functools.partial(fused, cpu=cpu)
    kernel = None

    @functools.wraps(fn)
    def run(*args):
        nonlocal kernel
        xps = [get_array_module(a) for a in args]
        xp = next((m for m in xps if m is not np), np)
        if xp is np:
            out = None if cpu is None else cpu(*args)
            return fn(*args) if out is None else out
        if kernel is None:
            kernel = xp.fuse(kernel_name=fn.__name__)(fn)
        return kernel(*args)

    return run


# ---- Dropout's random bits ------------------------------------------------------
# On the CPU a Dropout layer draws its keep bits from NumPy's PCG64 generator (so CPU
# runs stay bit for bit what they were). On the GPU it uses a counter-based generator,
# ``CounterRNG``: the bits of mask number d are a pure function of (seed, d, element
# index), so they are the same on every GPU model, a copy is two integers, and the
# checkpoint saves those two integers. The same function runs on NumPy, so a GPU run
# resumed on the CPU goes on with the very masks the GPU would have drawn.
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment: 2**64 / golden ratio, odd
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # SplitMix64's finaliser constants


def _mix64(z):
    """SplitMix64's finaliser of the Python int z (a bijection of 64-bit integers)."""
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


class CounterRNG:
    """Dropout's generator on the GPU: a seed and the number of masks drawn so far.

    Element i of mask d is kept when the top 16 bits of

        bits(seed, d, i) = mix(k_d + (i + 1) * G),   k_d = mix(mix(seed) + (d + 1) * G)

    are >= round(p * 2**16), where mix is SplitMix64's finaliser and G = 0x9E3779B97F4A7C15
    (all arithmetic mod 2**64): element i of mask d is number i of a SplitMix64 stream that
    starts at k_d, itself number d of a SplitMix64 stream started from mix(seed). Why: no
    state lives on the device, so the masks do not depend on the GPU model, and a copy or a
    checkpoint is the two integers (seed, draws).
    """

    def __init__(self, seed, draws=0):
        for name, v in (("seed", seed), ("draws", draws)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v <= _MASK64:
                raise ValueError(f"CounterRNG: {name} must be an integer in [0, 2**64), got {v!r}")
        self.seed, self.draws = int(seed), int(draws)

    def next_offset(self):
        """k_d + G for the next mask d (then d counts one more): element i's counter is i * G + this."""
        key = _mix64((_mix64(self.seed) + (self.draws + 1) * _GOLDEN) & _MASK64)
        self.draws += 1
        return (key + _GOLDEN) & _MASK64

    def state(self):
        """(seed, draws) as uint64[2], as a checkpoint stores it."""
        return np.array([self.seed, self.draws], dtype=np.uint64)

    @classmethod
    def from_state(cls, a):
        """The generator saved by ``state()``; ValueError for anything but two unsigned integers."""
        a = np.asarray(a)
        if a.shape != (2,) or a.dtype.kind != "u":
            raise ValueError(f"CounterRNG: a saved state is uint64[2] (seed, draws), got {a.dtype}{a.shape}")
        return cls(int(a[0]), int(a[1]))

    def __eq__(self, other):
        return isinstance(other, CounterRNG) and (self.seed, self.draws) == (other.seed, other.draws)

    def __repr__(self):
        return f"CounterRNG(seed={self.seed}, draws={self.draws})"


@fused
def _counter_keep(index, offset, threshold, g, m1, m2):
    """keep = top 16 bits of mix(index * g + offset) >= threshold, on uint64 arrays (wrapping).

    g, m1, m2: SplitMix64's constants as uint64 scalars. They come in as arguments, so a
    fused GPU kernel receives them typed: written in, they would become C++ literals
    above 2**63, which fit no signed integer type.
    """
    u = np.uint64  # every constant typed, so no step leaves uint64
    z = index * g + offset
    z = (z ^ (z >> u(30))) * m1
    z = (z ^ (z >> u(27))) * m2
    z = z ^ (z >> u(31))
    return (z >> u(48)) >= threshold


_SPLITMIX = (np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2))  # g, m1, m2 of _counter_keep


def dropout_generator(seed, xp=np):
    """A new Dropout generator for arrays on module xp: NumPy's PCG64 ``default_rng(seed)``
    on the CPU, ``CounterRNG(seed)`` on the GPU (see the notes above)."""
    return np.random.default_rng(seed) if xp is np else CounterRNG(seed)


def dropout_generator_for(rng, seed, xp, owner="Dropout"):
    """The generator a Dropout layer draws its next mask from, for an input on module xp.

    rng: the layer's generator so far (None before its first mask): made from ``seed``
    when None, else kept, since a CounterRNG runs on either device (a GPU run goes on
    on the CPU with the same masks). A PCG64 generator cannot be continued on the GPU:
    it is replaced by a CounterRNG seeded from its state, and ``owner`` (a layer or its
    name, formatted only then) is named in a warning that the masks from here on are
    not the ones the CPU would have drawn.
    """
    if rng is None:
        return dropout_generator(seed, xp)
    if isinstance(rng, CounterRNG) or xp is np:
        return rng
    warnings.warn(
        f"{owner}: its masks so far came from the CPU's PCG64 generator, which the GPU cannot continue; "
        "it goes on with GPU masks (CounterRNG) seeded from that generator's state: reproducible, "
        "but not the masks the CPU run would have drawn",
        stacklevel=2,
    )
    return CounterRNG(new_seed(rng))


def keep_mask(rng, x, p):
    """Dropout's mask: a bool array shaped like x, True (keep) with probability 1 - p.

    A unit is kept when a random 16-bit integer is >= round(p * 2**16), so P(keep) is
    1 - p to within 2**-17. The bits are drawn in x's memory order (x may be a
    transposed view, e.g. channels-last), so that x * mask walks both arrays in step.
    rng: from ``dropout_generator``. NumPy's PCG64 (CPU only): each 64-bit draw of the
    bit generator is cut into four 16-bit numbers. CounterRNG (either device): the top
    16 bits of one 64-bit hash of (seed, mask number, element index), in two launches
    on the GPU (the indices, then one fused kernel), with no wait and no copy.
    """
    xp = get_array_module(x)
    axes = memory_axes(x)
    shape = tuple(x.shape[a] for a in axes)
    threshold = round(p * 2**16)
    if isinstance(rng, CounterRNG):
        index = xp.arange(x.size, dtype=np.uint64).reshape(shape)  # element numbers in memory order
        mask = _counter_keep(index, np.uint64(rng.next_offset()), np.uint64(threshold), *_SPLITMIX)
    elif xp is np:
        bits = rng.bit_generator.random_raw(-(-x.size // 4)).view(np.uint16)[: x.size].reshape(shape)
        mask = bits >= threshold
    else:
        raise TypeError(f"keep_mask: a {type(rng).__name__} cannot draw a mask for a GPU array; "
                        "use backend.dropout_generator_for to get a CounterRNG")  # fmt: skip
    return mask.transpose([axes.index(a) for a in range(x.ndim)])  # back to x's axis order


def masked_and_scaled(t, mask, scale, kernel):
    """Dropout's t * mask * scale (mask: bool, shaped like t; scale: a scalar).

    GPU: ``kernel(t, mask, scale)``, the layer's fused kernel (one launch). CPU: the same
    two products, written in place into one new array laid out like t, half of the batch
    on each core (``in_halves``): the numbers of t * mask * scale, bit for bit, without
    its full-size temporary.
    """
    if get_array_module(t) is not np or t.ndim == 0:
        return kernel(t, mask, scale)
    out = np.empty_like(t, dtype=np.result_type(t, mask, scale))
    loops = compiled_loops(np)
    views = loops and loop_dtypes(t, out) and mask.dtype == np.bool_ and memory_order_views(t, mask, out)
    if views:  # the two products as one compiled loop, half of the elements on each core
        t1, mask1, out1 = views
        scalars = [out.dtype.type(c) for c in (scale, 1, 0)]

        def elements(lo, hi):
            loops.masked_and_scaled(t1[lo:hi], mask1[lo:hi], *scalars, out1[lo:hi])

        in_halves(np, elements, t.size, t.size)
        return out

    def part(lo, hi):
        np.multiply(t[lo:hi], mask[lo:hi], out=out[lo:hi])  # the dropped units zeroed first
        np.multiply(out[lo:hi], scale, out=out[lo:hi])  # then the kept ones scaled

    in_halves(np, part, len(t), t.size)
    return out


@fused
def _mask_and_slope(x, one, alpha):
    mask = x > 0
    return mask, get_array_module(x).where(mask, one, alpha)


def leaky_relu(x, alpha):
    """LeakyReLU's forward: (mask, slope, y) with (mask, slope) from ``leaky_relu_slope``
    and y = slope * x (``multiply``), each laid out like x.

    On a CPU with numba, for 0 <= alpha <= 1, one compiled loop makes all three (the same
    numbers: tests/test_compiled.py), half of the elements on each core: it reads x once
    where the two steps read it twice and the slope once more.
    """
    loops = compiled_loops(get_array_module(x))
    if loops is not None and 0 <= alpha <= 1 and loop_dtypes(x) and memory_order_views(x):  # x dense
        mask, slope, y = np.empty_like(x, dtype=bool), np.empty_like(x), np.empty_like(x)
        views = memory_order_views(x, mask, slope, y)
        if views:
            x1, mask1, slope1, y1 = views
            one, a = x.dtype.type(1), x.dtype.type(alpha)

            def elements(lo, hi):
                loops.leaky_relu(x1[lo:hi], mask1[lo:hi], slope1[lo:hi], y1[lo:hi], x.dtype.type(0), one - a, a)

            in_halves(np, elements, x.size, x.size)
            return mask, slope, y
    mask, slope = leaky_relu_slope(x, alpha)
    return mask, slope, multiply(slope, x)


def leaky_relu_slope(x, alpha):
    """LeakyReLU's (mask, slope): mask = x > 0, slope = dy/dx = 1 where x > 0 else alpha,
    in x's dtype.

    CPU: for 0 <= alpha <= 1, slope = mask * (1 - alpha) + alpha in place, which is
    exactly 1 or alpha (tests/test_layers.py checks it): plain arithmetic, far cheaper
    than a branch per element (benchmarks/RESULTS.md), the cast to x's dtype done inside
    the product, and half of the batch on each core (``in_halves``); other alphas pick
    with where(). GPU: both arrays from one fused kernel (a where() costs nothing more there).
    """
    xp = get_array_module(x)
    one, a = x.dtype.type(1), x.dtype.type(alpha)  # both in x's precision
    if xp is not np:
        return _mask_and_slope(x, one, a)
    if not 0 <= alpha <= 1:
        mask = x > 0
        return mask, xp.where(mask, 1, alpha).astype(x.dtype)
    mask, slope = np.empty_like(x, dtype=bool), np.empty_like(x)  # laid out like x (channels-last stays so)

    def part(lo, hi):
        i = slice(lo, hi) if x.ndim else ...  # items lo..hi-1 (all of a 0-d x)
        np.greater(x[i], 0, out=mask[i])
        np.multiply(mask[i], one - a, out=slope[i])  # 1 - alpha where x > 0, else 0
        slope[i] += a  # exactly 1, or alpha

    in_halves(np, part, len(x) if x.ndim else 1, x.size)
    return mask, slope
