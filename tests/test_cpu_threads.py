"""Work split over two CPU threads gives the numbers one thread gives, bit for bit.

cores.in_halves runs half of a product or a copy (the products of Dense and the
convolutions, the patch matrices, Dropout's and LeakyReLU's products, Adam's passes)
on a worker thread; each output entry is written by one call only, as the same sum,
so nothing about the arithmetic may change. Checked here on every conv pass (forward,
both gradients), on the products themselves and on whole training steps, with
cores.CPU_THREADS forced to 1 and to 2 and the BLAS on one thread (as
cores.both_cores runs it), and on GAN.fit with the BLAS on one thread and on two.
"""

import contextlib
import faulthandler
import os
import platform
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minigan import backend, cores, flat
from minigan.gan import GAN
from minigan.layers import Conv2D, ConvTranspose2D, Dropout, LeakyReLU, conv_fast
from minigan.models import dcgan

# OpenBLAS has kernels of its own for small products (on a Xeon with AVX-512, seen up to
# about 2M multiply-adds), which sum in another order: a product whose halves fall below
# that size while the whole does not would change its last bits when split.
# backend.SPLIT_MACS (32M) keeps each half far above it; the tests split from 8M up.
SMALL_PRODUCT = 1 << 23


SPIN_LOCKS = cores._spin_locks() is not None and cores.cpus_allowed() >= 2  # both_cores would spin


@pytest.fixture(params=["spinning", "pooled"])
def threads(request, monkeypatch):
    """Set cores.CPU_THREADS for one test (restored after it), with the BLAS on one
    thread as ``both_cores`` runs it; the small arrays of a test are split too
    (cores.SPLIT_ELEMENTS = 0), and products from SMALL_PRODUCT multiply-adds up.
    Each test runs twice: with the spinning worker that ``both_cores`` starts, and
    with the pooled one that serves any other thread."""
    if request.param == "spinning" and not SPIN_LOCKS:
        pytest.skip("no spinning worker here (no POSIX spin locks, or fewer than two CPUs)")
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)
    monkeypatch.setattr(backend, "SPLIT_MACS", SMALL_PRODUCT)

    if request.param == "spinning":  # every split goes to the spinning worker: none may fall back
        monkeypatch.setattr(cores, "_pool", NoPool())
        monkeypatch.setattr(cores.SpinningWorker, "LATE_LIMIT", 10**9)  # nor rest, on a busy test machine
    with contextlib.ExitStack() as stack:

        def set_threads(n):
            monkeypatch.setattr(cores, "CPU_THREADS", n)
            if n == 2 and request.param == "spinning" and cores._spinner is None:
                stack.enter_context(cores._spinning_worker())

        stack.enter_context(threadpool_limits(1, user_api="blas"))
        yield set_threads


class NoPool:
    """Stands for the pooled worker where every split should go to the spinning one."""

    def submit(self, *args):
        raise AssertionError("a split went to the pooled worker instead of the spinning one")


