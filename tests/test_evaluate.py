"""minigan evaluate: real digits score like real digits, noise like noise, bad files end cleanly."""

import json

import numpy as np
import pytest

from minigan.checkpoint import save_checkpoint
from minigan.cli import main
from minigan.data import load_dataset
from minigan.evaluate import evaluate_images, format_report
from minigan.judge import default_judge
from minigan.train import fill_defaults, load_data, make_gan


def run_cli(args, capsys):
    code = main(["evaluate", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def heldout():
    return load_dataset("mnist").x[-1000:, 0]  # uint8 (1000, 28, 28), as minigan sample writes images


def write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_real_heldout_digits(tmp_path, capsys, heldout):
    f = write(tmp_path / "real.npz", images=heldout)
    code, out, err = run_cli(["--samples", f], capsys)
    assert code == 0, err
    assert "classes covered" in out and "real held-out" in out and "noise" in out
    code, out, err = run_cli(["--samples", f, "--json"], capsys)
    result = json.loads(out)
    assert result["n"] == 1000 and result["classes_covered"] == 10
    assert result["class_kl"] < 0.01 and result["inception_score"] > 8
    refs = result["references"]
    assert result["frechet_distance"] < 0.2 * refs["noise.frechet_distance"]
    assert sum(result["class_histogram"]) == 1000


def test_noise(tmp_path, capsys):
    noise = np.random.default_rng(1).integers(0, 256, (500, 28, 28), dtype=np.uint8)
    code, out, err = run_cli(["--samples", write(tmp_path / "noise.npz", images=noise), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    refs = result["references"]
    assert result["classes_covered"] <= 3 and result["inception_score"] < 3
    assert result["frechet_distance"] > 10 * refs["real_heldout.frechet_distance"]


def test_n_limits_the_samples(tmp_path, capsys, heldout):
    code, out, _ = run_cli(["--samples", write(tmp_path / "r.npz", images=heldout[:, None]), "--n", "200"], capsys)
    assert code == 0 and out.startswith("200 samples") and "--n 1000" in out  # the FD note


@pytest.mark.parametrize("name, arrays, match", [
    ("shape.npz", {"images": np.zeros((20, 32, 32), np.uint8)}, "28x28"),
    ("dtype.npz", {"images": np.zeros((20, 28, 28), np.float32)}, "uint8"),
    ("keys.npz", {"pixels": np.zeros((20, 28, 28), np.uint8)}, "no 'images'"),
    ("pickled.npz", {"images": np.array([{"a": 1}] * 20, dtype=object)}, "object arrays"),
    ("few.npz", {"images": np.zeros((5, 28, 28), np.uint8)}, "at least 10"),
    ("points.npz", {"samples": np.zeros((20, 2), np.float32)}, "--dataset"),
])  # fmt: skip
def test_bad_files(tmp_path, capsys, name, arrays, match):
    code, out, err = run_cli(["--samples", write(tmp_path / name, **arrays)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("minigan evaluate: error:") and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_and_not_npz(tmp_path, capsys):
    code, _, err = run_cli(["--samples", str(tmp_path / "none.npz")], capsys)
    assert code == 2 and "no samples file" in err
    text = tmp_path / "t.npz"
    text.write_text("not a zip")
    code, _, err = run_cli(["--samples", str(text)], capsys)
    assert code == 2 and "not an .npz" in err
    code, _, err = run_cli(["--checkpoint", str(tmp_path / "none.npz")], capsys)
    assert code == 2 and "no checkpoint" in err


def test_needs_exactly_one_source(capsys):
    with pytest.raises(SystemExit) as e:
        main(["evaluate"])
    assert e.value.code == 2
    capsys.readouterr()


def test_points_file_with_dataset(tmp_path, capsys):
    centers = load_dataset("ring8", n_points=1).centers
    points = centers[np.arange(2500) % 4].astype(np.float32)  # 4 of the 8 modes, exactly on them
    f = write(tmp_path / "p.npz", samples=points)
    code, out, err = run_cli(["--samples", f, "--dataset", "ring8", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["modes_covered"] == 4 and result["high_quality_fraction"] == 1.0
    code, out, _ = run_cli(["--samples", f, "--dataset", "ring8"], capsys)
    assert "modes covered           4 of 8" in out


def untrained_checkpoint(tmp_path, model, dataset):
    settings = fill_defaults({"model": model, "dataset": dataset, "data_dir": None, "subset": 64, "epochs": None,
                              "batch_size": None, "lr": None, "beta1": None, "latent_dim": None,
                              "objective": "non-saturating", "d_steps": 1, "schedule": "alternating",
                              "label_smoothing": 0.0, "seed": 0, "device": "cpu"})  # fmt: skip
    gan = make_gan(settings, load_data(settings))
    return save_checkpoint(str(tmp_path / "checkpoint.npz"), gan, settings)


def test_checkpoint_images(tmp_path, capsys):
    path = untrained_checkpoint(tmp_path, "mlp", "mnist")
    code, out, err = run_cli(["--checkpoint", path, "--n", "50", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 50 and result["checkpoint"] == path and result["dataset"] == "mnist"
    code, out, err = run_cli(["--checkpoint", str(tmp_path), "--n", "50"], capsys)  # the run folder works too
    assert code == 0 and "Frechet distance" in out


def test_checkpoint_points(tmp_path, capsys):
    path = untrained_checkpoint(tmp_path, "toy", "grid25")
    code, out, err = run_cli(["--checkpoint", path, "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n_samples"] == 2500 and result["n_modes"] == 25 and result["dataset"] == "grid25"


def test_stored_noise_reference_is_reproduced():
    """The stored noise row is what scoring the same seeded noise gives now (cheap; the real row needs 10k digits)."""
    judge = default_judge()
    noise = np.random.default_rng(0).integers(0, 256, size=(1000, 1, 28, 28), dtype=np.uint8)  # as reference_values
    result = evaluate_images(noise, judge=judge)
    for key in ("frechet_distance", "inception_score", "classes_covered", "class_kl"):
        assert result[key] == pytest.approx(judge.references[f"noise.{key}"], rel=1e-6, abs=1e-9), key


def test_format_report_without_references(heldout):
    result = evaluate_images(heldout[:100])
    text = format_report(result, {})
    assert "Frechet distance" in text and text.count(" - ") >= 2


def test_dataset_that_does_not_match_the_checkpoint_is_refused(tmp_path, capsys):
    path = untrained_checkpoint(tmp_path, "mlp", "mnist")
    code, out, err = run_cli(["--checkpoint", path, "--n", "50", "--dataset", "ring8"], capsys)
    assert code == 2 and out == ""
    assert "--dataset ring8 does not match" in err and "mnist" in err
    (tmp_path / "p").mkdir()
    points = untrained_checkpoint(tmp_path / "p", "toy", "grid25")
    code, _, err = run_cli(["--checkpoint", points, "--dataset", "ring8"], capsys)
    assert code == 2 and "a run on grid25" in err
    code, _, err = run_cli(["--checkpoint", points, "--dataset", "grid25", "--n", "100"], capsys)
    assert code == 0, err  # naming the checkpoint's own mixture is fine


def test_judge_option_points_at_a_weights_file(tmp_path, capsys):
    from minigan.judge import save_judge

    path = untrained_checkpoint(tmp_path, "mlp", "mnist")
    code, _, err = run_cli(["--checkpoint", path, "--n", "50", "--judge", str(tmp_path / "none.npz")], capsys)
    assert code == 2 and "none.npz" in err and "--judge" in err
    judge = default_judge()
    mine = tmp_path / "judge.npz"
    save_judge(mine, judge.net, judge.info, judge.references, judge.real_stats)
    code, a, err = run_cli(["--checkpoint", path, "--n", "50", "--judge", str(mine), "--json"], capsys)
    assert code == 0, err
    code, b, _ = run_cli(["--checkpoint", path, "--n", "50", "--json"], capsys)
    assert json.loads(a) == json.loads(b)  # the same weights give the same scores
