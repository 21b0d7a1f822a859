"""How minigan uses a CPU's two cores: half of each large product, copy and pass on a second thread.

The layers never see this module: ``backend.matmul`` and ``backend.multiply`` (and the
fast convolutions, Adam, Dropout and LeakyReLU behind the seam) call ``in_halves``,
which cuts a piece of work in two halves, one per core, when ``both_cores`` has asked
for two threads. ``GAN.fit`` trains a network with convolutions within ``both_cores``.
benchmarks/RESULTS.md (rounds 6 to 8) has the measurements behind every choice here.
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

import numpy as np

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
    first = _pool.submit(as_caller(fn), 0, n // 2)  # with the caller's np.errstate
    try:
        fn(n // 2, n)
    finally:
        first.result()


_ERRSTATE_PER_THREAD = int(np.__version__.split(".")[0]) < 2  # NumPy 1.x keeps np.errstate per thread


def as_caller(fn):
    """fn, to be run on another thread as on this one: in a copy of this thread's context
    (where NumPy 2 keeps np.errstate) and, on NumPy 1.x, which keeps it per thread,
    with this thread's np.errstate settings."""
    run = contextvars.copy_context().run
    if not _ERRSTATE_PER_THREAD:
        return functools.partial(run, fn)
    settings = np.geterr()

    def with_settings(*args):
        with np.errstate(**settings):
            return fn(*args)

    return functools.partial(run, with_settings)


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
            names = dict.fromkeys((controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"))  # each folder once
            folders = [os.path.join(CGROUP_ROOT, name) for name in names]
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
        self.task = functools.partial(as_caller(fn), 0, n // 2)  # with the caller's np.errstate
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
