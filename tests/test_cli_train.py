"""minigan train / sample: the main job works, and every bad input ends cleanly."""

import os

import numpy as np
import pytest

from minigan.checkpoint import load_checkpoint
from minigan.cli import main
from minigan.data import write_idx


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["train", "--model", "mlp", "--subset", "128", "--epochs", "2", "--batch-size", "32",
                                 "--out", str(out), "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    for name in ("checkpoint.npz", "history.csv", "losses.png", "samples/epoch_0001.png", "samples/epoch_0002.png",
                 "samples/progress.gif"):  # fmt: skip
        assert (out / name).is_file(), name
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,d_loss,g_loss") and len(rows) == 1 + 2 * 4
    code, _, err = run_cli(["sample", "--checkpoint", str(out / "checkpoint.npz"), "--n", "10", "--out",
                            str(tmp_path / "s.npz")], capsys)  # fmt: skip
    assert code == 0, err
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert z["images"].shape == (10, 28, 28) and z["images"].dtype == np.uint8
    code, _, err = run_cli(["sample", "--checkpoint", str(out / "checkpoint.npz"), "--out", str(tmp_path / "s.png")],
                           capsys)  # fmt: skip
    assert code == 0 and (tmp_path / "s.png").is_file()


def test_resume_continues_to_the_total(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--model", "mlp", "--subset", "64", "--batch-size", "32", "--quiet"]
    assert run_cli(base + ["--epochs", "1", "--out", str(out)], capsys)[0] == 0
    code, stdout, _ = run_cli(["train", "--resume", str(out), "--epochs", "3", "--quiet"], capsys)
    assert code == 0 and "3 epochs, 6 steps" in stdout
    assert (out / "samples" / "epoch_0003.png").is_file()
    code, stdout, err = run_cli(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "4", "--quiet"], capsys)
    assert code == 0 and "4 epochs, 8 steps" in stdout, err  # the checkpoint file works too, in its own folder
    assert (out / "samples" / "epoch_0004.png").is_file()


