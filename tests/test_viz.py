"""Pictures: grid shapes and pixel values, and that every writer leaves exactly one readable file."""

import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from minigan import viz
from minigan.backend import gpu_available, to_device

DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.skipif(not gpu_available(), reason="no GPU"))]


def random_images(n=10, c=1, h=8, w=6, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, c, h, w)).astype(np.float32)


def files_in(folder):
    """Every file under ``folder`` (relative paths), hidden temp files included."""
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


# ---- image_grid -------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_grid_shape_n10_nrow5_with_padding(device):
    x = to_device(random_images(n=10, h=8, w=6), device)
    grid = viz.image_grid(x, nrow=5, padding=2)
    # 2 rows of 5: rows*(H+pad)+pad by cols*(W+pad)+pad
    assert grid.shape == (2 * (8 + 2) + 2, 5 * (6 + 2) + 2)
    assert grid.dtype == np.uint8 and isinstance(grid, np.ndarray)


def test_grid_default_nrow_is_ceil_sqrt():
    grid = viz.image_grid(random_images(n=10, h=4, w=4), padding=0)
    assert grid.shape == (3 * 4, 4 * 4)  # ceil(sqrt(10)) = 4 per row, 3 rows


def test_grid_places_images_in_reading_order():
    x = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    x[1] = 100
    grid = viz.image_grid(x, nrow=2, padding=1, pad_value=7)
    assert (grid[1:3, 4:6] == 100).all()  # image 1: row 0, column 1
    assert (grid[4:6, 1:3] == 0).all()  # image 2: row 1, column 0
    assert (grid[0, :] == 7).all() and (grid[:, 0] == 7).all()  # the padding
    assert (grid[4:6, 4:6] == 7).all()  # the empty last cell is padding


def test_grid_maps_value_range_to_0_255_and_clips():
    x = np.array([-1.0, 1.0, 0.0, -5.0, 5.0, np.nan], dtype=np.float32).reshape(6, 1, 1, 1)
    grid = viz.image_grid(x, nrow=6, padding=0)
    assert grid.tolist() == [[0, 255, 128, 0, 255, 0]]  # lo, hi, middle, clipped low/high, NaN -> lo


def test_grid_value_range_0_1():
    x = np.array([0.0, 0.5, 1.0]).reshape(3, 1, 1, 1)
    assert viz.image_grid(x, nrow=3, padding=0, value_range=(0, 1)).tolist() == [[0, 128, 255]]


def test_grid_uint8_passes_through_unchanged():
    x = np.random.default_rng(1).integers(0, 256, size=(4, 1, 3, 3), dtype=np.uint8)
    grid = viz.image_grid(x, nrow=4, padding=0, value_range=(-1, 1))  # value_range ignored
    np.testing.assert_array_equal(grid, np.concatenate(list(x[:, 0]), axis=1))


def test_grid_colour_is_hwc():
    x = np.zeros((2, 3, 4, 5), dtype=np.float32)
    x[:, 0] = 1.0  # pure red in (-1, 1) range: R = 1, G = B = 0 -> (255, 128, 128)
    grid = viz.image_grid(x, nrow=2, padding=1)
    assert grid.shape == (1 * (4 + 1) + 1, 2 * (5 + 1) + 1, 3)
    assert grid[1, 1].tolist() == [255, 128, 128]


def test_grid_rejects_wrong_shape():
    with pytest.raises(ValueError, match="N, C, H, W"):
        viz.image_grid(np.zeros((4, 28, 28)))


# ---- files ------------------------------------------------------------------
def test_save_grid_png_reads_back_with_scaled_size(tmp_path):
    path = tmp_path / "sub" / "dir" / "grid.png"  # parent folders are created
    viz.save_grid(random_images(n=10, h=8, w=6), path, nrow=5, scale=3)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "L"
        assert img.size == (3 * (5 * 8 + 2), 3 * (2 * 10 + 2))  # (width, height)
    assert files_in(tmp_path) == [os.path.join("sub", "dir", "grid.png")]


def test_save_grid_colour_is_rgb(tmp_path):
    viz.save_grid(random_images(n=4, c=3), tmp_path / "c.png", scale=1)
    with Image.open(tmp_path / "c.png") as img:
        assert img.mode == "RGB"


