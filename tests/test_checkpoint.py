"""Checkpoints: exact resume, atomic writes, and clear errors for bad files."""

import os
import zipfile

import numpy as np
import pytest

from minigan.backend import CounterRNG
from minigan.checkpoint import (
    CheckpointError,
    dropout_layers,
    gan_state,
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


def test_counter_rng_state_round_trip():
    rng = CounterRNG(2**64 - 1, draws=12)
    copy = CounterRNG.from_state(rng.state())
    assert copy == rng
    assert rng.state().dtype == np.uint64
    assert [rng.next_offset() for _ in range(3)] == [copy.next_offset() for _ in range(3)]


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, True])
def test_counter_rng_refuses_a_seed_that_is_no_64_bit_integer(bad):
    with pytest.raises(ValueError, match=r"CounterRNG: seed must be an integer in \[0, 2\*\*64\)"):
        CounterRNG(bad)


@pytest.mark.parametrize("bad", [np.zeros(2, np.int64), np.zeros(3, np.uint64), np.zeros((1, 2), np.uint64)])
def test_counter_rng_refuses_a_saved_state_of_another_shape_or_kind(bad):
    with pytest.raises(ValueError, match=r"a saved state is uint64\[2\] \(seed, draws\)"):
        CounterRNG.from_state(bad)


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_resume_is_bit_exact(straight_and_resumed, model):
    """2 epochs straight == 1 epoch, stop, resume to 2 (weights, optimizer, BN stats, history)."""
    s = settings(model=model, subset=128 if model == "dcgan" else 192, batch_size=32 if model == "dcgan" else 64)
    _, b = straight_and_resumed(s)
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


# ---- Dropout generators in the checkpoint -------------------------------------------------
def test_counter_generators_go_through_a_checkpoint(tmp_path):
    """Dropouts holding CounterRNGs (a GPU run's, or one resumed on the CPU) are saved as
    D.counter_rng.<layer> and come back in the same state, drawing the same next masks."""
    s, path = _saved(tmp_path)
    gan = restore(make_gan(s, load_data(s)), load_checkpoint(path))
    layers = dict(dropout_layers(gan.D))
    for i, layer in enumerate(layers.values()):
        layer.rng = CounterRNG(100 + i, draws=7 + i)
    state = gan_state(gan, s)
    assert sorted(k for k in state if ".rng." in k or ".counter_rng." in k) == [f"D.counter_rng.{p}" for p in layers]
    save_checkpoint(str(tmp_path / "c.npz"), gan, s)
    back = dict(dropout_layers(restore(make_gan(s, load_data(s)), load_checkpoint(str(tmp_path / "c.npz"))).D))
    x = np.ones((8, 256), np.float32)
    for p, layer in layers.items():
        assert back[p].rng == layer.rng
        np.testing.assert_array_equal(back[p].forward(x), layer.forward(x))


def _bad_dropout_states(path):
    """(what to change in the checkpoint of a CPU mlp run, the error it must raise)."""
    return [
        ({f"D.rng.{path}": np.zeros(6, np.int64)}, rf"'D\.rng\.{path}' is int64\(6,\), a PCG64 state is uint64\[6\]"),
        ({f"D.rng.{path}": np.arange(4, dtype=np.uint64)}, rf"'D\.rng\.{path}' is uint64\(4,\)"),
        ({f"D.rng.{path}": np.array([1, 2, 3, 4, 0, 0], np.uint64)}, r"not a PCG64 state \(its increment must be odd"),
        ({f"D.rng.{path}": np.array([1, 2, 3, 5, 2, 0], np.uint64)}, r"not a PCG64 state"),
        ({f"D.counter_rng.{path}": np.zeros(2, np.uint64)}, rf"two generators for the Dropout at D\.{path}"),
        ({"D.counter_rng.0": np.zeros(2, np.uint64)}, r"\['D\.counter_rng\.0'\] name no Dropout layer"),
        ({"G.rng.0": np.zeros(6, np.uint64)}, r"this model's G: \['G\.rng\.0'\] name no Dropout layer"),
        ({"rng.noise": np.array([1, 2, 3, 4, 0, 0], np.uint64)}, r"'rng\.noise' is not a PCG64 state"),
    ]


