"""One command for a machine with a GPU: does minigan work there, and how fast is it?

    python benchmarks/gpu_check.py            # on a GPU: about 2-4 minutes
    python benchmarks/gpu_check.py --smoke    # a few tiny steps of each check (the test suite's mode)

Runs, in order, and prints one summary table (exit status 1 when a check fails):
  1. the GPU tests (pytest -m gpu) on the real device;
  2. a one-epoch  minigan train --device gpu  of the DCGAN (10,000 digits, batch 64);
  3. CPU against GPU: the DCGAN trained 10 steps on both with Dropout off; every
     parameter array within a relative error of 1e-3 (float32 summed in another order);
  4. the DCGAN and MLP step benchmarks (benchmarks/train_step.py), beside PyTorch CUDA
     when PyTorch is importable and sees the device.
Where CuPy is the test suite's strict stand-in (NumPy on the CPU) it says so, runs
what checks host/device discipline (small sizes), adds what a DCGAN step asks of the
device as the stand-in counts it (waits, copies, kernel launches), and prints no
timing at all: it is not a GPU.
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOL = 1e-3


def device_name():
    """(name of device 0, is it the strict stand-in?); exits when there is no CuPy device."""
    from minigan.backend import GPUUnavailableError, gpu_module

    try:
        cupy = gpu_module()
    except GPUUnavailableError as e:
        sys.exit(f"gpu_check: {e}")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return f"{name} (CuPy {cupy.__version__})", bool(getattr(cupy, "STRICT_STANDIN", False))


def environment(extra=None):
    """The subprocesses' environment: minigan importable from this checkout."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TQDM_DISABLE", "1")
    return env


