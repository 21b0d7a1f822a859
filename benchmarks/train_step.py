"""Time one GAN training step: minigan, and PyTorch beside it when PyTorch is importable.

    python benchmarks/train_step.py --model dcgan --batch-size 64 --device cpu --threads 2
    python benchmarks/train_step.py --model mlp --batch-size 128 --threads 2
    python benchmarks/train_step.py --model dcgan --batch-size 512 --device gpu

One step is what ``GAN.train_step`` does: one D update on [real; fake] and one G
update through the frozen D (see minigan/gan.py). The script reports

- median ms/step and images/s (real images consumed per second) over ``--steps``
  steps after ``--warmup`` steps; minigan, PyTorch and a 2048x2048 float32 matmul
  are timed in turn, in blocks of ``--block`` steps, round after round, so a busy
  machine slows all three alike (each block starts with one untimed step: the
  threads of the library that ran before may still be spinning);
- the step's GFLOP, counted from the layer shapes (``step_flops``), and the fraction
  of the matmul's GFLOP/s it reaches;
- peak resident memory (getrusage) and the resident memory's growth over the
  memory steps, measured before PyTorch is imported.

Minigan's steps run as ``GAN.fit`` runs them: a convolutional GAN on a CPU whose BLAS
has two threads within ``backend.both_cores`` (the BLAS on one thread, minigan's own
two threads on each product's and copy's halves); PyTorch's steps run outside it.

``--variants`` times other versions of minigan's step in the same rotation, for the
before/after of a change: "separate" (every weight in an array of its own, as before
flat buffers), "flat" (the library as it is), "same" (the library as it is again, on
a second GAN: an A/A control that shows the noise), "blas2" (the library outside
``both_cores``: the BLAS on both cores, minigan's copies on one, as before round 7),
"numpy" (the library as it is without its compiled loops, as where numba is not
installed: ``minigan/compiled.py``), "before" (an older copy of the package,
``--before DIR``, imported beside this one
and run as its own ``GAN.fit`` runs it, ``GAN.training_threads``; a package from before
that method runs outside ``both_cores``). Settings that hold for the
whole process (the malloc thresholds that ``GAN.fit`` sets on the CPU, set here as
the trainer sets them) hold for every variant and PyTorch.

The header names the CPU, each BLAS that threadpoolctl finds (with the kernel it
selected and its threads) and PyTorch's, whether minigan's compiled loops run (numba
installed, MINIGAN_COMPILED not 0), and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when they
are set (they override the kernel OpenBLAS would pick).

Threads: ``--threads N`` sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS
before NumPy is imported (re-running the script if NumPy was imported already) and,
also limits the loaded BLAS with threadpoolctl.
"""

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

# the repository, used when minigan is not installed
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_thread_limit = None  # keeps threadpoolctl's limit alive


def limit_threads(n):
    """Make the BLAS use ``n`` threads; call before importing NumPy. Returns how, in words."""
    global _thread_limit
    if n is None:
        return "library default"
    if any(os.environ.get(v) != str(n) for v in THREAD_VARS):
        env = {**os.environ, **{v: str(n) for v in THREAD_VARS}}
        if "numpy" in sys.modules:  # the BLAS read its thread count when it was loaded: start again
            os.execve(sys.executable, [sys.executable, *sys.argv], env)
        os.environ.update(env)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return f"{n} ({', '.join(THREAD_VARS)})"
    import numpy  # noqa: F401  (load the BLAS so that threadpoolctl can see it)

    _thread_limit = threadpool_limits(limits=n)
    return f"{n} (environment and threadpoolctl)"