@pytest.fixture(autouse=True)
def no_hang():
    """A hand-over that never ends fails the run with every thread's traceback, instead
    of hanging it (a spinning wait cannot be interrupted)."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def watch_threads(monkeypatch):
    """Record the name of every thread that runs a part of in_halves (returns the list)."""
    names = []
    real = backend.in_halves

    def watched(xp, fn, n, *args, **kwargs):
        def recorded(lo, hi):
            names.append(threading.current_thread().name)
            fn(lo, hi)

        real(xp, recorded, n, *args, **kwargs)

    for module in (backend, conv_fast, flat):  # each calls it by its own name
        monkeypatch.setattr(module, "in_halves", watched)
    return names


def on_worker(names):
    return any(name.startswith("minigan-cpu") for name in names)


def conv_passes(layer, x, dout):
    """(y, dx, dW) of one forward and backward pass of a fresh copy of ``layer``."""
    y = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dout)
    return y.copy(), dx.copy(), layer.grads["W"].copy()


@pytest.mark.parametrize(
    ("make", "x_shape"),
    [
        (lambda: Conv2D(3, 8, 5, stride=2, padding=2, rng=np.random.default_rng(0)), (37, 3, 12, 12)),
        (lambda: Conv2D(64, 16, 5, stride=2, padding=2, rng=np.random.default_rng(1)), (33, 64, 14, 14)),
        (lambda: ConvTranspose2D(32, 8, 5, stride=2, padding=2, output_padding=1, rng=np.random.default_rng(2)),
         (35, 32, 7, 7)),
        (lambda: Conv2D(2, 3, 3, rng=np.random.default_rng(3)), (1, 2, 5, 5)),  # one image: nothing to split
    ],
)  # fmt: skip
def test_conv_passes_are_the_same_on_one_and_two_threads(threads, make, x_shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(np.float32)
    results = []
    for n in (1, 2):
        threads(n)
        layer = make()
        dout = np.random.default_rng(5).standard_normal(layer.output_shape(x.shape)).astype(np.float32)
        results.append(conv_passes(layer, x, dout))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))  # bits, signed zeros included


def test_training_steps_are_the_same_on_one_and_two_threads(threads):
    real = np.random.default_rng(6).uniform(-1, 1, (3, 20, 1, 28, 28)).astype(np.float32)
    weights = []
    for n in (1, 2):
        threads(n)
        gan = GAN(*dcgan(latent_dim=16, seed=0), 16, seed=0)
        for batch in real:
            gan.train_step(batch)
        weights.append([p.copy() for net in (gan.G, gan.D) for p in net.params.values()])
    for one, two in zip(*weights):
        np.testing.assert_array_equal(one, two)


def test_cpu_threads_is_one_unless_set(monkeypatch):
    monkeypatch.setattr(cores, "CPU_THREADS", None)
    monkeypatch.setenv("MINIGAN_CPU_THREADS", "2")  # no longer read: both_cores decides
    assert backend.cpu_threads() == 1
    monkeypatch.setattr(cores, "CPU_THREADS", 2)
    assert backend.cpu_threads() == 2


def test_in_halves_covers_every_item_once_and_passes_errors_on(threads):
    threads(2)
    seen = np.zeros(7, dtype=int)

    def count(lo, hi):
        seen[lo:hi] += 1

    backend.in_halves(np, count, 7, 7)
    np.testing.assert_array_equal(seen, 1)

    def fail(lo, hi):
        if lo == 0:
            raise RuntimeError("the first half failed")

    with pytest.raises(RuntimeError, match="the first half failed"):
        backend.in_halves(np, fail, 4, 4)


def test_keep_freed_memory_is_set_where_there_is_glibc():
    assert backend.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_small_passes_stay_on_one_thread(monkeypatch):
    monkeypatch.setattr(cores, "CPU_THREADS", 2)
    calls = []
    backend.in_halves(np, lambda lo, hi: calls.append((lo, hi)), 8, cores.SPLIT_ELEMENTS - 1)
    assert calls == [(0, 8)]
    backend.in_halves(np, lambda lo, hi: calls.append((lo, hi)), 8, cores.SPLIT_ELEMENTS)
    assert sorted(calls[1:]) == [(0, 4), (4, 8)]


def test_the_worker_half_keeps_the_callers_errstate(threads):
    threads(2)
    x = np.full((4, 3), 60000.0, dtype=np.float16)

    def double(lo, hi):
        x[lo:hi] * np.float16(2)  # overflows in float16

    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        backend.in_halves(np, double, 4, 12)
    with np.errstate(over="ignore"):
        backend.in_halves(np, double, 4, 12)  # no warning on either thread


@pytest.mark.parametrize("shape", [(9, 4, 3, 3), (2, 5), (1, 7), (5,)])
def test_dropout_and_leaky_relu_are_the_same_on_one_and_two_threads(threads, shape):
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    x[0] = -0.0  # signed zeros must come out as one thread makes them
    results = []
    for n in (1, 2):
        threads(n)
        leaky, drop = LeakyReLU(0.2), Dropout(0.3, seed=1)
        y = drop.forward(leaky.forward(x))
        results.append([leaky.slope, y, drop.backward(y), leaky.backward(y)])
    for one, two in zip(*results):
        np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))


def test_freed_memory_is_kept_only_when_training_on_the_cpu_and_can_be_turned_off(monkeypatch):
    """The malloc setting holds for the whole process: importing minigan must not make it; fit does."""
    import subprocess
    import sys

    from minigan import gan as gan_module
    from minigan.gan import GAN
    from minigan.models import mlp_gan

    code = ("import ctypes; opened = []; real = ctypes.CDLL\n"
            "ctypes.CDLL = lambda name, *a, **k: opened.append(name) or real(name, *a, **k)\n"
            "import minigan, minigan.backend, minigan.gan, minigan.models, minigan.train\n"
            "print(opened)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "libc.so.6" not in out, out
    calls = []
    monkeypatch.setattr(gan_module, "keep_freed_memory", lambda: calls.append(1))
    gan = GAN(*mlp_gan(latent_dim=4, hidden=8, seed=0), latent_dim=4, seed=0)
    gan.fit(np.zeros((8, 1, 28, 28), np.float32), epochs=1, batch_size=8, progress=False)
    assert calls == [1]
    monkeypatch.setenv("MINIGAN_KEEP_FREED_MEMORY", "0")
    assert backend.keep_freed_memory() is False


@pytest.mark.parametrize("shape", [(600, 100, 150), (150, 100, 600), (1, 8, 5), (2, 3, 2)])  # (m, k, n)
def test_matmul_in_halves_is_one_product_bit_for_bit(threads, monkeypatch, shape):
    """Rows in halves when m >= n, columns when m < n; small products in one go."""
    m, k, n = shape
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    names = watch_threads(monkeypatch)
    threads(2)
    two = backend.matmul(a, b)
    transposed = backend.matmul(np.asfortranarray(a.T).T, b)  # a laid out as the transpose of a C array
    into = backend.matmul(a, b, out=np.full((m, n), np.nan, dtype=np.float32))
    assert on_worker(names) == (m * k * n >= SMALL_PRODUCT)  # the large ones were split
    threads(1)
    for result in (two, transposed, into):
        np.testing.assert_array_equal(result.view(np.uint32), (a @ b).view(np.uint32))


def test_an_outer_product_is_the_blas_product_bit_for_bit(threads):
    """k = 1 is one elementwise product; zeros times negatives give +0.0, as the BLAS's sum does."""
    a = np.array([[0.0], [-2.0], [3.5], [0.0]] * 50, np.float32)  # (200, 1)
    b = np.array([[-1.0, 0.0, 2.0, -0.0, 1e-30] * 60], np.float32)  # (1, 300)
    expected = a @ b
    assert not np.signbit(expected[expected == 0]).any()
    for n in (1, 2):
        threads(n)
        np.testing.assert_array_equal(backend.matmul(a, b).view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((6, 3, 4, 5), (6, 3, 4, 5)), ((9, 7), (1, 7)), ((9, 7), ()), ((), ()), ((5,), (5,))]
)
def test_multiply_in_halves_is_one_product_bit_for_bit(threads, a_shape, b_shape):
    rng = np.random.default_rng(8)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    threads(2)
    two = backend.multiply(a, b)
    channels_last = backend.multiply(a.transpose(0, 2, 3, 1), b.transpose(0, 2, 3, 1)) if a.ndim == 4 else None
    np.testing.assert_array_equal(np.asarray(two).view(np.uint32), np.asarray(a * b).view(np.uint32))
    if channels_last is not None:
        np.testing.assert_array_equal(channels_last, (a * b).transpose(0, 2, 3, 1))
        assert channels_last.strides == a.transpose(0, 2, 3, 1).strides  # laid out like a


