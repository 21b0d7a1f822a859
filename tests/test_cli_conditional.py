"""The command line with a conditional model: train --model cmlp/cdcgan, sample --label,
evaluate's label accuracy, and the mistakes each refuses in one line."""

import json

import numpy as np
import pytest

from minigan.cli import main


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own mistakes (a flag's value it cannot parse)
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cmlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmlp") / "run"
    assert main(["train", "--model", "cmlp", "--subset", "128", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_cdcgan_writes_a_grid_with_one_row_per_class(tmp_path, capsys):
    from PIL import Image

    code, out, err = run_cli(["train", "--model", "cdcgan", "--subset", "64", "--batch-size", "32", "--epochs", "1",
                              "--out", str(tmp_path / "r"), "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    assert "training cdcgan on mnist" in out
    w, h = Image.open(tmp_path / "r" / "samples" / "epoch_0001.png").size
    assert round(h / w * 8) == 10


def test_sample_one_label_writes_images_and_labels(cmlp_run, tmp_path, capsys):
    code, out, _ = run_cli(["sample", "--checkpoint", str(cmlp_run), "--label", "7", "--n", "12",
                            "--out", str(tmp_path / "s.npz")], capsys)  # fmt: skip
    assert code == 0 and "wrote 12 samples" in out
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (12, 28, 28) and f["images"].dtype == np.uint8
        np.testing.assert_array_equal(f["labels"], [7] * 12)


def test_sample_all_labels_gives_one_row_per_class(cmlp_run, tmp_path, capsys):
    from PIL import Image

    code, out, _ = run_cli(["sample", "--checkpoint", str(cmlp_run), "--label", "all", "--n", "5",
                            "--out", str(tmp_path / "grid.png")], capsys)  # fmt: skip
    assert code == 0 and "wrote 50 samples" in out
    w, h = Image.open(tmp_path / "grid.png").size
    assert round(h / w * 5) == 10  # 10 rows of 5 tiles
    assert main(["sample", "--checkpoint", str(cmlp_run), "--label", "all", "--n", "2",
                 "--out", str(tmp_path / "all.npz")]) == 0  # fmt: skip
    with np.load(tmp_path / "all.npz") as f:
        np.testing.assert_array_equal(f["labels"], np.repeat(np.arange(10), 2))
        assert f["images"].shape == (20, 28, 28)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "is a conditional model (cmlp): say which class to draw with --label 0..9, or --label all"),
        (["--label", "10"], "--label 10 is not a class of"),
        (["--label", "seven"], "--label must be a class number (0, 1, ...) or 'all', got 'seven'"),
    ],
    ids=["no label", "out of range", "not a number"],
)
def test_sample_refuses_a_missing_or_bad_label(cmlp_run, tmp_path, capsys, extra, message):
    code, _, err = run_cli(["sample", "--checkpoint", str(cmlp_run), *extra, "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "x.png").exists()


def test_evaluate_reports_label_accuracy_for_a_checkpoint_and_for_a_labelled_file(cmlp_run, tmp_path, capsys):
    code, out, _ = run_cli(["evaluate", "--checkpoint", str(cmlp_run), "--n", "100", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert 0 <= result["label_accuracy"] <= 1
    assert len(result["label_accuracy_by_label"]) == 10  # 10 of each label asked for
    assert len(result["variety_by_label"]) == 10 and result["variety"] > 0
    assert main(["sample", "--checkpoint", str(cmlp_run), "--label", "3", "--n", "20",
                 "--out", str(tmp_path / "threes.npz")]) == 0  # fmt: skip
    capsys.readouterr()
    code, out, _ = run_cli(["evaluate", "--samples", str(tmp_path / "threes.npz")], capsys)
    assert code == 0 and "label accuracy (the judge's digit == the digit asked for)" in out
    assert "0: -" in out  # never asked for a 0
    assert "variety within a label" in out


def test_label_accuracy_counts_agreement_per_requested_label():
    from minigan.evaluate import label_accuracy

    overall, by_label = label_accuracy(np.array([1, 1, 2, 0]), np.array([1, 2, 2, 2]), num_classes=3)
    assert overall == 0.5
    np.testing.assert_allclose(by_label, [np.nan, 1.0, 1 / 3])  # label 2: asked 3 times, right once


def test_variety_is_one_for_real_digits_and_zero_for_one_image_per_label():
    from minigan.evaluate import N_HELDOUT, evaluate_images, real_digits
    from minigan.metrics import variety_by_label

    x, y = real_digits()
    held_x, held_y = x[-N_HELDOUT:], y[-N_HELDOUT:]  # digits the reference set does not hold
    real = evaluate_images(held_x, labels=held_y)
    assert all(0.85 < v < 1.15 for v in real["variety_by_label"]), real["variety_by_label"]  # 0.89 to 1.04
    one_each = np.concatenate([np.repeat(held_x[held_y == c][:1], 20, axis=0) for c in range(10)])
    collapsed = evaluate_images(one_each, labels=np.repeat(np.arange(10), 20))
    assert collapsed["variety"] < 1e-6  # (0 but for rounding)
    feats = np.random.default_rng(0).standard_normal((6, 3))
    v = variety_by_label(2 * feats, np.array([0, 0, 0, 1, 1, 1]), feats, np.array([0, 0, 0, 1, 1, 1]), 3)
    np.testing.assert_allclose(v, [2, 2, np.nan])  # twice as spread; class 2 never drawn


def test_label_on_an_unconditional_checkpoint_is_refused(tmp_path, capsys):
    assert main(["train", "--model", "mlp", "--subset", "64", "--epochs", "1", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    code, _, err = run_cli(["sample", "--checkpoint", str(tmp_path / "r"), "--label", "3",
                            "--out", str(tmp_path / "x.png")], capsys)  # fmt: skip
    assert code == 2 and "--label is for conditional models (cdcgan, cmlp)" in err


def test_train_a_conditional_model_on_unlabelled_data_is_one_clear_line(tmp_path, capsys):
    code, _, err = run_cli(["train", "--model", "cdcgan", "--dataset", "ring8", "--out", str(tmp_path / "o"),
                            "--quiet"], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_a_conditional_model_on_a_csv_without_labels_names_the_dataset_and_the_flag(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    data = f"csv:{tmp_path / 't.csv'}"
    code, _, err = run_cli(["train", "--model", "cdcgan", "--dataset", data, "--out", str(tmp_path / "o"), "--quiet"],
                           capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"dataset {data!r} has no labels: pass --label-column NAME_OR_INDEX" in err
    assert not (tmp_path / "o").exists()


def test_label_column_reaches_the_data_from_the_command_line(tmp_path, capsys):
    """With --label-column the labels are there: the refusal is now the model's (a table, not images)."""
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,0\n3,4,1\n")
    code, _, err = run_cli(["train", "--model", "cdcgan", "--dataset", f"csv:{tmp_path / 't.csv'}",
                            "--label-column", "c", "--out", str(tmp_path / "o"), "--quiet"], capsys)  # fmt: skip
    assert code == 2 and "has no labels" not in err and "makes 28x28 images" in err
    code, _, err = run_cli(["train", "--model", "cdcgan", "--dataset", f"csv:{tmp_path / 't.csv'}",
                            "--label-column", "z", "--out", str(tmp_path / "o"), "--quiet"], capsys)  # fmt: skip
    assert code == 2 and "--label-column z:" in err


def test_labels_out_of_range_are_refused_at_load_with_the_label(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    for c in range(11):  # eleven class folders: labels 0..10, one too many for ten classes
        (tmp_path / "d" / f"c{c:02d}").mkdir(parents=True)
        Image.new("L", (28, 28), 20 * c).save(tmp_path / "d" / f"c{c:02d}" / "0.png")
    code, _, err = run_cli(["train", "--model", "cmlp", "--dataset", f"folder:{tmp_path / 'd'}", "--batch-size", "2",
                            "--out", str(tmp_path / "o"), "--quiet"], capsys)  # fmt: skip
    assert code == 2 and "class labels must lie in 0..9, got label 10" in err
    assert not (tmp_path / "o").exists()