# ---- what a step computes ---------------------------------------------------------
def forward_macs(net, in_shape):
    """Multiply-adds of each layer's forward matrix product for ONE example, in order.

        Dense(in, out):                  in * out
        Conv2D, output (C_out, Ho, Wo):  Ho*Wo * C_out * C_in*k*k
        ConvTranspose2D, input (C_in, H, W):  H*W * C_in * C_out*k*k
    Other layers do no matrix product. In backward, the weight gradient and the
    input gradient are each one matrix product with the same count as forward.
    """
    from minigan.layers import Conv2D, ConvTranspose2D, Dense, Flatten, Reshape

    macs, shape = [], (1, *in_shape)
    for layer in net.layers:
        m, out = 0, shape
        if isinstance(layer, Dense):
            m, out = layer.in_features * layer.out_features, (1, layer.out_features)
        elif isinstance(layer, Conv2D):
            out = layer.output_shape(shape)
            m = out[2] * out[3] * layer.out_channels * layer.in_channels * layer.k**2
        elif isinstance(layer, ConvTranspose2D):
            out = layer.output_shape(shape)
            m = shape[2] * shape[3] * layer.in_channels * layer.out_channels * layer.k**2
        elif isinstance(layer, Flatten):
            out = (1, math.prod(shape[1:]))
        elif isinstance(layer, Reshape):
            out = (1, *layer.shape)
        macs.append(m)
        shape = out
    return macs


def first_product(macs):
    """The count of the first layer that does a matrix product (its input gradient is the one nobody needs)."""
    return next((m for m in macs if m), 0)


def step_flops(G, D, n, latent_dim, sample_shape, first_layer_dx=False):
    """FLOP (2 per multiply-add) of every matrix product in one train_step at batch n.

    (1) G forward (n); D forward (2n); D backward (2n): weight and input gradients
    (2) D forward (n); D backward (n): input gradients only (D frozen);
        G backward (n): weight and input gradients
    except the input gradients of D's first layer in pass (1) and of G's first layer,
    which nobody needs: minigan (``input_grad=False``) and PyTorch's autograd both skip
    them. first_layer_dx=True counts them too.
    """
    g, d = forward_macs(G, (latent_dim,)), forward_macs(D, sample_shape)
    sg, sd = sum(g), sum(d)
    pass1 = n * sg + 2 * n * sd + 2 * n * sd + 2 * n * sd
    pass2 = n * sd + n * sd + n * sg + n * sg
    if not first_layer_dx:
        pass1 -= 2 * n * first_product(d)
        pass2 -= n * first_product(g)
    return 2 * (pass1 + pass2)


# ---- measuring ----------------------------------------------------------------------
def rss_bytes():
    """The current resident set size (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def rss_trend(rss):
    """Bytes per step of the least-squares line through the RSS readings (one per step).

    The allocator's pools make the RSS wander up and down by a few MiB from step to
    step; a leak shows as a steady slope.
    """
    return statistics.linear_regression(range(len(rss)), rss).slope


def peak_rss_bytes():
    """The peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info():
    """Each loaded BLAS: library, version, the kernel it selected, its threads (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']} {i['version']} (kernel {i.get('architecture')}, {i['num_threads']} threads)"
                         for i in threadpool_info() if i["user_api"] == "blas")  # fmt: skip
    except ImportError:
        import numpy as np

        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"


def blas_environment():
    """The OpenBLAS settings in the environment that change which kernel runs, or ''."""
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    return ", ".join(f"{n}={os.environ[n]}" for n in names if n in os.environ)


def torch_blas(torch):
    """PyTorch's CPU BLAS and threads, in words."""
    config = torch.__config__.show()
    blas = next((line.split("=", 1)[1] for line in config.split("\n") if "BLAS_INFO=" in line), "?").split(",")[0]
    return f"BLAS {blas}, oneDNN {torch.backends.mkldnn.is_available()}, {torch.get_num_threads()} threads"


def separate_arrays(net):
    """Give every layer of ``net`` its own parameter and gradient arrays again (undoing
    ``flat.flatten``): the optimizer then takes one array at a time, as before flat buffers."""
    from minigan.flat import leaf_layers

    for layer in leaf_layers(net):
        layer.params = {k: p.copy() for k, p in layer.params.items()}
        layer.grads = {k: g.copy() for k, g in layer.grads.items()}