def test_both_cores_puts_the_blas_on_one_thread_and_back(monkeypatch):
    monkeypatch.setattr(cores, "CPU_THREADS", None)
    monkeypatch.delenv("MINIGAN_CPU_THREADS", raising=False)
    blas = cores._numpy_blas()
    assert blas is not None, "threadpoolctl finds no BLAS for NumPy"
    with threadpool_limits(2, user_api="blas"):
        with backend.both_cores():
            assert (backend.cpu_threads(), blas.num_threads) == (2, 1)
            with backend.both_cores():  # nested: the outer one decides
                assert (backend.cpu_threads(), blas.num_threads) == (2, 1)
            assert (backend.cpu_threads(), blas.num_threads) == (2, 1)
        assert (cores.CPU_THREADS, blas.num_threads) == (None, 2)
        with pytest.raises(KeyboardInterrupt), backend.both_cores():
            raise KeyboardInterrupt  # an interrupted fit
        assert (cores.CPU_THREADS, blas.num_threads) == (None, 2)
        monkeypatch.setenv("MINIGAN_CPU_THREADS", "1")  # the user's choice stands
        with backend.both_cores():
            assert (backend.cpu_threads(), blas.num_threads) == (1, 2)
    with threadpool_limits(1, user_api="blas"), backend.both_cores():  # one BLAS thread: nothing to split
        assert (cores.CPU_THREADS, blas.num_threads) == (None, 1)