def test_bad_dropout_states_are_refused_and_nothing_changes(tmp_path):
    s, path = _saved(tmp_path)
    ckpt = load_checkpoint(path)
    gan = make_gan(s, load_data(s))
    first = next(dropout_layers(gan.D))[0]
    cases = _bad_dropout_states(first) + [
        ({f"D.rng.{first}": None, f"D.counter_rng.{first}": np.zeros(2, np.int64)},
         rf"'D\.counter_rng\.{first}': CounterRNG: a saved state is uint64\[2\] \(seed, draws\), got int64\(2,\)"),
        ({f"D.rng.{first}": None, f"D.counter_rng.{first}": np.zeros(3, np.uint64)}, r"got uint64\(3,\)"),
    ]  # fmt: skip
    gan.D.forward(np.ones((4, 784), np.float32))  # its Dropouts now hold generators
    before = {p: (layer.rng.bit_generator.state, layer.seed) for p, layer in dropout_layers(gan.D)}
    weights = {k: v.copy() for k, v in gan.D.params.items()}
    for change, message in cases:
        bad = {k: v for k, v in {**ckpt, **change}.items() if v is not None}
        with pytest.raises(CheckpointError, match=message):
            restore(gan, bad)
        assert {p: (layer.rng.bit_generator.state, layer.seed) for p, layer in dropout_layers(gan.D)} == before
        for k, v in gan.D.params.items():
            np.testing.assert_array_equal(v, weights[k])


def test_bad_optimizer_state_is_refused_before_anything_changes(tmp_path):
    s, path = _saved(tmp_path)
    ckpt = load_checkpoint(path)
    key = next(k for k in ckpt if k.startswith("opt_D.m."))
    cases = [
        ({key: ckpt[key][..., :1]}, "opt_D"),  # a wrong shape
        ({key: ckpt[key].astype(np.int64)}, "float"),  # a wrong kind
        ({"opt_G.m.no_such_param": np.zeros(3, np.float32)}, "opt_G"),  # a stray key
        ({key: None}, "cover different parameters"),  # one slot misses a parameter
    ]
    gan = make_gan(s, load_data(s))
    weights = {name: {k: v.copy() for k, v in net.params.items()} for name, net in (("G", gan.G), ("D", gan.D))}
    states = {name: opt.state_dict() for name, opt in (("G", gan.opt_G), ("D", gan.opt_D))}
    for change, message in cases:
        bad = {k: v for k, v in {**ckpt, **change}.items() if v is not None}
        with pytest.raises(CheckpointError, match=message):
            restore(gan, bad)
        for name, net in (("G", gan.G), ("D", gan.D)):
            for k, v in net.params.items():
                np.testing.assert_array_equal(v, weights[name][k])
        for name, opt in (("G", gan.opt_G), ("D", gan.opt_D)):
            assert opt.state_dict().keys() == states[name].keys()
    restore(gan, ckpt)  # the good file still loads


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_umask_is_read_without_being_changed(umask, monkeypatch):
    """Reading the umask must not open a window in which another thread's new files get mode 0666."""
    from minigan import fileio

    seen = []
    real_umask = os.umask
    monkeypatch.setattr(fileio.os, "umask", lambda m: seen.append(m) or real_umask(m))
    old = real_umask(umask)
    try:
        assert fileio.new_file_mode() == 0o666 & ~umask
    finally:
        real_umask(old)
    if os.path.exists("/proc/self/status"):
        assert seen == []  # read from the system, not set
    else:
        assert seen[0] != 0  # set for an instant, but never to 0