def test_toy_points_and_csv(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    csv.write_text("height,weight\n" + "\n".join(f"{a:.3f},{b:.3f}" for a, b in rng.normal(5, 1, (300, 2))))
    out = tmp_path / "tab"
    code, _, err = run_cli(["train", "--model", "toy", "--dataset", f"csv:{csv}", "--epochs", "1", "--out", str(out),
                            "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(["sample", "--checkpoint", str(out / "checkpoint.npz"), "--n", "5",
                            "--out", str(tmp_path / "fake.csv")], capsys)  # fmt: skip
    assert code == 0, err
    lines = (tmp_path / "fake.csv").read_text().splitlines()
    assert lines[0] == "height,weight" and len(lines) == 6


def test_a_run_on_a_relative_path_resumes_from_another_directory(tmp_path, capsys, monkeypatch):
    """folder: and csv: paths are kept absolute in the settings, so --resume finds the same data from anywhere."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (work / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    (work / "data" / "t.csv").write_text("a,b\n" + "\n".join(f"{a:.3f},{b:.3f}" for a, b in rng.normal(0, 1, (64, 2))))
    monkeypatch.chdir(work)
    code, _, err = run_cli(["train", "--model", "toy", "--dataset", "csv:data/t.csv", "--epochs", "1",
                            "--batch-size", "32", "--out", "run", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    monkeypatch.chdir(elsewhere)
    code, stdout, err = run_cli(["train", "--resume", str(work / "run"), "--epochs", "2", "--quiet"], capsys)
    assert code == 0 and "2 epochs" in stdout, err
    assert str(work / "data" / "t.csv") in load_checkpoint(work / "run" / "checkpoint.npz")["settings"]["dataset"]


def _bad_idx_dir(tmp_path):
    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    data = (d / "train-images-idx3-ubyte").read_bytes()
    (d / "train-images-idx3-ubyte").write_bytes(data[:-100])  # truncated
    return d


BAD_TRAIN = {
    "negative epochs": (["--epochs", "-1"], "epochs"),
    "zero batch size": (["--batch-size", "0"], "batch-size"),
    "unknown model": (["--model", "resnet"], "model"),
    "unknown dataset": (["--dataset", "cifar"], "dataset"),
    "negative lr": (["--lr", "-0.1"], "lr"),
    "missing folder": (["--dataset", "folder:/no/such/folder"], "folder"),
    "toy on images": (["--model", "toy"], "toy"),
    "images on points": (["--dataset", "ring8"], "toy"),
    "batch larger than data": (["--subset", "10", "--batch-size", "64"], "batch size"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_bad_train_arguments(case, tmp_path, capsys):
    args, word = BAD_TRAIN[case]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) if word in ("epochs", "batch-size", "model", "dataset", "lr") else _noraise():
        code, _, err = run_cli(["train", "--epochs", "1", "--out", str(out), "--quiet", *args], capsys)
        assert code == 2
        assert word in err and "Traceback" not in err
    assert not out.exists()


class _noraise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_argparse_errors_are_one_clear_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "-1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--epochs must be at least 1" in err and "Traceback" not in err


def test_empty_folder_and_corrupt_idx(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["train", "--dataset", f"folder:{empty}", "--out", str(tmp_path / "o1"), "--quiet"], capsys)
    assert code == 2 and "image" in err.lower()
    code, _, err = run_cli(["train", "--dataset", "mnist-full", "--data-dir", str(_bad_idx_dir(tmp_path)),
                            "--out", str(tmp_path / "o2"), "--quiet"], capsys)  # fmt: skip
    assert code == 2 and "train-images" in err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("content", ["missing", "truncated", "not-npz", "foreign", "object"])
def test_bad_checkpoints(content, tmp_path, capsys):
    path = tmp_path / "c.npz"
    if content == "truncated":
        np.savez(path, **{f"a{i}": np.arange(1000) for i in range(5)})
        path.write_bytes(path.read_bytes()[:3000])
    elif content == "not-npz":
        path.write_text("not a checkpoint")
    elif content == "foreign":
        np.savez(path, weights=np.zeros(3))
    elif content == "object":
        np.savez(path, format=np.array("minigan-checkpoint-v1"), x=np.array([None], dtype=object))
    out = tmp_path / "s.png"
    code, _, err = run_cli(["sample", "--checkpoint", str(path), "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err and "c.npz" in err
    assert not out.exists()
    code, _, err = run_cli(["train", "--resume", str(tmp_path), "--epochs", "2", "--quiet"], capsys)
    assert code == 2


def test_sample_n_zero(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--checkpoint", "x.npz", "--n", "0", "--out", str(tmp_path / "s.png")])
    assert "--n must be at least 1" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "s.png")


# ---- run folders never mix --------------------------------------------------------
TINY = ["train", "--model", "mlp", "--subset", "64", "--batch-size", "32", "--quiet"]


def _frames(gif):
    from PIL import Image

    with Image.open(gif) as img:
        return img.n_frames


def test_a_folder_holding_another_run_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(TINY + ["--epochs", "3", "--out", str(out)], capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, _, err = run_cli(TINY + ["--epochs", "1", "--seed", "7", "--out", str(out)], capsys)
    assert code == 2 and "holds another run" in err and "--overwrite" in err and f"--resume {out}" in err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before  # nothing touched
    code, _, err = run_cli(TINY + ["--epochs", "1", "--seed", "7", "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_0001.png", "progress.gif"]
    assert _frames(out / "samples" / "progress.gif") == 1  # this run's one epoch, not the old run's three
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 2


def test_resume_into_another_folder_holding_a_run_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli(TINY + ["--epochs", "1", "--out", str(a)], capsys)[0] == 0
    assert run_cli(TINY + ["--epochs", "1", "--out", str(b)], capsys)[0] == 0
    code, _, err = run_cli(["train", "--resume", str(a), "--epochs", "2", "--out", str(b), "--quiet"], capsys)
    assert code == 2 and "holds another run" in err
    code, _, err = run_cli(["train", "--resume", str(a), "--overwrite", "--epochs", "2", "--quiet"], capsys)
    assert code == 2 and "--overwrite and --resume" in err
    # --overwrite clears ANOTHER folder, as the refusal above suggests: b then holds a's run, continued
    code, _, err = run_cli(["train", "--resume", str(a), "--epochs", "2", "--out", str(b), "--overwrite", "--quiet"],
                           capsys)  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (b / "samples").iterdir()) == ["epoch_0002.png", "progress.gif"]


def test_a_checkpoint_copied_into_another_runs_folder_does_not_take_it_over(tmp_path, capsys):
    """Only a folder's own checkpoint.npz continues the run in that folder; another .npz
    put there is another run, refused like any other."""
    import shutil

    a, e = tmp_path / "a", tmp_path / "e"
    assert run_cli(TINY + ["--epochs", "1", "--out", str(a)], capsys)[0] == 0
    assert run_cli(TINY + ["--epochs", "1", "--seed", "5", "--out", str(e)], capsys)[0] == 0
    shutil.copy(a / "checkpoint.npz", e / "from_a.npz")
    before = {p: p.read_bytes() for p in e.rglob("*") if p.is_file()}
    code, _, err = run_cli(["train", "--resume", str(e / "from_a.npz"), "--epochs", "2", "--quiet"], capsys)
    assert code == 2 and "holds another run" in err
    assert {p: p.read_bytes() for p in e.rglob("*") if p.is_file()} == before  # e's run untouched


def test_a_gpu_checkpoint_without_a_gpu_points_to_device_cpu(tmp_path, capsys, monkeypatch):
    import json

    from minigan import backend

    out = tmp_path / "g"
    assert run_cli(TINY + ["--epochs", "1", "--out", str(out)], capsys)[0] == 0
    with np.load(out / "checkpoint.npz", allow_pickle=False) as z:
        arrays = dict(z)
    settings = {**json.loads(str(arrays["settings"])), "device": "gpu"}  # as a run trained on a GPU records it
    arrays["settings"] = np.array(json.dumps(settings, sort_keys=True))
    np.savez(out / "checkpoint.npz", **arrays)
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    for argv in (["train", "--resume", str(out), "--epochs", "2", "--quiet"],
                 ["sample", "--checkpoint", str(out), "--n", "4", "--out", str(tmp_path / "s.png")]):  # fmt: skip
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "trained on the GPU" in err and "--device cpu" in err, (argv, err)
    code, _, err = run_cli(["train", "--resume", str(out), "--epochs", "2", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err


def _killed_mid_write(path):
    """Start atomic_write(path) in another process and SIGKILL it halfway: what a killed run leaves."""
    import subprocess
    import sys

    code = ("import os, signal, sys; from minigan.fileio import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n"
            "    f.write(b'half a picture'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, check=False)
    assert result.returncode == -9, result.stderr


def test_resume_removes_temporary_files_of_a_killed_write(tmp_path, capsys):
    """A SIGKILL in the middle of an atomic write leaves its hidden temporary file; the resumed run clears it."""
    out = tmp_path / "r"
    assert run_cli(TINY + ["--epochs", "1", "--out", str(out)], capsys)[0] == 0
    _killed_mid_write(out / "losses.png")
    _killed_mid_write(out / "samples" / "epoch_0002.png")
    left = sorted(out.rglob(".*.tmp"))
    assert [p.name.split(".")[1] for p in left] == ["losses", "epoch_0002"]  # e.g. .losses.png.k2x9_q0a.tmp
    mine = out / ".notes.tmp"  # not a name atomic_write makes: kept
    mine.write_text("mine")
    assert run_cli(["train", "--resume", str(out), "--epochs", "2", "--quiet"], capsys)[0] == 0
    assert not any(p.exists() for p in left) and mine.exists()
    assert sorted(out.rglob(".*.tmp")) == [mine]


# ---- the command line says what it does ---------------------------------------------
def test_start_line_comes_before_training(tmp_path, capsys, monkeypatch):
    """The first thing printed names model, dataset and size, epochs, batch, device and folder, before any step."""
    from minigan.gan import GAN

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GAN, "fit", interrupted)
    out = tmp_path / "r"
    code, stdout, err = run_cli(["train", "--out", str(out)], capsys)
    assert code == 130 and "minigan train --resume" in err
    first = stdout.splitlines()[0]
    for part in ("dcgan", "mnist", "10,000 images", "5 epochs", "156 steps", "batch 64", "on cpu", str(out)):
        assert part in first, (part, first)


def test_progress_lines_without_tqdm(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # as on a machine without tqdm
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    code, _, err = run_cli(["train", "--model", "mlp", "--subset", "128", "--batch-size", "32", "--epochs", "1",
                            "--out", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 0
    assert "epoch 1/1: 1/4 steps" in err and "left" in err  # within the epoch, after its first step
    assert "epoch 1/1: 4 steps in" in err and "d_loss=" in err


def test_line_printer_reports_every_few_seconds():
    import io

    from minigan.progress import LinePrinter

    ticks = iter(range(0, 1000, 3))  # a clock that advances 3 s per reading
    stream = io.StringIO()
    bar = LinePrinter(list(range(10)), "epoch 1/2", True, every_s=10, clock=lambda: next(ticks), stream=stream)
    for _ in bar:
        bar.set_postfix(d_loss="0.5")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "epoch 1/2: 1/10 steps, 3.0 s, about 27.0 s left  d_loss=0.5"
    assert [line.split(":")[1].split(",")[0].strip() for line in lines[1:-1]] == ["5/10 steps", "9/10 steps"]
    assert lines[-1].startswith("epoch 1/2: 10 steps in")
    quiet = io.StringIO()
    silent = LinePrinter([1], "x", False, stream=quiet)
    list(silent)
    silent.close()
    assert quiet.getvalue() == ""


def test_resume_names_the_checkpoint_settings_and_refuses_contradictions(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(TINY + ["--epochs", "1", "--lr", "0.001", "--out", str(out)], capsys)[0] == 0
    ckpt = out / "checkpoint.npz"
    stamp = ckpt.stat().st_mtime_ns
    for flags, word in ((["--lr", "0.01"], "--lr 0.01 contradicts"), (["--model", "dcgan"], "--model dcgan"),
                        (["--subset", "128"], "--subset 128"), (["--seed", "3"], "--seed 3")):  # fmt: skip
        code, _, err = run_cli(["train", "--resume", str(out), "--epochs", "2", "--quiet", *flags], capsys)
        assert code == 2 and word in err and "leave out" in err, (flags, err)
    assert ckpt.stat().st_mtime_ns == stamp
    code, stdout, err = run_cli(["train", "--resume", str(out), "--epochs", "2", "--lr", "0.001", "--quiet"], capsys)
    assert code == 0, err  # the same value is no contradiction
    assert "from its checkpoint:" in stdout and "lr 0.001" in stdout and "model mlp" in stdout


def test_resume_with_nothing_left_to_train(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(TINY + ["--epochs", "2", "--out", str(out)], capsys)[0] == 0
    stamp = (out / "checkpoint.npz").stat().st_mtime_ns
    for extra in ([], ["--epochs", "2"], ["--epochs", "1"]):
        code, stdout, _ = run_cli(["train", "--resume", str(out), "--quiet", *extra], capsys)
        assert code == 0 and "nothing to train" in stdout and "already at 2 epochs" in stdout
        assert "done:" not in stdout and "wrote" not in stdout
    assert (out / "checkpoint.npz").stat().st_mtime_ns == stamp


def test_sample_accepts_a_run_folder_and_counts_right(tmp_path, capsys):
    out = tmp_path / "r"
    code, stdout, _ = run_cli(TINY + ["--epochs", "1", "--out", str(out)], capsys)
    assert code == 0 and "done: 1 epoch, 2 steps" in stdout
    code, stdout, err = run_cli(["sample", "--checkpoint", str(out), "--n", "1", "--out", str(tmp_path / "s.npz")],
                                capsys)  # fmt: skip
    assert code == 0, err
    assert "wrote 1 sample to" in stdout


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--model", "resnet"], ["sample"], []])
def test_argparse_mistakes_are_one_line_pointing_to_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "usage:" not in err and "--help)" in err


def test_sample_needs_no_training_data(tmp_path, capsys):
    """An image run records its image shape, so sampling works after its data is gone (or on another machine)."""
    import shutil

    data = tmp_path / "idx"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", np.random.default_rng(0).integers(0, 256, (64, 28, 28), np.uint8))
    write_idx(data / "train-labels-idx1-ubyte", np.arange(64, dtype=np.uint8) % 10)
    out = tmp_path / "r"
    code, _, err = run_cli(TINY + ["--dataset", "mnist-full", "--data-dir", str(data), "--epochs", "1",
                                   "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    shutil.rmtree(data)
    code, _, err = run_cli(["sample", "--checkpoint", str(out), "--n", "4", "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as z:
        assert z["images"].shape == (4, 28, 28)