def test_failed_write_leaves_no_temp_file_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(viz.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        viz.save_grid(random_images(), path)
    assert files_in(tmp_path) == ["grid.png"] and path.read_bytes() == b"old"


def test_plot_history_with_partial_keys_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    history = {"d_loss": list(1.0 + 0.1 * rng.standard_normal(n)),
               "d_fake": 0.5 + 0.05 * rng.standard_normal(n)}  # no step, no g_loss, no grad norms
    fig = viz.plot_history(history, path=tmp_path / "h.png")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with Image.open(tmp_path / "h.png") as img:
        assert img.format == "PNG"
    assert files_in(tmp_path) == ["h.png"]


def test_plot_history_all_panels_and_log_scale():
    n = 50
    steps = np.arange(n) * 10
    history = {k: np.linspace(0.1, 1, n) for k in
               ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")}
    history["step"] = steps
    fig = viz.plot_history(history)
    assert len(fig.axes) == 3
    assert fig.axes[2].get_yscale() == "log"
    assert fig.axes[0].lines[0].get_xdata().tolist() == steps.tolist()


def test_plot_history_rejects_unequal_lengths_and_nothing_to_plot():
    with pytest.raises(ValueError, match="equal lengths"):
        viz.plot_history({"d_loss": [1, 2, 3], "g_loss": [1, 2]})
    with pytest.raises(ValueError, match="nothing to plot"):
        viz.plot_history({"step": [1, 2, 3]})


def test_moving_average_matches_formula():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    expected = [np.mean(y[max(0, i - 2 + 1):i + 1]) for i in range(len(y))]
    np.testing.assert_allclose(viz.moving_average(y, 2), expected)


def test_save_gif_round_trip_frame_count(tmp_path):
    frames = [viz.image_grid(random_images(n=4, seed=s), nrow=2) for s in range(5)]
    viz.save_gif(frames, tmp_path / "anim.gif", duration_ms=120, scale=2)
    with Image.open(tmp_path / "anim.gif") as img:
        assert img.n_frames == 5 and img.info.get("loop") == 0
        assert img.size == (2 * frames[0].shape[1], 2 * frames[0].shape[0])
    assert files_in(tmp_path) == ["anim.gif"]


def test_save_gif_from_png_paths(tmp_path):
    paths = [viz.save_grid(random_images(n=4, c=3, seed=s), tmp_path / f"f{s}.png") for s in range(3)]
    viz.save_gif(paths, tmp_path / "anim.gif")
    with Image.open(tmp_path / "anim.gif") as img:
        assert img.n_frames == 3


def test_save_gif_rejects_mixed_sizes(tmp_path):
    with pytest.raises(ValueError, match="same size"):
        viz.save_gif([np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8)], tmp_path / "a.gif")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("device", DEVICES)
def test_scatter_2d_writes_png(tmp_path, device):
    rng = np.random.default_rng(0)
    centers = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]) * 2
    real = centers[rng.integers(0, 8, 500)] + 0.05 * rng.standard_normal((500, 2))
    fake = to_device(rng.standard_normal((300, 2)), device)
    fig = viz.scatter_2d(fake, real=real, centers=centers, path=tmp_path / "s.png", title="step 0")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "step 0"
    with Image.open(tmp_path / "s.png") as img:
        assert img.format == "PNG"
    assert files_in(tmp_path) == ["s.png"]


def test_show_images_returns_figure_with_the_grid():
    fig = viz.show_images(random_images(n=6), nrow=3, title="samples")
    assert isinstance(fig, Figure)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == viz.image_grid(random_images(n=6), nrow=3).shape


def test_viz_never_loads_pyplot():
    """Drawing must not touch pyplot's global state (no window, safe headless)."""
    code = ("import sys, numpy as np; from minigan import viz; "
            "viz.plot_history({'d_loss': [1.0, 0.5]}); viz.show_images(np.zeros((1, 1, 4, 4))); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = root
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_progress_gif_holds_this_runs_epochs_only(tmp_path):
    """A grid of a later epoch left in samples/ (an interrupted attempt) is not a frame of progress.gif."""
    from minigan.train import epoch_frames

    samples = tmp_path / "samples"
    for e in (1, 2, 3, 7):
        viz.save_grid(random_images(n=4, seed=e), samples / f"epoch_{e:04d}.png")
    (samples / "epoch_notes.png").write_bytes(b"")
    assert [os.path.basename(p) for p in epoch_frames(str(samples), 2)] == ["epoch_0001.png", "epoch_0002.png"]
    assert len(epoch_frames(str(samples), 3)) == 3


# ---- mode coverage ----------------------------------------------------------
def test_mode_coverage_draws_one_line_per_run_in_each_panel(tmp_path):
    def report(modes, hq):
        return {"modes_covered": modes, "high_quality_fraction": hq}

    curves = {"collapsing": {100: report(3, 0.9), 200: report(1, 0.95)},
              "spreading": {100: report(6, 0.5), 200: report(8, 0.7)}}  # fmt: skip
    path = tmp_path / "coverage.png"
    fig = viz.plot_mode_coverage(curves, title="ring8", xlabel="generator step", path=str(path))
    assert isinstance(fig, Figure)
    covered, quality = fig.axes
    assert [line.get_label() for line in covered.lines] == ["collapsing", "spreading"]
    assert list(covered.lines[0].get_ydata()) == [3, 1] and list(quality.lines[1].get_ydata()) == [0.5, 0.7]
    assert list(covered.lines[1].get_xdata()) == [100, 200]
    assert (covered.get_ylabel(), quality.get_ylabel(), covered.get_xlabel()) == (
        "modes covered", "high-quality fraction", "generator step")  # fmt: skip
    assert files_in(tmp_path) == ["coverage.png"] and Image.open(path).size[0] > 0
