"""Time one hand-over of half a pass to minigan's second thread (``backend.in_halves``).

    python benchmarks/handover.py            # 2 BLAS threads, as both_cores needs
    python benchmarks/handover.py --calls 4000

Within ``backend.both_cores`` a training step cuts each large product and copy in two
halves, one per core. This script measures what a cut costs, with each of the two
workers ``in_halves`` can hand a half to:

- pooled:   a ``ThreadPoolExecutor`` worker that sleeps until it is handed a half
            (what other threads, and machines without spin locks, use);
- spinning: ``cores.SpinningWorker``, which waits in a C spin lock (Linux only; what
            ``both_cores`` uses where it can).

Both run as within ``both_cores``: the BLAS on one thread (``--blas-during 2`` shows
why: a spinning worker beside the BLAS's own spinning threads fights them for the
second core). The spinning worker runs without its rests (which would hand its halves
to the pooled worker when they come late), so that its rows time it alone. For each,
``in_halves`` is called with an empty half ("empty": the hand-over alone) and
with the halves of a 2M-element product (``np.multiply``), right after the previous
call, and after the main thread ran alone for 1 ms or 3 ms (Python and small products,
as between the splits of a training step). The same product on one thread is the
baseline. Prints the median and 90th percentile of each, in microseconds.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import blas_info, cpu_model, limit_threads


def busy(seconds, b):
    """Run Python alone on this thread for ``seconds``, with a small product now and then."""
    start, k = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        k += 1
        if k % 50 == 0:
            b @ b


def timed(call, calls, gap, b):
    """Median and 90th percentile, in microseconds, of ``call()`` made ``calls`` times,
    each after ``gap`` seconds of the main thread working alone."""
    times = []
    for _ in range(calls):
        if gap:
            busy(gap, b)
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1e6, times[int(0.9 * len(times))] * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="BLAS threads at start (both_cores needs 2)")
    p.add_argument("--blas-during", type=int, default=1,
                   help="BLAS threads while the halves are timed: 1, as within both_cores; 2 shows the "
                        "spinning worker fighting OpenBLAS's own spinning threads")  # fmt: skip
    p.add_argument("--calls", type=int, default=1000, help="calls per figure (the 2M-element product: a fifth)")
    args = p.parse_args(argv)
    threads = limit_threads(args.threads)

    import numpy as np
    from threadpoolctl import threadpool_limits

    from minigan import backend, cores

    a = np.ones(2_000_000, dtype=np.float32)
    out = np.empty_like(a)
    b = np.ones((300, 300), dtype=np.float32)

    def empty(lo, hi):
        pass

    def product(lo, hi):
        np.multiply(a[lo:hi], 2, out=out[lo:hi])

    print(f"hand-over of half a pass to minigan's second thread; BLAS threads {threads}")
    print(f"  {cpu_model()}; NumPy {np.__version__}, BLAS {blas_info()}")
    one = timed(lambda: product(0, len(a)), max(args.calls // 5, 20), 0.0, b)
    print(f"  2M-element product on one thread: median {one[0]:.0f} µs (p90 {one[1]:.0f})")
    print(f"  BLAS threads while the halves are timed: {args.blas_during}")
    header = ("worker", "main thread alone before", "empty half: median (p90)", "2M product: median (p90)")
    print(f"  {header[0]:9} {header[1]:>25} {header[2]:>26} {header[3]:>26}")
    before = cores.CPU_THREADS
    for worker in ("pooled", "spinning"):
        cores.CPU_THREADS = 2  # as within both_cores: minigan's two threads (and the BLAS on one)
        cores.SpinningWorker.LATE_LIMIT = 10**9  # the spinning worker without its rests: the rows time it alone
        try:
            with (
                threadpool_limits(args.blas_during, user_api="blas"),
                cores._spinning_worker() if worker == "spinning" else contextlib.nullcontext(),
            ):
                if worker == "spinning" and cores._spinner is None:
                    print("  spinning: not here (not Linux, or fewer than two CPUs to keep busy)")
                    continue
                for gap in (0.0, 0.001, 0.003):
                    e = timed(lambda: backend.in_halves(np, empty, len(a), a.size), args.calls, gap, b)
                    m = timed(lambda: backend.in_halves(np, product, len(a), a.size), max(args.calls // 5, 20), gap, b)
                    when = "just called" if not gap else f"{gap * 1e3:.0f} ms"
                    print(f"  {worker:9} {when:>25} {e[0]:>15.0f} µs ({e[1]:.0f}) {m[0]:>15.0f} µs ({m[1]:.0f})")
        finally:
            cores.CPU_THREADS = before


if __name__ == "__main__":
    main()
