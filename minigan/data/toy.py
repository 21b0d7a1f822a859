"""Two-dimensional Gaussian mixtures: the mode-collapse testbeds of the PacGAN paper.

    ring8   8 modes evenly spaced on a circle of radius 1, each with std 0.01
    grid25  25 modes at {-4, -2, 0, 2, 4}^2, each with std 0.05

Every mode has the same weight. A generator that covers the data puts samples
near every centre; one that collapses covers only a few, which is easy to see
in a scatter plot and to count (``y`` holds the mode each real point came from).
"""

import itertools

import numpy as np

from .dataset import Dataset


def ring8_centers():
    """float64 (8, 2): (cos 2 pi k / 8, sin 2 pi k / 8) for k = 0..7."""
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_centers():
    """float64 (25, 2): every pair (a, b) with a, b in {-4, -2, 0, 2, 4}."""
    return np.array(list(itertools.product([-4, -2, 0, 2, 4], repeat=2)), dtype=np.float64)


def gaussian_mixture(name, centers, std, n_points, seed):
    """``n_points`` samples of an equal-weight mixture of isotropic Gaussians, as a points Dataset.

    centers: (M, 2). Returns x float32 (n_points, 2) and y int64 (n_points,), the mode of each sample.
    """
    rng = np.random.default_rng(seed)
    modes = rng.integers(0, len(centers), size=n_points)  # (n_points,) equal weights
    x = centers[modes] + std * rng.standard_normal((n_points, 2))  # (n_points, 2)
    return Dataset(
        name=name, kind="points", x=x.astype(np.float32), y=modes.astype(np.int64), centers=centers, mode_std=float(std)
    )


def load_ring8(n_points=100_000, seed=0):
    return gaussian_mixture("ring8", ring8_centers(), 0.01, n_points, seed)


def load_grid25(n_points=100_000, seed=0):
    return gaussian_mixture("grid25", grid25_centers(), 0.05, n_points, seed)
