"""The one place that knows about NumPy versus CuPy.

Every layer asks ``get_array_module(x)`` for the array module of its input and
uses that module (called ``xp``) for all its arithmetic, so the same code runs
on the CPU (NumPy) and on an NVIDIA GPU (CuPy). CuPy is imported only when a
GPU array is seen or the GPU is asked for; nothing here moves data between
devices unless you call ``to_device``.
"""

import collections
import contextlib
import contextvars
import ctypes
import functools
import os
import sys
import threading
import time
import warnings

import numpy as np

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
# BLAS runs its products on every core, but NumPy runs each copy and elementwise pass
# on one. NumPy lets go of the interpreter lock inside a large product, copy or ufunc
# call, so a second Python thread can work on the other half of the images at the same
# time. On a 2-core machine (a hosted notebook's usual size) that is how minigan uses
# both cores while it trains a network with convolutions (``both_cores``): the BLAS on
# one thread, and each large product, copy and pass of a step cut in two halves, one
# on each core, so that each core goes on with the images it already holds in its
# cache. Tried the other way round first (the BLAS on both cores, only the copies
# split), it was slower: OpenBLAS's threads keep spinning on both cores after each
# product (benchmarks/RESULTS.md, rounds 6 and 7).
CPU_THREADS = None  # threads for minigan's own work on the CPU (1 or 2); None: 1. both_cores sets 2
_pool = None  # one worker thread, made on first use
_WORKER = "minigan-cpu"  # its name


def cpu_threads():
    """How many threads minigan's own products and copies use on the CPU: ``CPU_THREADS``
    (2 within ``both_cores``, which also puts the BLAS on one thread), else 1."""
    return CPU_THREADS or 1


SPLIT_ELEMENTS = 1 << 18  # a pass over fewer array elements stays on one thread (a hand-over costs 0.03-0.2 ms)
SPLIT_MACS = 1 << 25  # so does a product of fewer multiply-adds (32M: about 0.4 ms on one core);
# its halves then stay far above the sizes for which OpenBLAS picks kernels of its own
# for small products (up to about 2M multiply-adds on a Xeon with AVX-512), which sum
# in another order: a half in one of those would change the product's last bits.