@pytest.mark.parametrize("threads", ["pooled"], indirect=True)  # called from another thread: the pooled worker
def test_in_halves_called_from_the_worker_runs_there(threads):
    """A part that splits again runs its inner parts on the worker itself, instead of
    waiting for the one worker that is busy running it."""
    threads(2)
    seen = np.zeros(8, dtype=int)

    def inner(lo, hi):
        seen[lo:hi] += 1

    def outer(lo, hi):
        backend.in_halves(np, lambda a, b: inner(lo + a, lo + b), hi - lo, 8)

    done = threading.Thread(target=backend.in_halves, args=(np, outer, 8, 8), daemon=True)
    done.start()
    done.join(timeout=30)
    assert not done.is_alive(), "in_halves waited for itself"
    np.testing.assert_array_equal(seen, 1)


def test_fit_gives_the_same_numbers_on_one_core_and_on_two(monkeypatch):
    """A convolutional GAN trains within both_cores when the BLAS has two threads: the
    numbers are those of the BLAS on one thread, so a seed gives one result on either."""
    monkeypatch.setattr(cores, "CPU_THREADS", None)
    monkeypatch.delenv("MINIGAN_CPU_THREADS", raising=False)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)
    monkeypatch.setattr(backend, "SPLIT_MACS", SMALL_PRODUCT)
    x = np.random.default_rng(9).uniform(-1, 1, (40, 1, 28, 28)).astype(np.float32)
    names, weights, used_worker = watch_threads(monkeypatch), [], []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="blas"):
            gan = GAN(*dcgan(latent_dim=16, seed=0), 16, seed=0)
            gan.fit(x, epochs=1, batch_size=20, progress=False)
        weights.append([p.copy() for net in (gan.G, gan.D) for p in net.params.values()])
        used_worker.append(on_worker(names))
        names.clear()
    assert used_worker == [False, True]  # one BLAS thread: nothing split; two: the worker did half
    for one, two in zip(*weights):
        np.testing.assert_array_equal(one.view(np.uint32), two.view(np.uint32))


def test_only_convolutional_gans_use_both_cores():
    from minigan.gan import convolutional
    from minigan.models import build

    assert convolutional(*build("dcgan", seed=0)) and convolutional(*build("cdcgan", seed=0))
    assert not convolutional(*build("mlp", seed=0)) and not convolutional(*build("cmlp", seed=0))


@pytest.fixture
def spinning(monkeypatch):
    """both_cores' spinning worker for one test (skipped where the C library has no spin locks)."""
    if not SPIN_LOCKS:
        pytest.skip("no spinning worker here (no POSIX spin locks, or fewer than two CPUs)")
    monkeypatch.setattr(cores, "CPU_THREADS", 2)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)
    monkeypatch.setattr(cores.SpinningWorker, "LATE_LIMIT", 10**9)  # no rests on a busy test machine (but where set)
    with cores._spinning_worker():
        yield cores._spinner


