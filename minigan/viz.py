"""Pictures for watching a GAN learn: image grids, training curves, GIFs, 2-D scatters, mode coverage.

Headless-safe: figures are built from ``matplotlib.figure.Figure`` with the Agg
canvas, never through pyplot, so nothing opens a window and the same calls work
in a script, in CI and in a notebook (functions that draw return the Figure, and
a notebook shows a returned Figure by itself).

Every file is written atomically: first to a hidden temp file in the same
folder, then moved into place with ``os.replace``, so a reader (or a crash
halfway) never sees half a PNG.
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from minigan.backend import to_numpy
from minigan.fileio import atomic_write


# ---- writing files ----------------------------------------------------------
def _save_figure(fig, path):
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)


def _new_figure(figsize):
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas: drawing never needs a display
    return fig


# ---- image grids ------------------------------------------------------------
def image_grid(images, nrow=None, value_range=(-1, 1), padding=2, pad_value=255):
    """Tile a batch of images into one uint8 picture.

    images: (N, C, H, W) with C = 1 or 3, NumPy or CuPy. Float images are mapped
        linearly from ``value_range`` = (lo, hi) to 0..255 (lo -> 0, hi -> 255),
        clipped, and NaN is drawn as lo; uint8 images are used as they are.
    nrow: images per row (default ceil(sqrt(N))), so rows = ceil(N / nrow).
    padding: pixels of ``pad_value`` between images and around the edge.

    Returns a NumPy uint8 array of shape (rows*(H+padding)+padding,
    nrow*(W+padding)+padding) for C = 1, with a trailing 3 for C = 3.
    """
    x = to_numpy(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, C, H, W) with C = 1 or 3, got {x.shape}")
    if x.dtype == np.uint8:
        pix = x
    else:
        lo, hi = value_range
        x01 = (np.nan_to_num(x.astype(np.float64), nan=lo) - lo) / (hi - lo)
        pix = np.round(np.clip(x01, 0.0, 1.0) * 255).astype(np.uint8)

    N, C, H, W = pix.shape
    cols = nrow or max(1, math.ceil(math.sqrt(N)))
    rows = max(1, math.ceil(N / cols))
    step_h, step_w = H + padding, W + padding
    grid = np.full((C, rows * step_h + padding, cols * step_w + padding), pad_value, dtype=np.uint8)
    for i in range(N):
        r, c = divmod(i, cols)
        top, left = padding + r * step_h, padding + c * step_w
        grid[:, top:top + H, left:left + W] = pix[i]
    # (C, Hg, Wg) -> (Hg, Wg) for grey, (Hg, Wg, 3) for colour: the layout Pillow and imshow read
    return grid[0] if C == 1 else grid.transpose(1, 2, 0)


def _upscale(img, scale):
    """Enlarge a PIL image by an integer factor, nearest-neighbour (keeps pixels sharp)."""
    if scale == 1:
        return img
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def save_grid(images, path, nrow=None, value_range=(-1, 1), scale=2):
    """Write ``image_grid(images, nrow, value_range)`` as a PNG, enlarged ``scale`` times.

    images: (N, C, H, W), as for ``image_grid``. The PNG is grey (mode L) for C = 1
    and RGB for C = 3; its size is (grid width * scale, grid height * scale).
    Parent folders are created. Returns ``path``.
    """
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    img = _upscale(Image.fromarray(grid), scale)
    with atomic_write(path) as f:
        img.save(f, format="PNG")
    return path


def show_images(images, value_range=(-1, 1), nrow=None, title=None):
    """A Figure of ``image_grid(images, nrow, value_range)``, for a notebook.

    images: (N, C, H, W), NumPy or CuPy, float or uint8. Returns the Figure.
    """
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    h, w = grid.shape[:2]
    inches = 6.0 / max(h, w)  # the longer side is 6 inches
    fig = _new_figure((max(w * inches, 2.0), h * inches + (0.4 if title else 0.0)))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


# ---- animations -------------------------------------------------------------
def _as_image(frame):
    if isinstance(frame, (str, os.PathLike)):
        with Image.open(frame) as img:
            return img.convert("RGB" if img.mode not in ("L", "RGB") else img.mode)
    return Image.fromarray(to_numpy(frame).astype(np.uint8, copy=False))


def save_gif(frames, path, duration_ms=300, scale=1):
    """Write an animated, looping GIF: one frame per picture, ``duration_ms`` each.

    frames: a list of uint8 pictures, (H, W) or (H, W, 3) (as from ``image_grid``),
        or of image file paths (as written by ``save_grid``); all the same size.
    scale: integer nearest-neighbour enlargement (handy for ``image_grid`` arrays).
    Note: the GIF format merges identical consecutive frames into one longer frame.
    Returns ``path``.
    """
    imgs = [_as_image(f) for f in frames]
    if not imgs:
        raise ValueError("save_gif needs at least one frame")
    if len({img.size for img in imgs}) > 1:
        raise ValueError(f"all frames must have the same size, got {sorted({img.size for img in imgs})}")
    if any(img.mode == "RGB" for img in imgs):
        imgs = [img.convert("RGB") for img in imgs]
    imgs = [_upscale(img, scale) for img in imgs]
    with atomic_write(path) as f:
        imgs[0].save(f, format="GIF", save_all=True, append_images=imgs[1:],
                     duration=duration_ms, loop=0)
    return path


# ---- training curves --------------------------------------------------------
def _series(values):
    """A float64 NumPy vector from a list of numbers or a NumPy/CuPy array."""
    if hasattr(values, "ndim"):
        return to_numpy(values).astype(np.float64).ravel()
    return np.array([float(v) for v in values], dtype=np.float64)


def moving_average(y, window):
    """Trailing mean over the last ``window`` values (fewer at the start); same length as ``y``.

    ma[i] = mean(y[max(0, i - window + 1) : i + 1]).
    """
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def _raw_and_trend(ax, x, y, label, color, window):
    """Draw a noisy series faintly and its moving average boldly, in one colour."""
    ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
    ax.plot(x, moving_average(y, window), color=color, linewidth=2.0, label=label)


WARNING_COLORS = {"nan": "black", "d_wins": "red", "d_saturated": "orange", "collapse": "purple"}


def plot_history(history, path=None, window=None, diagnoses=(), samples="images"):
    """Training curves of a GAN, one panel per question a learner asks.

    history: dict of equal-length lists or arrays (one entry per logged step) with
        keys among ``step``, ``epoch``, ``d_loss``, ``g_loss``, ``d_real`` (mean
        D(x)), ``d_fake`` (mean D(G(z))), ``grad_norm_d``, ``grad_norm_g``; only
        the keys present are drawn. The x axis is ``step``, or the entry index.
    window: moving-average length for the bold trend lines (default len // 20).
    Panels: (1) the two losses; (2) D(x) and D(G(z)) with the 0.5 line where D
    can no longer tell real from fake; (3) gradient norms, log scale.
    diagnoses: warnings from ``minigan.diagnostics.diagnose``; each is shaded over
    the steps where it held (a line for a single step) and named in the legend.
    samples: what the data are, for the legend ("images", "numbers", "points").
    Saves a PNG when ``path`` is given. Returns the Figure.
    """
    h = {k: _series(v) for k, v in history.items() if v is not None}
    lengths = {k: len(v) for k, v in h.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"history lists must have equal lengths, got {lengths}")
    panels = [keys for keys in (("d_loss", "g_loss"), ("d_real", "d_fake"), ("grad_norm_d", "grad_norm_g"))
              if any(k in h for k in keys)]
    if not panels:
        raise ValueError(f"nothing to plot: history has none of d_loss, g_loss, d_real, d_fake, "
                         f"grad_norm_d, grad_norm_g (keys: {sorted(h)})")
    n = next(iter(lengths.values()))
    x = h["step"] if "step" in h else np.arange(n)
    window = window or max(1, n // 20)

    labels = {
        "d_loss": ("discriminator loss", "C0"),
        "g_loss": ("generator loss", "C1"),
        "d_real": (f"D(x): score on real {samples}", "C2"),
        "d_fake": (f"D(G(z)): score on generated {samples}", "C3"),
        "grad_norm_d": ("discriminator", "C0"),
        "grad_norm_g": ("generator", "C1"),
    }
    fig = _new_figure((8, 2.8 * len(panels) + 0.4))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, keys in zip(axes, panels):
        present = [k for k in keys if k in h]
        for k in present:
            _raw_and_trend(ax, x, h[k], *labels[k], window)
        if keys[0] == "d_loss":
            ax.set_title("Losses: each network's score in the game (lower is better for it)")
            ax.set_ylabel("loss")
        elif keys[0] == "d_real":
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=1.2,
                       label="0.5: D cannot tell real from fake")
            ax.set_title("Discriminator's belief that its input is real")
            ax.set_ylabel("mean D output")
            values = np.concatenate([h[k] for k in present])
            if np.all((values >= 0) & (values <= 1)):
                ax.set_ylim(-0.03, 1.03)
        else:
            ax.set_yscale("log")
            ax.set_title("Gradient size (log scale): too small = stuck, spiking = unstable")
            ax.set_ylabel("gradient norm")
        for i, d in enumerate(diagnoses):
            first_of_kind = d.kind not in [e.kind for e in diagnoses[:i]]
            shade = {"color": WARNING_COLORS.get(d.kind, "red"), "alpha": 0.15,
                     "label": d.kind if ax is axes[0] and first_of_kind else None}  # fmt: skip
            if d.last_step > d.first_step:
                ax.axvspan(d.first_step, d.last_step, **shade)
            else:
                ax.axvline(d.first_step, linewidth=2, **shade)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("training step" if "step" in h else "logged entry")
    if window > 1:
        fig.suptitle(f"faint: every value   bold: average of the last {window}", fontsize="small", color="0.35")
    if path is not None:
        _save_figure(fig, path)
    return fig


# ---- 2-D toy data -----------------------------------------------------------
def scatter_2d(samples, real=None, centers=None, path=None, title=None):
    """Generated 2-D points over the real ones, for the mixture-of-Gaussians toy problem.

    samples: (N, 2) generated points; real: (M, 2) real points, light grey;
    centers: (K, 2) mode centres, drawn as black crosses. NumPy or CuPy.
    A generator that covers only some crosses shows mode collapse at a glance.
    Saves a PNG when ``path`` is given. Returns the Figure.
    """
    fig = _new_figure((6, 6))
    ax = fig.subplots()
    if real is not None:
        r = to_numpy(real)
        ax.scatter(r[:, 0], r[:, 1], s=6, color="0.75", alpha=0.6, label="real data", linewidths=0)
    g = to_numpy(samples)
    ax.scatter(g[:, 0], g[:, 1], s=8, color="C1", alpha=0.7, label="generated", linewidths=0)
    if centers is not None:
        c = to_numpy(centers)
        ax.scatter(c[:, 0], c[:, 1], s=120, marker="x", color="black", linewidths=2.0, label="mode centres")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title or "Generated samples vs. the real mixture")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", markerscale=1.5)
    if path is not None:
        _save_figure(fig, path)
    return fig


def plot_mode_coverage(curves, title=None, xlabel="step", path=None):
    """Mode coverage during training, one line per run, for the 2-D toy problems.

    curves: {run name: {step: report}}, each report a ``metrics.toy2d_report`` dict.
    Left: modes covered; right: the fraction of high-quality samples. A run that
    collapses shows few modes on the left; one that spreads its samples off the
    modes shows a low fraction on the right. Saves a PNG when ``path`` is given.
    Returns the Figure.
    """
    fig = _new_figure((12, 3.3))
    covered, quality = fig.subplots(1, 2)
    for name, curve in curves.items():
        steps = list(curve)
        covered.plot(steps, [r["modes_covered"] for r in curve.values()], marker=".", label=name)
        quality.plot(steps, [r["high_quality_fraction"] for r in curve.values()], marker=".", label=name)
    covered.set_ylabel("modes covered")
    quality.set_ylabel("high-quality fraction")
    for ax in (covered, quality):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    covered.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    if path is not None:
        _save_figure(fig, path)
    return fig
