"""Time one optimizer step, zero_grad and the gradient norm over a real network's parameters.

    python benchmarks/optimizer.py --model mlp --threads 2
    python benchmarks/optimizer.py --model dcgan --threads 2 --rounds 30

For G and D of ``--model`` together (the two Adam steps of one training step), in
turn, block after block in one process, so that a busy machine slows all alike:

- adam per array:   ``optim.Adam`` over separate arrays (13 NumPy passes per array)
- adam flat:        the same over one buffer per network (``flat.flatten``), block by
                    block in the cache; "2 threads" splits the buffer in two halves
- torch adam:       ``torch.optim.Adam`` with its CPU default (one tensor at a time),
                    and with ``fused=True``, when PyTorch is importable
- zero_grad / grad norm, per array and over the flat buffer.

Prints the median ms of each and its quartiles over the rounds.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import blas_info, compiled_note, cpu_model, limit_threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("mlp", "dcgan"), default="mlp")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--block", type=int, default=10, help="calls of one variant in a row")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)
    threads = limit_threads(args.threads)

    import numpy as np

    from minigan import cores, flat
    from minigan.models import build
    from minigan.optim import Adam

    def adam_setup(flatten):
        nets = build(args.model, seed=0)
        rng = np.random.default_rng(1)
        pairs = []
        for net in nets:
            if flatten:
                flat.flatten(net)
            for g in net.grads.values():
                g[...] = rng.standard_normal(g.shape, dtype=np.float32)
            pairs.append((net, Adam(2e-4, 0.5, 0.999)))
        return pairs

    separate, flattened = adam_setup(False), adam_setup(True)
    buffers = [(flat.flat_buffer(net.params.values()), flat.flat_buffer(net.grads.values())) for net, _ in flattened]
    for net, opt in flattened:  # make the flat state
        opt.step(net.params, net.grads)
    states = [(opt.state["m"], opt.state["v"]) for _, opt in flattened]
    flat_m = [flat.flat_buffer(m.values()) for m, _ in states]
    flat_v = [flat.flat_buffer(v.values()) for _, v in states]
    n_params = sum(int(b[0].size) for b in buffers)

    def per_array():
        for net, opt in separate:
            opt.step(net.params, net.grads)

    def flat_adam(threads):
        def run():
            cores.CPU_THREADS, before = threads, cores.CPU_THREADS  # Adam's blocks on 1 or 2 threads
            try:
                for (pb, gb), m, v in zip(buffers, flat_m, flat_v, strict=True):
                    flat.adam_update(pb, gb, m, v, 10, 2e-4, 0.5, 0.999, 1e-8)
            finally:
                cores.CPU_THREADS = before

        return run

    def zero_per_array():
        for net, _ in separate:
            for g in net.grads.values():
                g[...] = 0

    def zero_flat():
        for _, gb in buffers:
            gb[...] = 0

    def norm_per_array():
        for net, _ in separate:
            float(np.sqrt(sum(float(np.vdot(g, g)) for g in net.grads.values())))

    def norm_flat():
        for _, gb in buffers:
            float(np.sqrt(np.vdot(gb, gb)))

    variants = {
        "adam per array": per_array,
        "adam flat, 1 thread": flat_adam(1),
        "adam flat, 2 threads": flat_adam(2),
        "zero_grad per array": zero_per_array,
        "zero_grad flat": zero_flat,
        "grad norm per array": norm_per_array,
        "grad norm flat": norm_flat,
    }
    torch_note = "not asked for" if args.no_torch else "not importable"
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            if args.threads:
                torch.set_num_threads(args.threads)
            torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
            for fused in (False, True):
                tparams = [
                    torch.from_numpy(p.copy()).requires_grad_() for net, _ in separate for p in net.params.values()
                ]
                for tp in tparams:
                    tp.grad = torch.randn_like(tp)
                topt = torch.optim.Adam(tparams, 2e-4, betas=(0.5, 0.999), fused=fused)
                variants[f"torch adam{' fused' if fused else ''}"] = topt.step

    times = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            fn()  # untimed: the other variant's threads may still be spinning
            t0 = time.perf_counter()
            for _ in range(args.block):
                fn()
            times[name].append((time.perf_counter() - t0) / args.block)
    print(f"{args.model}: G and D, {n_params:,} parameters, float32; threads {threads}")
    print(f"  {cpu_model()}; NumPy {np.__version__}, BLAS {blas_info()}; {torch_note}")
    print(f"  minigan's compiled loops: {compiled_note()}")
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else (ts[0], ts[0], ts[0])
        print(f"  {name:24s} {1000 * statistics.median(ts):7.3f} ms  (quartiles {1000 * q[0]:.3f}-{1000 * q[2]:.3f})")


if __name__ == "__main__":
    main()
