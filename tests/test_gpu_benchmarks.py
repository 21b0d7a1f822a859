"""Both benchmarks run with --device gpu (smoke mode: a few tiny steps). Where no GPU
is, "the GPU" is the strict CuPy stand-in and the benchmark says so: its times are
NumPy's on the CPU, not a GPU's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigan.backend import gpu_available

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="CuPy or a CUDA GPU is not available")]
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE = {
    "train_step.py": ["--model", "dcgan", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--memory-steps", "2",
                      "--block", "1", "--no-torch", "--peak-size", "64"],
    "layers.py": ["--batch-size", "4", "--repeats", "1", "--peak-size", "64"],
}  # fmt: skip


@pytest.mark.parametrize("script", list(SMOKE))
def test_benchmark_runs_on_the_gpu(script):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), "--device", "gpu", *SMOKE[script]],
                         check=False, capture_output=True, text=True, timeout=300, env=os.environ.copy())  # fmt: skip
    assert run.returncode == 0, run.stderr
    standin = os.environ.get("MINIGAN_TEST_CUPY") == "strict"
    assert ("NOT A GPU" in run.stdout) == standin, run.stdout
