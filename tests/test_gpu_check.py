"""benchmarks/gpu_check.py, the one command for a lent GPU, in its stand-in smoke mode:
it runs, says plainly that it is not a GPU, shows no timing, and fails loudly."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(os.environ.get("MINIGAN_TEST_CUPY") != "strict",
                                                  reason="the stand-in smoke mode; on a GPU, run the script itself")]  # fmt: skip
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_smoke_run_on_the_stand_in_says_it_is_not_a_gpu():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], check=False, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "NOT A GPU" in run.stdout and "all checks passed" in run.stdout
    assert "images/s" not in run.stdout and "ms/step" not in run.stdout and " s)" not in run.stdout  # no timing
    for check in ("minigan train --device gpu", "CPU vs GPU parameters", "device requests per DCGAN step"):
        assert any(line.startswith(check) and "PASS" in line for line in run.stdout.splitlines()), check


def test_a_failed_check_fails_the_command(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    monkeypatch.setattr(gpu_check, "check_train", lambda smoke, standin: ("SKIP", "not this time"))
    monkeypatch.setattr(gpu_check, "check_agreement", lambda smoke, standin: ("FAIL", "relative error 1e-1"))
    assert gpu_check.main(["--smoke"]) == 1
    assert "1 check(s) failed: CPU vs GPU parameters" in capsys.readouterr().out