def make_timer(device):
    """A clock that waits for the device first (a GPU runs asynchronously)."""
    if device == "gpu":
        import cupy

        def now():
            cupy.cuda.Device().synchronize()
            return time.perf_counter()

        return now
    return time.perf_counter


def standin_note(device):
    """A warning when "the GPU" is the test suite's strict CuPy stand-in (NumPy on the CPU)."""
    if device != "gpu":
        return ""
    import cupy

    if not getattr(cupy, "STRICT_STANDIN", False):
        return ""
    return "  NOT A GPU: CuPy here is the strict test stand-in (NumPy on the CPU); these times mean nothing"


def timed(fn, now):
    """(wall seconds, CPU seconds of this process) of one call."""
    t0, c0 = now(), time.process_time()
    fn()
    return now() - t0, time.process_time() - c0


def matmul_peak(xp, size, now, reps=3):
    """GFLOP/s of one size x size float32 matrix product (best of ``reps``)."""
    a = xp.asarray(xp.ones((size, size), dtype=xp.float32))
    a @ a
    best = min(timed(lambda: a @ a, now)[0] for _ in range(reps))
    return 2 * size**3 / best / 1e9


# ---- the run ----------------------------------------------------------------------
def build(model, n, device, seed=0, package="minigan"):
    import importlib

    import numpy as np

    from minigan.backend import module_for

    GAN = importlib.import_module(f"{package}.gan").GAN
    models = importlib.import_module(f"{package}.models")
    r = models.recipe(model)
    G, D = models.build(model, seed=seed)
    gan = GAN(G, D, r.latent_dim, lr=r.lr, beta1=r.beta1, beta2=r.beta2, seed=seed).to(device)
    xp = module_for(device)
    real = xp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32))
    return gan, real, r


