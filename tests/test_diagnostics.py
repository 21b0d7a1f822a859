"""The training diagnostics fire on the failures they name, and stay quiet on a healthy run."""

import numpy as np

from minigan.diagnostics import diagnose, diversity, moving_mean


def history(n, d_loss, g_loss, d_real=0.6, d_fake=0.4):
    f = lambda v: list(np.broadcast_to(np.asarray(v, dtype=float), (n,)))  # noqa: E731
    return {"step": list(range(1, n + 1)), "epoch": [0] * n, "d_loss": f(d_loss), "g_loss": f(g_loss),
            "d_real": f(d_real), "d_fake": f(d_fake), "grad_norm_d": f(1.0), "grad_norm_g": f(1.0)}  # fmt: skip


def kinds(found):
    return [d.kind for d in found]


def test_healthy_run_is_quiet():
    rng = np.random.default_rng(0)
    h = history(1000, 1.3 + 0.05 * rng.standard_normal(1000), 0.8 + 0.05 * rng.standard_normal(1000))
    assert diagnose(h) == []


def test_discriminator_wins():
    n = 1000
    d = np.concatenate([np.full(300, 1.2), np.full(700, 0.02)])
    g = np.concatenate([np.full(300, 0.9), np.linspace(0.9, 8.0, 700)])
    found = diagnose(history(n, d, g, d_fake=np.concatenate([np.full(300, 0.4), np.full(700, 0.1)])))
    assert "d_wins" in kinds(found)
    assert all(d.first_step > 300 for d in found if d.kind == "d_wins")


def test_saturated_fakes():
    found = diagnose(history(800, 0.5, 5.0, d_real=0.99, d_fake=0.005))
    assert "d_saturated" in kinds(found) and "0.02" in str(found[kinds(found).index("d_saturated")])


def test_nan_but_not_the_first_g_losses_before_g_moved():
    h = history(50, 1.0, 1.0)
    h["g_loss"][:4] = [float("nan")] * 4  # d_steps = 5: no G update yet
    assert diagnose(h) == []
    h["d_loss"][30] = float("inf")
    assert kinds(diagnose(h)) == ["nan"]


def test_collapse_from_spread():
    found = diagnose(history(100, 1.3, 0.8), spread_by_step=[(10, 8.0), (20, 9.0), (30, 3.0)])
    assert kinds(found) == ["collapse"] and found[0].first_step == 30


def test_diversity_and_moving_mean():
    same = np.ones((5, 1, 2, 2))
    assert diversity(same) == 0.0
    two = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert diversity(two) == 5.0
    np.testing.assert_allclose(moving_mean([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


def test_warnings_are_drawn_on_the_curves(tmp_path):
    from minigan.viz import plot_history

    h = history(800, 0.5, 5.0, d_real=0.99, d_fake=0.005)
    found = diagnose(h, spread_by_step=[(100, 2.0), (700, 0.5)])
    assert {"d_saturated", "collapse"} <= set(kinds(found))
    fig = plot_history(h, tmp_path / "l.png", diagnoses=found)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "d_saturated" in labels and "collapse" in labels
    assert (tmp_path / "l.png").is_file()


def test_training_run_logs_spread_and_keeps_it_across_resume(tmp_path):
    from minigan.checkpoint import load_checkpoint
    from minigan.train import fill_defaults, run

    s = fill_defaults(dict(model="mlp", dataset="mnist", data_dir=None, subset=64, epochs=2, batch_size=32,
                           lr=None, beta1=None, beta2=None, latent_dim=None, objective="non-saturating",
                           d_steps=None, schedule="alternating", label_smoothing=0.0, seed=0, device="cpu"))
    gan = run(s, str(tmp_path), progress=False)
    assert [step for step, _ in gan.spread] == [2, 4] and all(v > 0 for _, v in gan.spread)
    ckpt = load_checkpoint(str(tmp_path / "checkpoint.npz"))
    np.testing.assert_allclose(ckpt["spread"], np.asarray(gan.spread))
