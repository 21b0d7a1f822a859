"""The command line with --device gpu, end to end: every model and objective trains
one epoch on a small subset, resumes on the GPU and on the CPU, samples to PNG and
.npz, and is evaluated. Without a real GPU this runs on the strict CuPy stand-in,
which refuses host/device mix-ups as CuPy does (see tests/conftest.py)."""

import json

import numpy as np
import pytest

from minigan.backend import gpu_available
from minigan.checkpoint import load_checkpoint
from minigan.cli import main
from minigan.losses import OBJECTIVES

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="CuPy or a CUDA GPU is not available")]

SMALL = {"mlp": ["--subset", "64", "--batch-size", "32"], "mlp-classic": ["--subset", "64", "--batch-size", "32"],
         "dcgan": ["--subset", "16", "--batch-size", "8"], "toy": ["--dataset", "ring8", "--subset", "512", "--batch-size", "256"]}  # fmt: skip


def train(args, capsys):
    code = main(["train", *args, "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def wrote_an_epoch(run, epoch=1):
    assert (run / "checkpoint.npz").is_file() and (run / "history.csv").is_file()
    assert load_checkpoint(str(run / "checkpoint.npz"))["epoch"] == epoch
    rows = (run / "history.csv").read_text().splitlines()
    assert len(rows) > 1 and np.isfinite(float(rows[-1].split(",")[2]))  # d_loss (G may not have moved yet: k > 1)


@pytest.mark.parametrize("model", list(SMALL))
def test_every_model_trains_an_epoch_on_the_gpu(model, tmp_path, capsys):
    run = tmp_path / model
    train(["--model", model, *SMALL[model], "--epochs", "1", "--device", "gpu", "--out", str(run)], capsys)
    wrote_an_epoch(run)


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o != "non-saturating"])
def test_every_objective_trains_an_epoch_on_the_gpu(objective, tmp_path, capsys):
    run = tmp_path / objective
    train(["--model", "mlp", *SMALL["mlp"], "--objective", objective, "--epochs", "1", "--device", "gpu",
           "--out", str(run)], capsys)  # fmt: skip
    wrote_an_epoch(run)


@pytest.mark.parametrize("extra", [["--schedule", "simultaneous"], ["--d-steps", "2"], ["--label-smoothing", "0.1"]])
def test_schedules_and_d_steps_on_the_gpu(extra, tmp_path, capsys):
    train(["--model", "mlp", *SMALL["mlp"], *extra, "--epochs", "1", "--device", "gpu", "--out", str(tmp_path / "r")],
          capsys)  # fmt: skip
    wrote_an_epoch(tmp_path / "r")


@pytest.mark.parametrize("then", ["gpu", "cpu"])
def test_a_gpu_run_resumes_on_either_device(then, tmp_path, capsys):
    run = tmp_path / "run"
    train(["--model", "dcgan", *SMALL["dcgan"], "--epochs", "1", "--device", "gpu", "--out", str(run)], capsys)
    out = train(["--resume", str(run), "--epochs", "2", "--device", then], capsys)
    assert "2 epochs, 4 steps" in out
    wrote_an_epoch(run, epoch=2)
    assert (run / "samples" / "epoch_0002.png").is_file()


def test_sample_and_evaluate_on_the_gpu(tmp_path, capsys):
    run = tmp_path / "run"
    train(["--model", "mlp", *SMALL["mlp"], "--epochs", "1", "--device", "gpu", "--out", str(run)], capsys)
    ckpt = str(run / "checkpoint.npz")
    for name in ("s.png", "s.npz"):
        assert (
            main(["sample", "--checkpoint", ckpt, "--n", "16", "--device", "gpu", "--out", str(tmp_path / name)]) == 0
        )
        assert (tmp_path / name).is_file()
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert z["images"].shape == (16, 28, 28) and z["images"].dtype == np.uint8
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", ckpt, "--n", "200", "--device", "gpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 and np.isfinite(result["frechet_distance"])