def test_both_cores_hands_halves_to_a_spinning_worker_and_stops_it(monkeypatch):
    """Within both_cores the first half runs on the spinning worker; on the way out the
    worker ends, so nothing spins after training."""
    if not SPIN_LOCKS:
        pytest.skip("no spinning worker here (no POSIX spin locks, or fewer than two CPUs)")
    monkeypatch.setattr(cores, "CPU_THREADS", None)
    monkeypatch.delenv("MINIGAN_CPU_THREADS", raising=False)
    names = []
    with threadpool_limits(2, user_api="blas"), backend.both_cores():
        worker = cores._spinner.thread
        backend.in_halves(np, lambda lo, hi: names.append((lo, threading.current_thread().name)), 4, 1 << 20)
    assert sorted(names) == [(0, "minigan-cpu-spin"), (2, threading.current_thread().name)]
    assert cores._spinner is None and not worker.is_alive()


def test_the_spinning_worker_passes_errors_on_and_goes_on(spinning):
    def fail(lo, hi):
        if lo == 0:
            raise ValueError("the worker's half failed")

    for _ in range(2):
        with pytest.raises(ValueError, match="the worker's half failed"):
            backend.in_halves(np, fail, 4, 4)
    seen = np.zeros(6, dtype=int)
    backend.in_halves(np, lambda lo, hi: seen.__setitem__(slice(lo, hi), seen[lo:hi] + 1), 6, 6)
    np.testing.assert_array_equal(seen, 1)
    assert spinning.thread.is_alive()


def test_a_split_inside_the_callers_half_goes_to_the_other_worker(spinning):
    """While the spinning worker runs the first half, a split made inside the second
    half (on this thread) cannot wait for it: it goes to the pooled worker."""
    seen, names = np.zeros(8, dtype=int), set()

    def inner(lo, hi):
        seen[lo:hi] += 1
        names.add(threading.current_thread().name)

    def outer(lo, hi):
        backend.in_halves(np, lambda a, b: inner(lo + a, lo + b), hi - lo, 8)

    backend.in_halves(np, outer, 8, 8)
    np.testing.assert_array_equal(seen, 1)
    assert "minigan-cpu-spin" in names and any(n.startswith("minigan-cpu_") for n in names)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
def test_a_forked_child_does_not_hand_halves_to_its_parents_worker(spinning):
    seen = np.zeros(4, dtype=int)
    pid = os.fork()
    if pid == 0:  # the child: its own worker does the first half
        try:
            backend.in_halves(np, lambda lo, hi: seen.__setitem__(slice(lo, hi), 1), 4, 4)
            os._exit(0 if cores._spinner is None and seen.sum() == 4 else 1)
        except BaseException:  # noqa: BLE001
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_stopped_spinning_worker_leaves_no_half_undone(spinning):
    """Stopped from elsewhere while its owner goes on splitting, the worker is gone:
    the owner then does both halves itself, and waits for nothing."""
    spinning.stop()
    assert not spinning.thread.is_alive()
    seen = np.zeros(6, dtype=int)

    def count(lo, hi):
        seen[lo:hi] += 1

    for calls in (1, 2):
        spinning.halves(count, 6)
        np.testing.assert_array_equal(seen, calls)


def test_the_hand_over_benchmark_runs_and_prints_both_workers():
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "handover.py")
    out = subprocess.run(
        [sys.executable, script, "--calls", "20"], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.strip().startswith("pooled") for line in lines) == 3
    assert sum(line.strip().startswith("spinning") for line in lines) == (3 if SPIN_LOCKS else 1)


