"""``Dataset``: the arrays a loader returns, and the two conversions to and from a model.

Three kinds of data, each with a fixed layout:

    kind      x                                  extra fields
    images    uint8   (N, C, H, W), 0..255        y: int64 (N,) labels or None
    points    float32 (N, 2)                      y: int64 (N,) mode index; centers (M, 2); mode_std
    table     float32 (N, d), standardised        columns (d names); mean, std: float64 (d,)

Images stay as uint8 until a model asks for them: ``model_input(low, high)``
scales pixels to the generator's output range (-1..1 for Tanh, 0..1 for
Sigmoid), so the user never rescales pixels by hand, and ``from_model`` turns
generator output back into pixels, or a table back into its original units.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..backend import to_numpy
from .errors import DataError

KINDS = ("images", "points", "table")


@dataclass
class Dataset:
    name: str
    kind: str
    x: np.ndarray
    y: np.ndarray | None = None
    columns: list[str] | None = None  # table only
    mean: np.ndarray | None = None  # table only: float64 (d,), the column means before standardising
    std: np.ndarray | None = None  # table only: float64 (d,), the column stds before standardising
    centers: np.ndarray | None = None  # points only: float64 (M, 2), the mixture's mode centres
    mode_std: float | None = None  # points only: the std of every mode

    def __post_init__(self):
        # Checked once here so every model can trust the layout in the table above.
        if self.kind not in KINDS:
            raise DataError(f"dataset kind {self.kind!r} is not one of {', '.join(KINDS)}")
        want_ndim = 4 if self.kind == "images" else 2
        if self.x.ndim != want_ndim:
            raise DataError(f"{self.kind} must be a {want_ndim}-D array, got shape {self.x.shape}")
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{len(self.y)} labels for {len(self.x)} examples in {self.name}")

    def __len__(self):
        return len(self.x)

    def head(self, n):
        """A new Dataset with the first ``n`` examples (all of them when there are fewer)."""
        return replace(self, x=self.x[:n], y=None if self.y is None else self.y[:n])

    def model_input(self, low, high, dtype=np.float32):
        """``x`` as the model sees it, a new array of ``dtype`` (the dataset is never changed).

        images: (N, C, H, W), pixel p in 0..255 becomes low + (high - low) * p / 255.
        points, table: ``x`` as ``dtype``, unchanged (a table is already standardised).
        """
        if self.kind != "images":
            return self.x.astype(dtype)
        return low + (high - low) * (self.x.astype(dtype) / 255)

    def from_model(self, x, low, high):
        """The inverse of ``model_input`` for samples ``x`` (a NumPy or CuPy array); returns NumPy.

        images: (n, C, H, W) in [low, high] -> uint8 pixels, rounded and clipped to 0..255.
        table:  (n, d) standardised -> float64 in the original units, x * std + mean.
        points: (n, 2) returned unchanged.
        """
        x = to_numpy(x)
        if self.kind == "images":
            # Clip because a generator may overshoot its range slightly (or not at all for a Tanh).
            pixels = np.rint((x - low) / (high - low) * 255)
            return np.clip(pixels, 0, 255).astype(np.uint8)
        if self.kind == "table":
            return x * self.std + self.mean
        return x
