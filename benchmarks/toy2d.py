"""The mode-collapse lab: GANs on the 2-D mixtures ring8 and grid25, and the usual fixes.

    python benchmarks/toy2d.py                      # every config, both datasets, 5 seeds
    python benchmarks/toy2d.py --steps 2000 --seeds 3 --configs gan pacgan2

For each config, dataset and seed it trains the toy MLPs (minigan.models.toy),
draws 2,500 samples and scores them with minigan.metrics.toy2d_report, the PacGAN
paper's protocol: modes covered, % high-quality samples (within 3 standard
deviations of the nearest mode), reverse KL of the mode histogram. It prints mean
+- standard error over seeds as a Markdown table, next to the paper's Table 1.
``--steps`` counts discriminator (critic) updates: the Wasserstein configs make
5 of them per generator update, as in their papers.

SHORTENED PROTOCOL. The paper trains 400 epochs over 100,000 points (batch 100,
Adam 1e-4): 400,000 steps, with larger networks (G: 4x400 ReLU+BatchNorm;
D: 3x200 maxout). This lab uses the same data (100,000 points per seed) and
evaluation, but the toy MLPs (3x128) and ``--steps`` updates (default 3,000) at
batch 120 (divisible by 2, 3 and 4, so packing never mixes real and fake), so a
run takes seconds on a CPU. Absolute numbers are therefore not the paper's; the
comparison between rows, all trained alike, is what the lab shows.
"""

import os

# Tiny matrices: one BLAS thread per worker process beats threads fighting over 2 cores.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from multiprocessing import Pool  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from minigan.data import load_dataset  # noqa: E402
from minigan.gan import GAN  # noqa: E402
from minigan.losses import WGANGP  # noqa: E402
from minigan.metrics import toy2d_report  # noqa: E402
from minigan.models import toy  # noqa: E402

# name: (objective, lr, label_smoothing, dropout in D, pack)
CONFIGS = {
    "gan": ("non-saturating", 1e-3, 0.0, 0.0, 1),
    "label-smoothing": ("non-saturating", 1e-3, 0.1, 0.0, 1),
    "dropout": ("non-saturating", 1e-3, 0.0, 0.3, 1),
    "lower-lr": ("non-saturating", 1e-4, 0.0, 0.0, 1),
    "wgan": ("wgan", 1e-4, 0.0, 0.0, 1),
    "wgan-gp": ("wgan-gp", 1e-4, 0.0, 0.0, 1),
    "wgan-gp-0.1": ("wgan-gp", 1e-4, 0.0, 0.0, 1),
    "pacgan2": ("non-saturating", 1e-3, 0.0, 0.0, 2),
    "pacgan3": ("non-saturating", 1e-3, 0.0, 0.0, 3),
    "pacgan4": ("non-saturating", 1e-3, 0.0, 0.0, 4),
}
PAPER = {  # PacGAN paper, Table 1: modes, % high quality, reverse KL (mean +- s.e.)
    ("ring8", "gan"): "6.3 +- 0.5 / 98.2 +- 0.2 / 0.45 +- 0.09",
    ("ring8", "pacgan2"): "7.9 +- 0.1 / 95.6 +- 2.0 / 0.07 +- 0.03",
    ("grid25", "gan"): "17.3 +- 0.8 / 94.8 +- 0.7 / 0.70 +- 0.07",
    ("grid25", "pacgan2"): "23.8 +- 0.7 / 91.3 +- 0.8 / 0.13 +- 0.04",
}
BATCH = 120
# lambda of the gradient penalty: the paper's 10, and the 0.1 its authors' code uses for these 2-D datasets
GP_WEIGHT = {"wgan-gp": 10.0, "wgan-gp-0.1": 0.1}


def run_one(job):
    """Train one config on one dataset with one seed; return its toy2d_report and seconds."""
    dataset, config, seed, steps = job
    objective, lr, smoothing, dropout, pack = CONFIGS[config]
    data = load_dataset(dataset, n_points=100_000, seed=seed)
    G, D = toy(dropout=dropout, pack=pack, seed=seed)
    wasserstein = objective in ("wgan", "wgan-gp")  # 5 critic steps per generator step, as their papers
    gan = GAN(G, D, latent_dim=2, objective=WGANGP(GP_WEIGHT[config]) if config in GP_WEIGHT else objective,
              lr=lr, beta1=0.5, beta2=0.9 if objective == "wgan-gp" else 0.999, label_smoothing=smoothing,
              d_steps=5 if wasserstein else 1, seed=seed)  # fmt: skip
    x = data.model_input(0, 1)
    start = time.perf_counter()
    while gan.step < steps:
        for idx in gan.epoch_batches(len(x), BATCH):
            gan.train_step(x[idx])
            if gan.step >= steps:
                break
    samples = gan.sample(z=np.random.default_rng(10_000 + seed).standard_normal((2500, 2)).astype(np.float32))
    return dataset, config, seed, toy2d_report(samples, data), time.perf_counter() - start


def mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "n/a"
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return f"{v.mean():.2f} +- {se:.2f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["ring8", "grid25"], choices=["ring8", "grid25"])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    jobs = [(d, c, s, args.steps) for d in args.datasets for c in args.configs for s in range(args.seeds)]
    results = {}
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        for dataset, config, seed, report, seconds in pool.imap_unordered(run_one, jobs):
            results.setdefault((dataset, config), []).append((report, seconds))
            print(f"{dataset:7s} {config:16s} seed {seed}: {report['modes_covered']:2d}/{report['n_modes']} modes, "
                  f"{100 * report['high_quality_fraction']:5.1f}% high quality, reverse KL "
                  f"{report['reverse_kl']:.3f}  ({seconds:.1f} s)", file=sys.stderr, flush=True)  # fmt: skip
    print(f"\n{len(jobs)} runs of {args.steps} steps (batch {BATCH}) in {time.perf_counter() - start:.0f} s, "
          f"{args.seeds} seeds; mean +- standard error\n")
    print("| dataset | config | modes covered | high quality % | reverse KL | paper (modes / HQ % / KL) |")
    print("|---|---|---|---|---|---|")
    for dataset in args.datasets:
        for config in args.configs:
            reps = [r for r, _ in results[(dataset, config)]]
            print(f"| {dataset} | {config} | {mean_se([r['modes_covered'] for r in reps])} | "
                  f"{mean_se([100 * r['high_quality_fraction'] for r in reps])} | "
                  f"{mean_se([r['reverse_kl'] for r in reps])} | {PAPER.get((dataset, config), '')} |")  # fmt: skip


if __name__ == "__main__":
    main()
