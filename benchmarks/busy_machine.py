"""The DCGAN step within ``both_cores`` on a quiet machine and beside a busy process.

    python benchmarks/busy_machine.py
    python benchmarks/busy_machine.py --blocks 6 --block 5

A spinning thread (``cores.SpinningWorker``) is fastest on a quiet machine and takes
turns with any other busy process; it watches for late halves and rests, leaving its
halves to the pooled worker. This script measures each way of training, each in a
fresh process of its own, first on the quiet machine and then beside one CPU-bound
process that it starts (a Python busy loop) and stops:

- spinning: ``both_cores`` as ``GAN.fit`` uses it (spinning worker, with its rests);
- pooled:   ``both_cores`` with the pooled worker only (round 7);
- blas2:    no ``both_cores``, the BLAS on its two threads (``MINIGAN_CPU_THREADS=1``);
- one:      everything on one thread (``OPENBLAS_NUM_THREADS=1``).

Prints the median ms per step over ``--blocks`` blocks of ``--block`` steps (batch 64),
after two untimed steps.
"""

import argparse
import os
import subprocess
import sys
import time

CHILD = """
import statistics, sys, time
import numpy as np
from minigan import backend, cores, models
from minigan.gan import GAN
mode, blocks, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
backend.keep_freed_memory()
if mode == "pooled":
    cores._spin_locks = lambda: None  # both_cores without the spinning worker
G, D = models.dcgan(seed=0)
gan = GAN(G, D, latent_dim=128)
x = np.random.default_rng(0).uniform(-1, 1, (64, 1, 28, 28)).astype(np.float32)
times = []
with gan.training_threads(np):
    for _ in range(2):
        gan.train_step(x)
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(block):
            gan.train_step(x)
        times.append((time.perf_counter() - start) / block * 1e3)
print(f"{statistics.median(times):.1f} " + " ".join(f"{t:.0f}" for t in times))
"""

MODES = {
    "spinning": {"OPENBLAS_NUM_THREADS": "2"},
    "pooled": {"OPENBLAS_NUM_THREADS": "2"},
    "blas2": {"OPENBLAS_NUM_THREADS": "2", "MINIGAN_CPU_THREADS": "1"},
    "one": {"OPENBLAS_NUM_THREADS": "1"},
}


def run(mode, blocks, block):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **MODES[mode]}
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(blocks), str(block)],
                         env=env, capture_output=True, text=True, check=True)  # fmt: skip
    median, *each = out.stdout.split()
    return float(median), each


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--block", type=int, default=5, help="steps per block")
    args = p.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_step import cpu_model

    print(f"DCGAN step, batch 64, median ms per step of {args.blocks} blocks of {args.block} steps; {cpu_model()}")
    for busy in (False, True):
        hog = None
        if busy:
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        try:
            print("beside one busy process:" if busy else "quiet:")
            for mode in MODES:
                median, each = run(mode, args.blocks, args.block)
                print(f"  {mode:9} {median:7.1f}   blocks: {' '.join(each)}")
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()


if __name__ == "__main__":
    main()