def run(cmd, timeout, extra_env=None):
    """(return code, last lines of the output, seconds) of a subprocess."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=environment(extra_env), capture_output=True, text=True, timeout=timeout,
                           check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s", time.perf_counter() - t0
    tail = (p.stdout + p.stderr).strip().splitlines()[-15:]
    return p.returncode, "\n".join(tail), time.perf_counter() - t0


# ---- the checks: each returns (status, detail), status PASS, FAIL or SKIP ------------
def check_tests(smoke, standin):
    if smoke or standin:
        return "SKIP", "the test suite itself runs these on the stand-in (python -m pytest -q)"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"]
    code, tail, secs = run(cmd, timeout=240, extra_env={"MINIGAN_TEST_CUPY": "real"})  # the device, never the stand-in
    last = tail.splitlines()[-1] if tail else ""
    return ("PASS" if code == 0 else "FAIL"), f"{last} ({secs:.0f} s)" if code == 0 else tail


def check_train(smoke, standin):
    with tempfile.TemporaryDirectory() as out:
        size = ["--subset", "32", "--batch-size", "16"] if smoke else ["--batch-size", "64"]
        cmd = [sys.executable, "-m", "minigan", "train", "--model", "dcgan", "--epochs", "1", "--device", "gpu",
               *size, "--out", out, "--quiet"]  # fmt: skip
        code, tail, secs = run(cmd, timeout=240)
        wrote = all((Path(out) / f).is_file() for f in ("checkpoint.npz", "history.csv", "samples/epoch_0001.png"))
    if code != 0 or not wrote:
        return "FAIL", tail or "no checkpoint, history or samples written"
    return "PASS", "wrote checkpoint, history and samples" + ("" if standin else f" in {secs:.1f} s")


def rel_error(a, b):
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check_agreement(smoke, standin, steps=10):
    import numpy as np

    from minigan.backend import module_for, to_numpy
    from minigan.gan import GAN
    from minigan.layers import Dropout
    from minigan.models import dcgan

    latent, batch = (16, 8) if smoke else (128, 64)
    G, D = dcgan(latent, seed=0)
    for layer in D.layers:
        if isinstance(layer, Dropout):
            layer.p = 0.0  # each device draws its own masks: off, to compare
    cpu = GAN(G, D, latent_dim=latent, seed=0)
    gpu = GAN(copy.deepcopy(G), copy.deepcopy(D), latent_dim=latent, seed=0).to("gpu")
    xp = module_for("gpu")
    data = np.random.default_rng(0).uniform(-1, 1, (steps * batch, 1, 28, 28)).astype(np.float32)
    for i in range(steps):
        x = data[i * batch : (i + 1) * batch]
        cpu.train_step(x)
        gpu.train_step(xp.asarray(x))
    worst, where = 0.0, ""
    for tag, net_c, net_g in (("G", cpu.G, gpu.G), ("D", cpu.D, gpu.D)):
        for k, p in net_c.params.items():
            err = rel_error(to_numpy(net_g.params[k]), p)
            worst, where = max((worst, where), (err, f"{tag}.{k}"))
    detail = f"{steps} steps, batch {batch}: worst relative error {worst:.1e} ({where}), limit {TOL:.0e}"
    return ("PASS" if worst <= TOL else "FAIL"), detail


def check_counts(smoke, standin):
    """What one DCGAN step (batch 64, latent 128) asks of the device, as the stand-in counts it."""
    if not standin:
        return "SKIP", "counted by the strict stand-in only (tests/test_gpu_budget.py)"
    import numpy as np
    from cupy._ledger import recording

    from minigan.backend import module_for
    from minigan.gan import GAN
    from minigan.models import dcgan

    G, D = dcgan(128, seed=0)
    gan = GAN(G, D, latent_dim=128, seed=0).to("gpu")
    x = module_for("gpu").asarray(np.random.default_rng(0).uniform(-1, 1, (64, 1, 28, 28)).astype(np.float32))
    gan.train_step(x)  # the first step makes the optimizers' state
    with recording() as ledger:
        gan.train_step(x)
    waits, copies, launches = (ledger.total(k) for k in ("syncs", "h2d", "launches"))
    top = ", ".join(f"{f.split('/')[-1]} {n}" for f, n in ledger.by_file("launches").most_common(4))
    detail = f"{waits} device-to-host wait(s), {copies} host-to-device copy, {launches} kernel launches ({top})"
    return ("PASS" if waits <= 1 and copies <= 1 else "FAIL"), detail


def check_benchmark(model, smoke, standin):
    if standin:
        return "SKIP", "not a GPU: no timing"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "benchmarks/train_step.py", "--model", model, "--device", "gpu", "--json", str(out)]
        if smoke:
            cmd += ["--steps", "2", "--warmup", "1", "--memory-steps", "2", "--block", "1", "--peak-size", "256"]
        code, tail, _ = run(cmd, timeout=240)
        if code != 0 or not out.is_file():
            return "FAIL", tail
        r = json.loads(out.read_text())
    detail = f"batch {r['batch_size']}: {r['ms_per_step']:.2f} ms/step, {r['images_per_s']:,.0f} images/s"
    if "torch_images_per_s" in r:
        detail += (f"; PyTorch CUDA eager {r['torch_images_per_s']:,.0f} images/s; "
                   f"minigan at {r['speedup_vs_torch']:.2f}x PyTorch")  # fmt: skip
    else:
        detail += f"; PyTorch: {r['torch']}"
    return "PASS", detail


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="a few tiny steps of each check (no figures worth reading)")
    args = p.parse_args(argv)
    name, standin = device_name()
    smoke = args.smoke or standin  # on the stand-in (NumPy on the CPU), full-size runs would only take minutes
    print(f"minigan GPU check on: {name}")
    if standin:
        print("NOT A GPU: CuPy here is the strict test stand-in (NumPy on the CPU). The checks below test "
              "host/device discipline only; no timing is shown.")  # fmt: skip
    checks = [
        ("GPU tests on the device", lambda: check_tests(smoke, standin)),
        ("minigan train --device gpu, DCGAN, 1 epoch", lambda: check_train(smoke, standin)),
        ("CPU vs GPU parameters, Dropout off", lambda: check_agreement(smoke, standin)),
        ("device requests per DCGAN step", lambda: check_counts(smoke, standin)),
        ("DCGAN step benchmark", lambda: check_benchmark("dcgan", smoke, standin)),
        ("MLP GAN step benchmark", lambda: check_benchmark("mlp", smoke, standin)),
    ]
    rows = []
    for title, fn in checks:
        try:
            status, detail = fn()
        except Exception as e:  # a check that crashes is a failed check, and the others still run
            status, detail = "FAIL", f"{type(e).__name__}: {e}"
        rows.append((title, status, detail))
        print(f"  {status:4s}  {title}", flush=True)
    width = max(len(t) for t, _, _ in rows)
    print(f"\n{'check':{width}s}  result  detail")
    for title, status, detail in rows:
        lines = detail.splitlines() or [""]
        print(f"{title:{width}s}  {status:6s}  {lines[0]}")
        for line in lines[1:]:
            print(f"{'':{width}s}          {line}")
    failed = [t for t, s, _ in rows if s == "FAIL"]
    print(f"\n{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
