"""The conditional GAN: G(z, y) and D(x, y) gradient-checked whole, the trainer's
labels (real ones to D with the real batch, uniform ones for the fakes, seeded),
exact resume, the one-row-per-class grid, and data without labels refused."""

import copy

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.cgan import ConditionalGAN
from minigan.checkpoint import load_checkpoint
from minigan.conditional import ConditionalDiscriminator, ConditionalGenerator, ConditionalNormGenerator
from minigan.data import DataError
from minigan.gradcheck import check_layer
from minigan.layers import (
    BatchNorm,
    ConditionalBatchNorm,
    ConvTranspose2D,
    Dense,
    Embedding,
    Flatten,
    LeakyReLU,
    Reshape,
    Sequential,
    Tanh,
)
from minigan.models import conditional_dcgan, conditional_mlp_gan
from minigan.train import fill_defaults, run


def device(xp):
    return "cpu" if xp is np else "gpu"


def small_g():
    """G(z, y): [z (N, 3), embed(y) (N, 2)] -> Dense(5, 4) BatchNorm LeakyReLU Dense(4, 4) Tanh -> (N, 1, 2, 2)."""
    body = Sequential(Dense(5, 4), BatchNorm(4), LeakyReLU(0.2), Dense(4, 4), Tanh(), Reshape((1, 2, 2)))
    return ConditionalGenerator(Embedding(3, 2), body)


def small_d():
    """D(x, y) for (N, 1, 2, 2) images: label plane, Flatten Dense(8, 5) LeakyReLU -> h (N, 5), head, projection."""
    plane = Sequential(Embedding(3, 4), Reshape((1, 2, 2)))
    return ConditionalDiscriminator(plane, Sequential(Flatten(), Dense(8, 5), LeakyReLU(0.2)), Dense(5, 1),
                                    Embedding(3, 5))  # fmt: skip


@pytest.mark.parametrize("make, first", [(small_g, (6, 3)), (small_d, (6, 1, 2, 2))], ids=["G(z, y)", "D(x, y)"])
def test_conditional_networks_match_central_differences(xp, make, first):
    rng = np.random.default_rng(0)
    net = make().to(device(xp))
    x = xp.asarray(rng.standard_normal(first) + 0.1)
    y = xp.asarray(np.array([0, 2, 1, 2, 0, 2]))
    report = check_layer(net, (x, y))
    assert set(report.errors) == {"x1"} | set(net.params)  # every embedding is checked, labels are not
    assert report.ok, str(report)


@pytest.mark.parametrize("build, latent", [(conditional_dcgan, 128), (conditional_mlp_gan, 100)])
def test_builders_give_g_of_z_y_and_d_of_x_y(build, latent):
    G, D = build(num_classes=10, seed=0)
    z = np.random.default_rng(0).standard_normal((3, latent)).astype(np.float32)
    x = G(z, np.array([0, 7, 9]))
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    assert D(x, np.array([0, 7, 9])).shape == (3, 1)
    G2, _ = build(num_classes=10, seed=0)
    for k, p in G.params.items():
        np.testing.assert_array_equal(p, G2.params[k])