def torch_side(args, gan, real, r):
    """The PyTorch twin of ``gan`` and its real batch, or (None, reason)."""
    if args.no_torch:
        return None, "not asked for"
    try:
        import torch
    except ImportError:
        return None, "not importable"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_reference import TorchGAN

    from minigan.backend import to_numpy

    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cpu"
    if args.device == "gpu":
        if not torch.cuda.is_available():
            return None, f"torch {torch.__version__} sees no CUDA device"
        device = "cuda"
    gan.G.to("cpu"), gan.D.to("cpu")  # translate() copies the weights from NumPy
    tgan = TorchGAN(gan.G, gan.D, r.latent_dim, real.shape[1:], device, r.lr, r.beta1, r.beta2)
    gan.G.to(args.device), gan.D.to(args.device)
    treal = torch.from_numpy(to_numpy(real)).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        tgan.train_step(treal)
        sync()

    return step, f"torch {torch.__version__} ({device}; {torch_blas(torch)})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("mlp", "dcgan"), default="dcgan")
    p.add_argument("--batch-size", type=int, default=None, help="default: 64 for dcgan, 128 for mlp")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the library's choice)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="timed steps of each library")
    p.add_argument("--block", type=int, default=5, help="steps of one library in a row before the other's")
    p.add_argument("--memory-steps", type=int, default=60, help="steps watched for resident memory growth")
    p.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if it is importable")
    p.add_argument(
        "--variants",
        default="flat",
        help="comma-separated minigan variants: separate, flat, same, blas2, numpy, before",
    )
    p.add_argument(
        "--before",
        metavar="DIR",
        help="a folder holding an older minigan package, timed as the "
        "variant 'before' (e.g. from: git archive REV minigan | tar -x -C DIR)",
    )
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--peak-size", type=int, default=None, help="matmul size for the peak (default 2048 CPU, 8192 GPU)")
    args = p.parse_args(argv)
    threads = limit_threads(args.threads)

    import numpy as np

    from minigan.backend import GPUUnavailableError, keep_freed_memory, module_for

    if args.device == "cpu":
        keep_freed_memory()  # as GAN.fit does before it trains on the CPU
    n = args.batch_size or (64 if args.model == "dcgan" else 128)
    try:
        xp = module_for(args.device)
    except GPUUnavailableError as e:
        sys.exit(f"{sys.argv[0]}: {e}")
    now = make_timer(args.device)
    gan, real, r = build(args.model, n, args.device)
    sample_shape = real.shape[1:]
    flops = torch_flops = step_flops(gan.G, gan.D, n, r.latent_dim, sample_shape)  # both skip the same products

    def step():
        gan.train_step(real)

    cores = fit_cores(gan, args.device)  # the threads GAN.fit trains with
    # memory: minigan alone, before PyTorch is imported
    with cores():
        for _ in range(args.warmup):
            step()
        rss = [rss_bytes()]
        for _ in range(args.memory_steps):
            step()
            rss.append(rss_bytes())
    peak_rss = peak_rss_bytes()
    watch_rss = rss[0] is not None and len(rss) >= 2  # a trend needs two readings

    # time: minigan (and its other variants), PyTorch and the matmul in turn
    torch_step, torch_note = torch_side(args, gan, real, r)
    for _ in range(args.warmup if torch_step else 0):
        torch_step()
    variants = {name: (*variant_step(name, args, n), [], []) for name in args.variants.split(",") if name != "flat"}
    peak_size = args.peak_size or (2048 if args.device == "cpu" else 8192)
    times, ttimes, cpu, tcpu, peaks, round_ratios, variant_ratios = [], [], [], [], [], [], {}
    for _ in range(-(-args.steps // args.block)):
        rotation = [(step, cores, times, cpu), *variants.values(), (torch_step, contextlib.nullcontext, ttimes, tcpu)]
        for fn, threads_of, walls, cpus in rotation:
            if fn is None:
                continue
            with threads_of():
                fn()  # the first step of a block waits for the other library's threads to go idle: not counted
                for _ in range(args.block):
                    wall, c = timed(fn, now)
                    walls.append(wall)
                    cpus.append(c)
        this_round = statistics.median(times[-args.block :])  # each other block against minigan's, close in time
        if torch_step:
            round_ratios.append(statistics.median(ttimes[-args.block :]) / this_round)
        for name, (_, _, walls, _) in variants.items():
            variant_ratios.setdefault(name, []).append(statistics.median(walls[-args.block :]) / this_round)
        peaks.append(matmul_peak(xp, peak_size, now))
    ms = 1000 * statistics.median(times)
    peak = statistics.median(peaks)
    res = {
        "model": args.model, "batch_size": n, "device": args.device, "threads": threads,
        "cpu": cpu_model(), "python": platform.python_version(), "numpy": np.__version__, "blas": blas_info(),
        "ms_per_step": ms, "images_per_s": n / ms * 1000, "ms_quartiles": _quartiles(times),
        "cpu_ms_per_step": 1000 * statistics.median(cpu),
        "gflop_per_step": flops / 1e9, "gflops": flops / ms / 1e6, "matmul_gflops": peak,
        "fraction_of_peak": flops / ms / 1e6 / peak,
        "peak_rss_mib": peak_rss / 2**20, "memory_steps": args.memory_steps,
        "rss_mib_first_last_max": None if not watch_rss else (rss[0] / 2**20, rss[-1] / 2**20, max(rss) / 2**20),
        "rss_growth_kib_per_step": None if not watch_rss else rss_trend(rss) / 1024,
        "torch": torch_note, "compiled_loops": compiled_note(),
    }  # fmt: skip
    res["blas_environment"] = blas_environment()
    res["variants"] = {name: {"ms_per_step": 1000 * statistics.median(walls), "ms_quartiles": _quartiles(walls),
                              "cpu_ms_per_step": 1000 * statistics.median(cpus),
                              "by_round": _spread(variant_ratios[name])}
                       for name, (_, _, walls, cpus) in variants.items()}  # fmt: skip
    if args.device == "gpu":
        res["gpu_pool_mib"] = xp.get_default_memory_pool().total_bytes() / 2**20
    if torch_step:
        tms, tcpu_ms = 1000 * statistics.median(ttimes), 1000 * statistics.median(tcpu)
        res.update(
            torch_ms_per_step=tms,
            torch_images_per_s=n / tms * 1000,
            torch_ms_quartiles=_quartiles(ttimes),
            torch_cpu_ms_per_step=tcpu_ms,
            torch_gflop_per_step=torch_flops / 1e9,
            torch_fraction_of_peak=torch_flops / tms / 1e6 / peak,
            speedup_vs_torch=tms / ms,
            speedup_by_round=_spread(round_ratios),
            cpu_speedup_vs_torch=tcpu_ms / res["cpu_ms_per_step"],
        )
    if standin_note(args.device):
        print(standin_note(args.device))
    report(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


def import_before(folder):
    """The ``minigan`` package in ``folder`` (an older copy of it), imported as ``minigan_before``
    beside the installed one: its modules import each other relatively, so the two do not mix."""
    import importlib.util

    init = os.path.join(folder, "minigan", "__init__.py")
    if not os.path.exists(init):
        raise SystemExit(f"{sys.argv[0]}: --before {folder}: expected a minigan package there ({init} is missing)")
    spec = importlib.util.spec_from_file_location(
        "minigan_before", init, submodule_search_locations=[os.path.dirname(init)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigan_before"] = module
    spec.loader.exec_module(module)
    return module


def fit_cores(gan, device):
    """A factory of the context ``gan``'s own GAN.fit trains it in (``GAN.training_threads``):
    ``backend.both_cores`` for a convolutional GAN on the CPU. A package from before
    ``training_threads`` gets none, as every fit trained before round 7."""
    if not hasattr(gan, "training_threads"):
        return contextlib.nullcontext
    from minigan.backend import module_for

    return functools.partial(gan.training_threads, module_for(device))


def variant_step(name, args, n):
    """(step, context) of minigan as it would be without a change (see --variants): one
    training step, and the context its blocks of steps run in."""
    if name == "before":  # an older package, trained as its own GAN.fit trains
        if not args.before:
            raise SystemExit(f"{sys.argv[0]}: the variant 'before' needs --before DIR")
        import_before(args.before)
        gan, real, _ = build(args.model, n, args.device, package="minigan_before")
        return (lambda: gan.train_step(real)), fit_cores(gan, args.device)
    gan, real, _ = build(args.model, n, args.device)
    cores = fit_cores(gan, args.device)
    if name == "separate":
        separate_arrays(gan.G), separate_arrays(gan.D)
        return (lambda: gan.train_step(real)), cores
    if name == "same":  # an A/A control: the library as it is, a second copy of the GAN
        return (lambda: gan.train_step(real)), cores
    if name == "blas2":  # the library with the BLAS on both cores and minigan's copies on one (round 6's)
        return (lambda: gan.train_step(real)), contextlib.nullcontext
    if name == "numpy":  # the library as it is without its compiled loops, as where numba is missing
        return (lambda: gan.train_step(real)), functools.partial(without_compiled_loops, cores)
    raise SystemExit(f"{sys.argv[0]}: unknown variant {name!r}; expected separate, flat, same, blas2, numpy or before")


@contextlib.contextmanager
def without_compiled_loops(cores):
    """Within: minigan's NumPy code wherever it has a compiled loop (minigan/compiled.py),
    inside the context ``cores()``."""
    from minigan import compiled

    saved, compiled._loops = compiled._loops, None
    try:
        with cores():
            yield
    finally:
        compiled._loops = saved


def compiled_note():
    """Whether minigan's compiled loops run, and with which numba."""
    try:
        from minigan import compiled
    except ImportError:
        return "none in this minigan"
    if compiled.loops() is None:
        reason = "MINIGAN_COMPILED=0" if os.environ.get("MINIGAN_COMPILED") == "0" else "numba not importable"
        return f"off ({reason}): NumPy's code throughout"
    import numba

    return f"on (numba {numba.__version__}, minigan/compiled.py)"


def _spread(ratios):
    """(lowest, median, highest) of per-round ratios."""
    return min(ratios), statistics.median(ratios), max(ratios)


def _quartiles(times):
    q = statistics.quantiles([1000 * t for t in times], n=4)
    return (q[0], q[2])


def report(r):
    print(f"{r['model']} GAN, batch {r['batch_size']}, {r['device']}, threads {r['threads']}")
    print(f"  {r['cpu']}; Python {r['python']}, NumPy {r['numpy']}, BLAS {r['blas']}")
    print(f"  minigan's compiled loops: {r['compiled_loops']}")
    if r["blas_environment"]:
        print(f"  set in the environment: {r['blas_environment']}")
    print(f"  matmul peak (float32 square matmul): {r['matmul_gflops']:.0f} GFLOP/s")
    lo, hi = r["ms_quartiles"]
    print(
        f"  minigan: {r['ms_per_step']:7.1f} ms/step  (quartiles {lo:.1f}-{hi:.1f})  {r['images_per_s']:7.0f} images/s"
        f"  {r['gflop_per_step']:.2f} GFLOP/step = {100 * r['fraction_of_peak']:.0f}% of peak"
        f"  (CPU {r['cpu_ms_per_step']:.1f} ms/step)"
    )
    for name, v in r["variants"].items():
        lo, hi = v["ms_quartiles"]
        print(f"  minigan, {name:9s} {v['ms_per_step']:7.1f} ms/step  (quartiles {lo:.1f}-{hi:.1f})"
              f"  {r['batch_size'] / v['ms_per_step'] * 1000:7.0f} images/s"
              f"  (CPU {v['cpu_ms_per_step']:.1f} ms/step)  the library as it is: {v['ms_per_step'] / r['ms_per_step']:.2f}x"
              f" as fast (by CPU time {v['cpu_ms_per_step'] / r['cpu_ms_per_step']:.2f}x;"
              " round by round: median {1:.2f}x, from {0:.2f}x to {2:.2f}x)".format(*v["by_round"]))  # fmt: skip
    if "torch_ms_per_step" in r:
        lo, hi = r["torch_ms_quartiles"]
        print(f"  pytorch: {r['torch_ms_per_step']:7.1f} ms/step  (quartiles {lo:.1f}-{hi:.1f})"
              f"  {r['torch_images_per_s']:7.0f} images/s  {r['torch_gflop_per_step']:.2f} GFLOP/step"
              f"  = {100 * r['torch_fraction_of_peak']:.0f}% of peak  (CPU {r['torch_cpu_ms_per_step']:.1f} ms/step)"
              f"   [{r['torch']}]")  # fmt: skip
        print(
            f"  minigan / pytorch speed: {r['speedup_vs_torch']:.2f}x  (by CPU time: {r['cpu_speedup_vs_torch']:.2f}x;"
            " round by round: median {1:.2f}x, from {0:.2f}x to {2:.2f}x)".format(*r["speedup_by_round"])
        )
    else:
        print(f"  pytorch: {r['torch']}")
    line = f"  peak RSS {r['peak_rss_mib']:.0f} MiB (minigan alone)"
    if r["rss_mib_first_last_max"]:
        first, last, most = r["rss_mib_first_last_max"]
        line += (
            f"; RSS after warm-up {first:.0f} MiB, after {r['memory_steps']} more steps {last:.0f} MiB"
            f" (max {most:.0f}); trend {r['rss_growth_kib_per_step']:+.0f} KiB/step"
        )
    print(line)
    if "gpu_pool_mib" in r:
        print(f"  CuPy memory pool: {r['gpu_pool_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
