"""Forward and backward time of every layer of the DCGAN (or the MLP GAN), at the shapes a training step uses.

    python benchmarks/layers.py --threads 2 [--batch-size 64] [--device cpu|gpu] [--repeats 20]
    python benchmarks/layers.py --model mlp --batch-size 128 --threads 2

G's layers run at batch N (one forward, one backward per step); D's at 2N, the
[real; fake] batch of pass (1). Each layer gets the input it sees in the network
(the output of the layer before, in that layer's memory order) and an upstream
gradient laid out like its output. Columns: median ms of forward, of backward with
weight gradients, of backward without them (param_grads=False, as in pass (2)),
and GFLOP/s of the matrix products (forward, and backward with both gradients).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import (
    blas_info,
    compiled_note,
    cpu_model,
    forward_macs,
    limit_threads,
    make_timer,
    matmul_peak,
    standin_note,
    timed,
)


def like(xp, a, rng):
    """Standard normal numbers shaped and laid out like ``a``."""
    out = xp.empty_like(a)
    out[...] = xp.asarray(rng.standard_normal(a.shape, dtype="float32"))
    return out


def bench_net(net, x, repeats, now, xp, rng):
    """One row per layer: (name, fwd s, bwd s, bwd-without-weights s, forward FLOP)."""
    n = x.shape[0]
    macs = forward_macs(net, x.shape[1:])
    rows = []
    for layer, m in zip(net.layers, macs, strict=True):
        y = layer.forward(x)
        dout = like(xp, y, rng)
        layer.backward(dout)  # warm-up

        def median_time(fn):
            return statistics.median(timed(fn, now)[0] for _ in range(repeats))

        fwd = median_time(lambda layer=layer, x=x: layer.forward(x))
        bwd = median_time(lambda layer=layer, dout=dout: layer.backward(dout))
        frozen = median_time(lambda layer=layer, dout=dout: layer.backward(dout, param_grads=False))
        rows.append((repr(layer), tuple(x.shape), fwd, bwd, frozen, 2 * n * m))
        x = layer.forward(x)  # the next layer's input, in this layer's memory order
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("dcgan", "mlp"), default="dcgan")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--peak-size", type=int, default=None, help="matmul size for the peak (default 2048 CPU, 8192 GPU)")
    args = p.parse_args(argv)
    threads = limit_threads(args.threads)

    import numpy as np

    from minigan.backend import GPUUnavailableError, module_for
    from minigan.models import build, recipe

    try:
        xp = module_for(args.device)
    except GPUUnavailableError as e:
        sys.exit(f"{sys.argv[0]}: {e}")
    now = make_timer(args.device)
    rng = np.random.default_rng(0)
    G, D = build(args.model, seed=0)
    G.to(args.device), D.to(args.device)
    n = args.batch_size
    z = xp.asarray(rng.standard_normal((n, recipe(args.model).latent_dim), dtype=np.float32))
    real = xp.asarray(rng.uniform(-1, 1, (2 * n, 1, 28, 28)).astype(np.float32))
    peak = matmul_peak(xp, args.peak_size or (2048 if args.device == "cpu" else 8192), now)
    if standin_note(args.device):
        print(standin_note(args.device))
    print(
        f"{args.model} layers, batch {n} (D at {2 * n}), {args.device}, threads {threads}; matmul peak {peak:.0f} GFLOP/s"
    )
    print(f"  {cpu_model()}; NumPy {np.__version__}, BLAS {blas_info()}")
    print(f"  minigan's compiled loops: {compiled_note()}")
    print(f"{'layer':78s} {'input':>18s} {'fwd ms':>8s} {'bwd ms':>8s} {'bwd ms':>8s} {'fwd':>7s} {'bwd':>7s}")
    print(f"{'':78s} {'':>18s} {'':>8s} {'':>8s} {'(frozen)':>8s} {'GFLOP/s':>7s} {'GFLOP/s':>7s}")
    total = 0.0
    for tag, net, x in (("G", G, z), ("D", D, real)):
        for i, (name, shape, fwd, bwd, frozen, flop) in enumerate(bench_net(net, x, args.repeats, now, xp, rng)):
            rates = f"{flop / fwd / 1e9:7.1f} {2 * flop / bwd / 1e9:7.1f}" if flop else f"{'':7s} {'':7s}"
            print(f"{tag}{i} {name:75s} {shape!s:>18} {1000 * fwd:8.2f} {1000 * bwd:8.2f} {1000 * frozen:8.2f} {rates}")
            total += fwd + bwd
    print(f"sum of forward + backward over all layers: {1000 * total:.1f} ms")


if __name__ == "__main__":
    main()