@pytest.mark.parametrize(
    ("proc", "files", "expected"),
    [
        ("0::/\n", {"cpu.max": "max 100000\n"}, 2),  # cgroup v2, no quota: the CPUs it may run on
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # a container started with --cpus=1.5
        ("0::/a/b\n", {"a/b/cpu.max": "max 100000\n", "a/cpu.max": "100000 100000\n"}, 1),  # a parent's quota
        ("1:cpu:/docker/x\n0::/\n", {"cpu/docker/x/cpu.cfs_quota_us": "100000\n",
                                       "cpu/docker/x/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
        ("2:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                               "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 2),  # v1, no quota
        ("0::/\n", {"cpu.max": ""}, 2),  # unreadable: the CPUs it may run on
        (None, {}, 2),  # no cgroups at all
    ],
)  # fmt: skip
def test_cpus_allowed_reads_a_cgroup_quota(tmp_path, monkeypatch, proc, files, expected):
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(cores, "CGROUP_ROOT", str(tmp_path / "cgroup"))
    monkeypatch.setattr(cores, "PROC_CGROUP", str(tmp_path / "proc_self_cgroup"))
    if proc is not None:
        (tmp_path / "proc_self_cgroup").write_text(proc)
    for name, text in files.items():
        path = tmp_path / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert cores.cpus_allowed() == expected


def test_no_spinning_worker_without_two_cpus_to_keep_busy(monkeypatch):
    """Under a CPU quota below two CPUs a spinning worker would burn half of it: the
    pooled worker serves instead."""
    monkeypatch.setattr(cores, "cpus_allowed", lambda: 1.5)
    with cores._spinning_worker():
        assert cores._spinner is None


def test_a_spinning_worker_whose_halves_come_late_rests_then_tries_again(spinning, monkeypatch):
    """On a machine busy with other work the worker's halves come late: after
    LATE_LIMIT late ones its thread ends and the pooled worker serves, until the rest
    is over and a new spinning thread starts."""
    names = []

    def slow_first_half(lo, hi):
        names.append(threading.current_thread().name)
        if lo == 0:
            time.sleep(2 * spinning.LATE_S)  # the worker's half comes late

    monkeypatch.setattr(spinning, "LATE_LIMIT", 8)
    monkeypatch.setattr(spinning, "started", time.perf_counter() - spinning.GRACE_S)  # past its first moments
    first_thread = spinning.thread
    for _ in range(spinning.LATE_LIMIT):
        backend.in_halves(np, slow_first_half, 2, 2)
    assert spinning.resting_until is not None and not first_thread.is_alive()
    assert spinning.resting_until - time.perf_counter() <= spinning.REST_S and spinning.rests == 1  # a short rest first
    spinning.resting_until = time.perf_counter() + 60  # (however slow this machine, still resting below)
    names.clear()
    backend.in_halves(np, slow_first_half, 2, 2)
    assert any(n.startswith("minigan-cpu_") for n in names)  # the pooled worker, meanwhile
    spinning.resting_until = time.perf_counter() - 1  # the rest is over
    names.clear()
    out = np.zeros(4)

    def write(lo, hi):
        names.append(threading.current_thread().name)
        time.sleep(0.01 if lo == 0 else 0)
        out[lo:hi] = 1

    backend.in_halves(np, write, 4, 4)
    assert "minigan-cpu-spin" in names and spinning.thread.is_alive() and spinning.thread is not first_thread
    np.testing.assert_array_equal(out, 1)  # the new thread's half was done before in_halves returned


def test_rests_grow_while_the_machine_stays_busy_up_to_a_limit(spinning, monkeypatch):
    monkeypatch.setattr(spinning, "LATE_LIMIT", 1)

    def late_first_half(lo, hi):
        if lo == 0:
            time.sleep(2 * spinning.LATE_S)

    rests = []
    for _ in range(40):
        if spinning.resting_until is not None:
            spinning.resting_until = time.perf_counter() - 1  # each rest over at once
        assert spinning.available()
        spinning.started -= spinning.GRACE_S  # past its first moments
        before = time.perf_counter()
        backend.in_halves(np, late_first_half, 2, 2)
        rests.append(round(spinning.resting_until - before))
    assert rests[:6] == [1, 2, 4, 8, 16, 30] and set(rests[6:]) == {30}  # and no overflow, however long


def test_late_halves_right_after_the_start_do_not_count(spinning, monkeypatch):
    """Threads that spun just before (the BLAS's, another library's) slow the first
    moments of a new worker: those halves are not counted against it."""
    monkeypatch.setattr(spinning, "LATE_LIMIT", 8)
    spinning.started = time.perf_counter()

    def slow_first_half(lo, hi):
        if lo == 0:
            time.sleep(2 * spinning.LATE_S)

    for _ in range(spinning.LATE_LIMIT):
        backend.in_halves(np, slow_first_half, 2, 2)
    assert spinning.resting_until is None and spinning.thread.is_alive()