def in_halves(xp, fn, n, elements, minimum=None, cut=False):
    """Run ``fn(lo, hi)`` over the items 0..n-1: as fn(0, n//2) on a worker thread and
    fn(n//2, n) on this one when xp is NumPy, n >= 2, the pass does at least ``minimum``
    (default ``SPLIT_ELEMENTS``) units of work (``elements``) and ``cpu_threads()`` is
    2; else as fn(0, n) (always on a GPU, where one call over all n is what keeps it busy).

    fn must write its results into arrays the caller made, each item's only by the
    call that owns it: the two halves then give the numbers one call gives, bit for bit.
    cut=True: on the CPU always the two calls fn(0, n//2) and fn(n//2, n), one after the
    other when not on two threads, for an fn whose numbers may depend on where its items
    are cut (blocks of images whose products it makes): the same calls, so the same
    numbers, on one thread and on two. Called from the worker itself, fn runs there.
    The worker runs in a copy of the caller's context, so ``np.errstate`` holds there too.
    """
    on_cpu = xp is np and n >= 2
    if (not on_cpu or elements < (SPLIT_ELEMENTS if minimum is None else minimum) or cpu_threads() < 2
            or threading.current_thread().name.startswith(_WORKER)):  # fmt: skip
        if on_cpu and cut:
            fn(0, n // 2)
            fn(n // 2, n)
        else:
            fn(0, n)
        return
    spinner = _spinner
    if spinner is not None and spinner.owner == threading.get_ident() and not spinner.busy and spinner.available():
        spinner.halves(fn, n)  # within both_cores: a hand-over without a thread to wake
        return
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_WORKER)
    first = _pool.submit(contextvars.copy_context().run, fn, 0, n // 2)  # with the caller's np.errstate
    try:
        fn(n // 2, n)
    finally:
        first.result()


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


def _numpy_blas():
    """threadpoolctl's handle on the BLAS NumPy calls, or None (no threadpoolctl, or none found)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    found = ThreadpoolController().select(user_api="blas")
    ours = [lib for lib in found.lib_controllers if "numpy" in lib.filepath]  # not another package's copy
    return ours[0] if ours else (found.lib_controllers[0] if len(found.lib_controllers) == 1 else None)


@contextlib.contextmanager
def both_cores():
    """Within: on a CPU whose BLAS runs two threads, the BLAS on one thread and minigan's
    own two threads doing the large products and copies in halves (``in_halves``).
    ``GAN.fit`` trains a network with convolutions within it.

    The BLAS setting holds for the whole process while inside (callbacks and other
    threads included); both settings are restored on the way out, also after an error.
    Does nothing when the BLAS runs one thread (nothing to split) or more than two (a
    larger machine, where the BLAS's own threads serve the products: not measured),
    when ``CPU_THREADS`` is already set (an enclosing ``both_cores`` among others),
    when MINIGAN_CPU_THREADS=1 asks for one thread, or without threadpoolctl. The
    numbers are those of the BLAS on one thread either way. Within, on Linux with two
    CPUs to keep busy (``cpus_allowed``), the second thread waits for its halves by
    spinning (``SpinningWorker``), so the second core stays busy but while it rests on a
    machine busy with other work; elsewhere it sleeps between halves (the pooled worker).
    """
    global CPU_THREADS
    wanted = CPU_THREADS is None and os.environ.get("MINIGAN_CPU_THREADS") != "1"
    blas = _numpy_blas() if wanted else None
    if blas is None or blas.num_threads != 2:
        yield
        return
    blas.set_num_threads(1)
    CPU_THREADS = 2
    try:
        with _spinning_worker():
            yield
    finally:
        CPU_THREADS = None
        blas.set_num_threads(2)


_spinner = None  # the SpinningWorker of the enclosing both_cores, when this C library has spin locks


@contextlib.contextmanager
def _spinning_worker():
    """Within: ``_spinner``, a SpinningWorker for this thread's splits, where it can run."""
    global _spinner
    libc = _spin_locks()
    if libc is None or cpus_allowed() < 2:  # no spin locks, or not two cores to keep busy
        yield
        return
    worker, pid = SpinningWorker(libc), os.getpid()
    _spinner = worker
    try:
        yield
    finally:
        _spinner = None
        if os.getpid() == pid:  # (a forked child has no worker to stop)
            worker.stop()


CGROUP_ROOT = "/sys/fs/cgroup"  # where the cgroup file systems are mounted
PROC_CGROUP = "/proc/self/cgroup"  # this process's cgroup, one line per hierarchy


def cpus_allowed():
    """How many CPUs this process may keep busy: the CPUs it may run on, fewer when a
    CPU quota caps its cgroup or one above it (a container started with --cpus=1.5
    gets 1.5). Where nothing can be read, the CPUs it may run on."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min([n, *_cgroup_cpu_quotas()])


def _cgroup_cpu_quotas():
    """The CPU quotas, in CPUs, of this process's cgroup and its ancestors.

    cgroup v2 (line "0::/path"): <root>/<path>/cpu.max holds "max <period>" or
    "<quota> <period>". cgroup v1 (a line "N:...cpu...:/path"): cpu.cfs_quota_us (-1:
    none) and cpu.cfs_period_us in the cpu controller's folder.
    """
    try:
        with open(PROC_CGROUP) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    quotas = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and not controllers:  # v2
            folders = [CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")]
            read = _cpu_max
        elif "cpu" in controllers.split(","):  # v1
            folders = [os.path.join(CGROUP_ROOT, name) for name in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu")]
            read = _cfs_quota
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for folder in folders:
            for depth in range(len(parts), -1, -1):  # the process's cgroup, then each one above it
                quota = read(os.path.join(folder, *parts[:depth]))
                if quota is not None:
                    quotas.append(quota)
    return quotas


def _cpu_max(folder):
    """cgroup v2's quota in CPUs in ``folder``, or None (no file, or "max")."""
    try:
        with open(os.path.join(folder, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return float(quota) / float(period) if float(quota) > 0 and float(period) > 0 else None
    except (OSError, ValueError):
        return None


def _cfs_quota(folder):
    """cgroup v1's quota in CPUs in ``folder``, or None (no file, or -1)."""
    try:
        with open(os.path.join(folder, "cpu.cfs_quota_us")) as f, open(os.path.join(folder, "cpu.cfs_period_us")) as g:
            quota, period = float(f.read()), float(g.read())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def _spin_locks():
    """The C library, on Linux (glibc or musl), whose spin locks any thread may unlock;
    else None (macOS has none; elsewhere an unlock by another thread is not allowed)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        for name in ("pthread_spin_init", "pthread_spin_lock", "pthread_spin_unlock"):
            getattr(libc, name).restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _forget_threads_after_fork():
    """A forked child has none of its parent's threads: it must not hand halves to them."""
    global _spinner, _pool
    _spinner = _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_after_fork)


class SpinningWorker:
    """A second thread that waits for its half of a split by spinning, not sleeping.

    Why: a thread that slept for a millisecond takes 0.1 to 0.2 ms to wake on a
    virtual machine (the host has put its core to sleep too), and a DCGAN step hands
    over about 60 halves, most after the main thread ran alone for a while. Spinning
    in a C spin lock (called through ctypes, which releases Python's lock meanwhile)
    keeps the core awake: such a hand-over takes about 0.03 ms instead of 0.15
    (benchmarks/RESULTS.md, round 8). The price: one core stays busy while
    ``both_cores`` lasts (but for rests, below), as OpenBLAS's and OpenMP's threads stay
    busy for a while after their own work.

    On a machine busy with other work, a spinning thread takes turns with it and its
    halves come late. When ``LATE_LIMIT`` of the last ``WINDOW`` halves came late (the
    caller waited longer than ``LATE_S`` and than its own half took), the worker rests:
    its thread ends, the pooled worker serves (``available``), and then a new thread
    tries again. Rests double from ``REST_S`` up to ``REST_MAX_S`` while the machine
    stays busy, and start short again once a thread has spun ``REST_MAX_S`` without
    resting. For ``GRACE_S`` after a thread starts nothing counts as late: the other
    threads that were spinning just before (the BLAS's, another library's) spin on for
    a while first (OpenBLAS's about 0.1 s).

    Two spin locks, both held while idle: ``go`` by the worker's side (main unlocks it
    to hand over a half, the worker takes it again), ``done`` by main's side (the
    worker unlocks it when its half is done, main takes it again).
    """

    LATE_S = 0.5e-3  # seconds: a wait this long is a late half (on a quiet machine 3 in 1,000 are)
    WINDOW, LATE_LIMIT = 64, 8  # rest after 8 late halves among the last 64
    REST_S, REST_MAX_S = 1.0, 30.0  # seconds of the pooled worker before spinning again: 1, 2, 4, ... 30
    GRACE_S = 0.25  # seconds after a thread starts in which no half counts as late

    def __init__(self, libc):
        self.libc = libc
        self.go, self.done = ctypes.c_int(0), ctypes.c_int(0)  # pthread_spinlock_t is an int on Linux
        for lock in (self.go, self.done):
            if libc.pthread_spin_init(ctypes.byref(lock), 0) or libc.pthread_spin_lock(ctypes.byref(lock)):
                raise OSError("pthread_spin_init / pthread_spin_lock failed")  # both start held
        self.task, self.error, self.busy, self.ran, self.stopped = None, None, False, False, False
        self.handovers = 0  # halves handed to the worker so far
        self.late, self.n_late = collections.deque(maxlen=self.WINDOW), 0  # the last WINDOW halves: late or not
        self.resting_until, self.rests = None, 0
        self.owner = threading.get_ident()  # only this thread hands over halves
        self._start_thread()

    def _start_thread(self):
        self.late.clear()
        self.n_late = 0
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, name=f"{_WORKER}-spin", daemon=True)
        self.thread.start()

    def _run(self):
        go, done = ctypes.byref(self.go), ctypes.byref(self.done)
        while True:
            self.libc.pthread_spin_lock(go)  # spins, without Python's lock, until main hands over
            task = self.task
            try:
                if task is None:
                    return
                self.ran = True
                task()
            except BaseException as e:  # noqa: BLE001  (re-raised in main)
                self.error = e
            finally:
                task = None  # hold no arrays of a finished half
                self.libc.pthread_spin_unlock(done)

    def available(self):
        """Whether the next split goes to this worker: not once stopped, nor while it
        rests (then ``in_halves`` uses the pooled worker); a rest over, it starts again."""
        if self.stopped:
            return False
        if self.resting_until is not None:
            if time.perf_counter() < self.resting_until:
                return False
            self.resting_until = None
            self._start_thread()
        return True

    def halves(self, fn, n):
        """fn(0, n//2) on the worker, fn(n//2, n) here; re-raises the worker's error.

        While it runs, ``busy``: a split made inside fn(n//2, n) goes to ``in_halves``'
        other worker instead. ``busy`` is set before the hand-over and cleared only at
        the very end, so an interrupt that lands in between leaves it set, and no later
        split can meet a worker still busy with this one. Waiting for the worker's half
        cannot be interrupted (an interrupt acts when it is done).
        """
        if self.stopped or self.resting_until is not None:  # (stopped from another thread): both halves here
            fn(0, n // 2)
            fn(n // 2, n)
            return
        self.task = functools.partial(contextvars.copy_context().run, fn, 0, n // 2)  # with np.errstate
        self.ran, self.busy = False, True
        self.handovers += 1
        start = time.perf_counter()
        self.libc.pthread_spin_unlock(ctypes.byref(self.go))
        try:
            fn(n // 2, n)
        finally:
            own_end = time.perf_counter()
            self.libc.pthread_spin_lock(ctypes.byref(self.done))  # spins until the worker's half is done
            now = time.perf_counter()
            ran, error, self.task, self.error = self.ran, self.error, None, None
            if not ran:  # the worker had been stopped: its half is still to do
                fn(0, n // 2)
            self.busy = False
        if now - self.started > self.GRACE_S:
            self._count(now - own_end > max(self.LATE_S, own_end - start))  # waited longer than it took here
        if self.n_late >= self.LATE_LIMIT:  # the machine is busy: rest
            self.resting_until = now + min(self.REST_MAX_S, self.REST_S * 2 ** min(self.rests, 5))  # 1, 2 ... 30 s
            self.rests += 1
            self._end_thread()
        elif self.rests and now - self.started > self.REST_MAX_S:  # a long quiet stretch: rests start short again
            self.rests = 0
        if error is not None:
            raise error

    def _count(self, late):
        if len(self.late) == self.late.maxlen:
            self.n_late -= self.late[0]  # the oldest leaves the window
        self.late.append(late)
        self.n_late += late

    def _end_thread(self):
        """End the thread (after its current half); both locks are held again after."""
        self.task = None
        self.libc.pthread_spin_unlock(ctypes.byref(self.go))  # the thread takes it, finds no task and ends
        try:
            self.thread.join()
        finally:
            if self.thread.is_alive():  # interrupted while it was ending: hand it nothing ever again
                self.stopped = True
            else:
                self.libc.pthread_spin_lock(ctypes.byref(self.done))  # which it unlocked on its way out

    def stop(self):
        """End the worker for good (it ends its current half first)."""
        if not self.stopped and self.resting_until is None:
            self._end_thread()
        self.stopped = True
        self.task = None


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


# ---- fused elementwise chains (GPU) -------------------------------------------
# On a GPU every elementwise operation is one kernel launch, and the launches, not
# the arithmetic, decide the speed of a small network's step. ``fused`` makes a
# short chain of them one kernel there, and leaves the CPU's code as it is written.


def fused(fn):
    """Decorate an elementwise function: one GPU kernel (``cupy.fuse``) on CuPy arrays,
    ``fn`` itself, line for line, on NumPy arrays.

    ``fn`` may use only what cupy.fuse can compile: operators, ufuncs (``xp.exp``,
    ``xp.where``...) with broadcasting, arrays and scalars as positional arguments,
    and literal constants; no shapes, dtypes, reshapes, in-place updates or
    reductions. It gets its ``xp`` from ``get_array_module`` as any layer does.
    """
    kernel = None

    @functools.wraps(fn)
    def run(*args):
        nonlocal kernel
        xps = [get_array_module(a) for a in args]
        xp = next((m for m in xps if m is not np), np)
        if xp is np:
            return fn(*args)
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
    axes = sorted(range(x.ndim), key=lambda a: -abs(x.strides[a]))  # x's axes, outermost in memory first
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

    def part(lo, hi):
        np.multiply(t[lo:hi], mask[lo:hi], out=out[lo:hi])  # the dropped units zeroed first
        np.multiply(out[lo:hi], scale, out=out[lo:hi])  # then the kept ones scaled

    in_halves(np, part, len(t), t.size)
    return out


@fused
def _mask_and_slope(x, one, alpha):
    mask = x > 0
    return mask, get_array_module(x).where(mask, one, alpha)


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