def small_norm_g():
    """G(z, y): Dense(3, 4) CBN(y) LeakyReLU Reshape (1, 2, 2) ConvTranspose2D(1, 2, 3) CBN(y) Tanh -> (N, 2, 4, 4)."""
    return ConditionalNormGenerator(Dense(3, 4), ConditionalBatchNorm(4, 3), LeakyReLU(0.2), Reshape((1, 2, 2)),
                                    ConvTranspose2D(1, 2, 3), ConditionalBatchNorm(2, 3), Tanh())  # fmt: skip


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_label_normalised_generator_matches_central_differences(xp, mode):
    rng = np.random.default_rng(0)
    G = small_norm_g()
    for layer in (G.layers[1], G.layers[5]):  # gains and biases away from 1 and 0, distinct per class
        layer.params["gamma"][...] = rng.uniform(0.5, 1.5, layer.params["gamma"].shape)
        layer.params["beta"][...] = rng.standard_normal(layer.params["beta"].shape)
        layer.running_mean[...], layer.running_var[...] = rng.standard_normal(layer.num_features), 1.3
    G = (G.eval() if mode == "eval" else G).to(device(xp))
    report = check_layer(G, (xp.asarray(rng.standard_normal((6, 3))), xp.asarray(np.array([0, 2, 1, 2, 0, 2]))))
    assert set(report.errors) == {"x1"} | set(G.params)
    assert report.ok, str(report)
    G.forward(xp.asarray(rng.standard_normal((6, 3)).astype(np.float32)), xp.asarray(np.array([0, 1, 2, 0, 1, 2])))
    assert G.backward(xp.ones((6, 2, 4, 4), dtype=np.float32), input_grad=False) == (None, None)


def test_out_of_range_labels_are_refused_at_sample_and_fit():
    gan = tiny_gan()
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"sample: class labels must lie in 0..2, got label 3"):
        gan.sample(z=z, labels=np.array([0, 3]))
    x = np.zeros((4, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"fit: class labels must lie in 0..2, got label -1 \(at position 2"):
        gan.fit(x, np.array([0, 1, -1, 2]), epochs=1, batch_size=2, progress=False)
    assert gan.step == 0


def test_the_label_changes_what_g_draws_and_how_d_judges():
    G, D = conditional_mlp_gan(seed=0)
    z = np.random.default_rng(0).standard_normal((2, 100)).astype(np.float32)
    a, b = G(z, np.array([1, 1])), G(z, np.array([1, 2]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])
    assert not np.allclose(D(a, np.array([1, 1])), D(a, np.array([3, 3])))


def tiny_gan(seed=0, **kw):
    G, D = small_g(), small_d()
    return ConditionalGAN(G, D, latent_dim=3, num_classes=3, per_class=2, seed=seed, **kw)


def test_d_sees_real_labels_with_the_real_batch_and_g_draws_the_labels_of_the_fakes():
    gan = tiny_gan()
    seen = []
    forward_d, forward_g = gan.D.forward, gan.G.forward
    gan.D.forward = lambda x, y: seen.append(("D", y.copy())) or forward_d(x, y)
    gan.G.forward = lambda z, y: seen.append(("G", y.copy())) or forward_g(z, y)
    real_labels = np.array([2, 2, 2, 2, 2, 2, 2, 2])
    real = np.random.default_rng(0).uniform(-1, 1, (8, 1, 2, 2)).astype(np.float32)
    gan.train_step(real, real_labels)
    (g_name, y_fake), (d_name, y_both), (d2_name, y_again) = seen
    assert (g_name, d_name, d2_name) == ("G", "D", "D")
    np.testing.assert_array_equal(y_both[:8], real_labels)  # the real batch keeps its labels
    np.testing.assert_array_equal(y_both[8:], y_fake)  # the fakes are judged with the labels asked for
    np.testing.assert_array_equal(y_again, y_fake)  # and so in G's pass
    expected = tiny_gan().label_rng.integers(0, 3, size=8)  # the seeded label stream, uniform over classes
    np.testing.assert_array_equal(y_fake, expected)


def test_fake_labels_are_uniform_and_seeded():
    y = tiny_gan(seed=5).fake_labels(30_000)
    shares = np.bincount(y, minlength=3) / len(y)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.01)
    np.testing.assert_array_equal(y, tiny_gan(seed=5).fake_labels(30_000))
    assert not np.array_equal(y, tiny_gan(seed=6).fake_labels(30_000))


def test_the_fixed_grid_has_one_row_per_class_and_one_noise_per_column():
    gan = tiny_gan()
    np.testing.assert_array_equal(gan.fixed_labels, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(gan.fixed_noise[0:2], gan.fixed_noise[4:6])
    assert gan.sample().shape == (6, 1, 2, 2)


def test_wgan_gp_and_simultaneous_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="wgan-gp objective is not available for conditional models"):
        tiny_gan(objective="wgan-gp")
    with pytest.raises(ValueError, match="schedule='alternating' only"):
        tiny_gan(schedule="simultaneous")


