"""Why a pass split over two threads needs few, large NumPy calls in each half.

    python benchmarks/small_calls.py
    python benchmarks/small_calls.py --sizes 1070000 --blocks 8192,65536,131072

Within ``backend.both_cores`` minigan runs half of a pass on a second thread. NumPy
lets go of Python's lock (the GIL) inside each call and takes it back when the call
ends, so two threads making many short calls keep asking for the lock while the
other holds it; the one that finds it taken sleeps until it is free. This script
times Adam's 13 passes over one flat buffer (``flat.adam_update``), a block of
``--blocks`` elements at a time, on one thread and within ``both_cores``: with small
blocks, two threads are SLOWER than one; with blocks of 128K elements and more, the
second core pays. ``flat.cpu_block`` picks the block size from this (the column
"cpu_block": NumPy's passes in its blocks). The last column is the compiled loop
that replaces those passes where numba is installed (``minigan/compiled.py``; "-"
without it), one call per half. Before each call a 64 MiB array is written, so that
the buffers come from main memory, as in a training step. Prints the median time in ms.
"""

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import blas_info, cpu_model, limit_threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="330000,660000,1070000", help="buffer sizes (elements), comma-separated")
    p.add_argument("--blocks", default="8192,32768,65536,131072,262144", help="block sizes, comma-separated")
    p.add_argument("--calls", type=int, default=60, help="timed calls per figure")
    args = p.parse_args(argv)
    limit_threads(2)  # both_cores needs a BLAS on two threads to take over

    import numpy as np

    from minigan import compiled
    from minigan.cores import both_cores
    from minigan.flat import adam_update, cpu_block

    print(f"{cpu_model()}; NumPy {np.__version__}, {blas_info()}")
    print("Adam over one buffer, ms (median); 2 threads: within both_cores, halves of the blocks on each core")
    flush = np.zeros(16 << 20, dtype=np.float32)  # 64 MiB

    def timed(call):
        times = []
        for _ in range(args.calls):
            np.add(flush, 1, out=flush)  # the buffers leave the caches
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    blocks = [int(b) for b in args.blocks.split(",")]
    print(f"{'elements':>9} {'threads':>7} " + " ".join(f"{b:>8}" for b in blocks) + "   cpu_block       compiled")
    loops = compiled.loops()
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        g = rng.standard_normal(n).astype(np.float32)
        buffers = (g.copy(), g, np.zeros_like(g), np.full_like(g, 0.1))  # p, g, m, v

        def adam(block=None, buffers=buffers):
            adam_update(*buffers, 5, 1e-3, 0.5, 0.999, 1e-8, block=block)

        for threads in (1, 2):
            with both_cores() if threads == 2 else contextlib.nullcontext():
                row = [timed(functools.partial(adam, b)) for b in blocks]  # NumPy's passes: a block size given
                chosen = cpu_block(n)
                ours = timed(functools.partial(adam, chosen))
                loop = f"{timed(adam):8.3f}" if loops is not None else f"{'-':>8}"  # no block: the compiled loop
            print(f"{n:>9} {threads:>7} " + " ".join(f"{t:8.3f}" for t in row) + f"   {ours:.3f} ({chosen}) {loop}")


if __name__ == "__main__":
    main()
