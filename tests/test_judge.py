"""The judge: its loss is gradient-checked and stable, the shipped weights load and classify held-out digits."""

from pathlib import Path

import numpy as np
import pytest

from minigan.data import load_dataset
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.judge import (
    JudgeError,
    as_judge_input,
    build_judge,
    default_judge,
    judge_features,
    judge_probs,
    load_judge,
    save_judge,
    softmax_cross_entropy,
)


# ---- the loss ----------------------------------------------------------------------
def test_softmax_cross_entropy_gradient(xp):
    rng = np.random.default_rng(0)
    logits = xp.asarray(rng.normal(0, 3, (6, 10)))  # float64
    labels = xp.asarray(rng.integers(0, 10, 6))
    _, dlogits = softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda: float(softmax_cross_entropy(logits, labels)[0]), logits)
    assert rel_error(dlogits, numeric) < 1e-6


def test_softmax_cross_entropy_value():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    p0 = np.exp(2) / (np.exp(2) + np.exp(1) + 1)
    loss, _ = softmax_cross_entropy(logits, np.array([0, 2]))
    assert float(loss) == pytest.approx((-np.log(p0) + np.log(3)) / 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_stable_at_huge_logits(dtype):
    logits = np.array([[1000, -1000, 0], [-1000, 1000, 0]], dtype=dtype)
    loss, dlogits = softmax_cross_entropy(logits, np.array([0, 0]))
    assert float(loss) == pytest.approx(1000.0)  # (0 + 2000) / 2
    assert np.isfinite(dlogits).all() and dlogits.dtype == dtype
    np.testing.assert_allclose(dlogits, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)


# ---- images in ---------------------------------------------------------------------
def test_accepted_image_forms_agree():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    a = as_judge_input(pixels)
    assert a.shape == (3, 1, 28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(a, as_judge_input(pixels[:, None]))
    np.testing.assert_allclose(a, as_judge_input(pixels / 255.0), atol=1e-7)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 32, 32), np.uint8), "28x28"),
    (np.zeros((2, 3, 28, 28), np.uint8), "28x28"),
    (np.full((2, 28, 28), -1.0), r"\[0, 1\]"),
    (np.zeros((2, 28, 28), np.int32), "dtype"),
])  # fmt: skip
def test_refused_image_forms(bad, match):
    with pytest.raises(ValueError, match=match):
        as_judge_input(bad)


# ---- the shipped judge --------------------------------------------------------------
def test_shipped_judge_heldout_accuracy():
    judge = default_judge()
    ds = load_dataset("mnist")
    held_x, held_y = ds.x[-1000:], ds.y[-1000:]  # never trained on (data/train_judge.py)
    accuracy = float((judge.predict(held_x) == held_y).mean())
    assert accuracy >= 0.98
    assert accuracy == pytest.approx(judge.info["heldout_accuracy"], abs=0.002)  # the recorded number holds


def test_probs_and_features_shapes():
    x = load_dataset("mnist", subset=20).x  # uint8 (20, 1, 28, 28)
    probs, feats = judge_probs(x), judge_features(x[:, 0])
    assert probs.shape == (20, 10) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert feats.shape == (20, 128) and feats.dtype == np.float32 and (feats >= 0).all()  # after a ReLU
    assert judge_probs(x, batch_size=7).argmax(1).tolist() == probs.argmax(1).tolist()  # batching changes nothing


def test_judge_file_stores_references():
    judge = default_judge()
    mu, sigma = judge.real_stats
    assert mu.shape == (128,) and sigma.shape == (128, 128)
    refs = judge.references
    assert refs["real_heldout.frechet_distance"] < refs["noise.frechet_distance"]
    assert refs["real_heldout.classes_covered"] == 10


# ---- bad weight files ---------------------------------------------------------------
def test_load_judge_errors(tmp_path):
    with pytest.raises(JudgeError, match=r"no judge file at .*nothing.npz \(given as --judge"):
        load_judge(tmp_path / "nothing.npz")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(JudgeError, match="not an .npz"):
        load_judge(text)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(JudgeError, match="not a minigan judge"):
        load_judge(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array([{"a": 1}], dtype=object))
    with pytest.raises(JudgeError, match="object arrays"):
        load_judge(pickled)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, format=np.array("minigan-judge-v1"), **{"params.0.W": np.zeros((3, 3))})
    with pytest.raises(JudgeError, match="0.W"):
        load_judge(wrong)


# ---- where the weights come from -----------------------------------------------------
def test_judge_weights_are_package_data():
    """Inside the package, where a wheel carries them (a top-level data/ folder is not in a wheel)."""
    import minigan

    assert (Path(minigan.__file__).parent / "data" / "judge_mnist.npz").is_file()


def test_judge_read_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINIGAN_JUDGE", raising=False)
    assert load_judge().info["heldout_accuracy"] >= 0.98


def test_judge_file_from_environment(tmp_path, monkeypatch):
    judge = load_judge()
    copy = tmp_path / "my_judge.npz"
    save_judge(copy, judge.net, {"heldout_accuracy": 0.5})
    monkeypatch.setenv("MINIGAN_JUDGE", str(copy))
    assert load_judge().info == {"heldout_accuracy": 0.5}
    monkeypatch.setenv("MINIGAN_JUDGE", str(tmp_path / "gone.npz"))
    with pytest.raises(JudgeError, match=r"gone.npz \(given as MINIGAN_JUDGE="):
        load_judge()


def test_build_judge_is_seeded():
    a, b = build_judge(seed=3), build_judge(seed=3)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_judge_or_none_says_why_and_gives_none(tmp_path, monkeypatch, capsys):
    """The notebooks' way to the judge: a missing weight file prints the reason, and the cell goes on."""
    import minigan.judge as judge_module

    monkeypatch.setattr(judge_module, "_default", None)
    monkeypatch.setenv("MINIGAN_JUDGE", str(tmp_path / "missing.npz"))
    assert judge_module.judge_or_none() is None
    assert "The judge is not available here:" in capsys.readouterr().out
    monkeypatch.delenv("MINIGAN_JUDGE")
    assert judge_module.judge_or_none() is judge_module.default_judge()  # the shipped judge loads
