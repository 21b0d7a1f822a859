"""minigan train / sample: the main job works, and every bad input ends cleanly."""

import os

import numpy as np
import pytest

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