def test_a_training_step_runs_on_the_array_module_of_the_data(xp):
    cpu = tiny_gan()
    gan = copy.deepcopy(cpu).to(device(xp))
    real = np.random.default_rng(1).uniform(-1, 1, (4, 1, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    for _ in range(3):
        s_dev, s_cpu = gan.train_step(xp.asarray(real), xp.asarray(y)), cpu.train_step(real, y)
        for k in ("d_loss", "g_loss"):
            assert s_dev[k] == pytest.approx(s_cpu[k], rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(to_numpy(gan.sample()), cpu.sample(), rtol=1e-4, atol=1e-5)


SETTINGS = dict(model="cmlp", dataset="mnist", data_dir=None, subset=128, epochs=2, batch_size=64, lr=None,
                beta1=None, latent_dim=None, objective="non-saturating", d_steps=1, schedule="alternating",
                label_smoothing=0.0, seed=0, device="cpu")  # fmt: skip


@pytest.mark.parametrize("model", ["cmlp", "cdcgan"])
def test_resume_is_bit_exact(straight_and_resumed, model):
    """2 epochs straight == 1 epoch, stop, resume to 2: weights, optimizers, label stream, history."""
    s = fill_defaults({**SETTINGS, "model": model, "subset": 64 if model == "cdcgan" else 128,
                       "batch_size": 32})  # fmt: skip
    a, _ = straight_and_resumed(s)  # (every array equal, the label stream's included)
    assert "rng.labels" in a


def test_a_checkpoint_without_the_label_stream_is_refused(tmp_path):
    from minigan.checkpoint import CheckpointError, restore
    from minigan.train import load_data, make_gan

    s = fill_defaults({**SETTINGS, "epochs": 1})
    run(s, str(tmp_path / "r"), progress=False)
    ckpt = load_checkpoint(str(tmp_path / "r" / "checkpoint.npz"))
    del ckpt["rng.labels"]
    gan = make_gan(s, load_data(s))
    before = copy.deepcopy(gan.G.params)
    with pytest.raises(CheckpointError, match="checkpoint lacks 'rng.labels'"):
        restore(gan, ckpt)
    for k, p in gan.G.params.items():
        np.testing.assert_array_equal(p, before[k])


def test_the_epoch_grid_has_one_row_per_class(tmp_path):
    from PIL import Image

    s = fill_defaults({**SETTINGS, "epochs": 1})
    gan = run(s, str(tmp_path / "r"), progress=False)
    assert gan.per_class == 8 and len(gan.fixed_labels) == 80
    w, h = Image.open(tmp_path / "r" / "samples" / "epoch_0001.png").size
    assert round(h / w * 8) == 10  # 10 rows of 8 tiles (square tiles, the same padding)


def test_data_without_labels_is_refused_for_a_conditional_model(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (28, 28), 40 * i).save(folder / f"{i}.png")
    s = fill_defaults({**SETTINGS, "dataset": f"folder:{folder}", "subset": None, "batch_size": 2})
    with pytest.raises(DataError, match=r"model 'cmlp' draws the class you ask for.* has no labels"):
        run(s, str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


def test_a_folder_of_class_sub_folders_trains_a_conditional_model(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for c, name in enumerate(["circles", "squares"]):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (28, 28), 60 * c + 10 * i).save(tmp_path / "data" / name / f"{i}.png")
    s = fill_defaults({**SETTINGS, "dataset": f"folder:{tmp_path / 'data'}", "subset": None, "batch_size": 4,
                       "epochs": 1})  # fmt: skip
    gan = run(s, str(tmp_path / "out"), progress=False)
    assert gan.step == 2 and (tmp_path / "out" / "checkpoint.npz").exists()
