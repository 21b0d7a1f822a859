"""Checkpoints: exact resume, atomic writes, and clear errors for bad files."""

import os
import zipfile

import numpy as np
import pytest

from minigan.checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore,
    rng_from_array,
    rng_to_array,
    save_checkpoint,
)
from minigan.train import fill_defaults, load_data, make_gan, run

SETTINGS = dict(model="mlp", dataset="mnist", data_dir=None, subset=192, epochs=2, batch_size=64, lr=None,
                beta1=None, latent_dim=None, objective="non-saturating", d_steps=1, schedule="alternating",
                label_smoothing=0.0, seed=0, device="cpu")  # fmt: skip


def settings(**kw):
    return fill_defaults({**SETTINGS, **kw})


def test_rng_state_round_trip():
    rng = np.random.default_rng(42)
    rng.standard_normal(7)
    copy = rng_from_array(rng_to_array(rng))
    np.testing.assert_array_equal(rng.standard_normal(100), copy.standard_normal(100))


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_resume_is_bit_exact(tmp_path, model):
    """2 epochs straight == 1 epoch, stop, resume to 2 (weights, optimizer, BN stats, history)."""
    s = settings(model=model, subset=128 if model == "dcgan" else 192, batch_size=32 if model == "dcgan" else 64)
    run({**s, "epochs": 2}, str(tmp_path / "straight"), progress=False)
    run({**s, "epochs": 1}, str(tmp_path / "split"), progress=False)
    ckpt = load_checkpoint(str(tmp_path / "split" / "checkpoint.npz"))
    assert int(ckpt["epoch"]) == 1
    run({**s, "epochs": 2}, str(tmp_path / "split"), resume_ckpt=ckpt, progress=False)
    a = load_checkpoint(str(tmp_path / "straight" / "checkpoint.npz"))
    b = load_checkpoint(str(tmp_path / "split" / "checkpoint.npz"))
    assert a.keys() == b.keys()
    for k in a:
        if k != "settings":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert int(b["epoch"]) == 2


def _saved(tmp_path):
    s = settings(epochs=1, subset=64)
    run(s, str(tmp_path / "run"), progress=False)
    return s, str(tmp_path / "run" / "checkpoint.npz")


def test_missing_truncated_and_foreign_files(tmp_path):
    _, path = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(str(tmp_path / "nope.npz"))
    data = open(path, "rb").read()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(str(cut))
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(str(text))
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        load_checkpoint(str(other))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, format=np.array("minigan-checkpoint-v1"), payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="object arrays"):
        load_checkpoint(str(path))


def test_wrong_model_is_refused_and_nothing_changes(tmp_path):
    s, path = _saved(tmp_path)
    ckpt = load_checkpoint(path)
    other = settings(model="dcgan")
    gan = make_gan(other, load_data(other))
    before = {k: v.copy() for k, v in gan.G.params.items()}
    with pytest.raises(CheckpointError, match="does not fit"):
        restore(gan, ckpt)
    for k, v in gan.G.params.items():
        np.testing.assert_array_equal(v, before[k])
    # a wrong shape inside an otherwise matching checkpoint
    ckpt["G.params.0.W"] = ckpt["G.params.0.W"][:, :3]
    gan = make_gan(s, load_data(s))
    with pytest.raises(CheckpointError, match="0.W"):
        restore(gan, ckpt)


def test_interrupted_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    s, path = _saved(tmp_path)
    before = open(path, "rb").read()
    gan = make_gan(s, load_data(s))

    def boom(*a, **k):
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, gan, s)
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(os.path.dirname(path))) == ["checkpoint.npz", "history.csv", "losses.png", "samples"]


def test_checkpoint_is_plain_arrays(tmp_path):
    _, path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


# ---- file permissions ---------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_run_files_follow_the_umask(tmp_path, umask):
    """Files are created as open() would (0666 less the umask), not with mkstemp's private 0600."""
    old = os.umask(umask)
    try:
        run(settings(epochs=1, subset=64), str(tmp_path / "run"), progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"checkpoint.npz", "history.csv", "losses.png", "epoch_0001.png", "progress.gif"}
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, (p.name, oct(p.stat().st_mode))
