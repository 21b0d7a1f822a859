"""``load_dataset``: one name in, one Dataset out.

mnist           10,000 real MNIST digits shipped inside the package (the default)
mnist-full      the 60,000 MNIST training digits (IDX files; downloaded once into the user cache folder,
                ~/.cache/minigan/mnist-full, or $MINIGAN_CACHE_DIR/mnist-full)
fashion-mnist   the 60,000 Fashion-MNIST training images (IDX files)
ring8, grid25   2-D Gaussian mixtures for watching mode collapse
folder:PATH     your own PNG / JPEG images
csv:PATH        your own numeric table (labels from one of its columns: label_column)
"""

import numpy as np

from .errors import DataError
from .folder import load_folder
from .images import resize_images, to_channels
from .mnist import load_fashion_mnist, load_mnist, load_mnist_full
from .table import load_csv
from .toy import load_grid25, load_ring8

NAMES = ("mnist", "mnist-full", "fashion-mnist", "ring8", "grid25", "folder:PATH", "csv:PATH")


def _is_count(n):
    return isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0


def load_dataset(name, data_dir=None, subset=None, seed=0, image_size=28, channels=1, n_points=100_000,
                 label_column=None):  # fmt: skip
    """Load dataset ``name`` as a Dataset (see dataset.py for the layout of each kind).

    data_dir:    a folder holding the files (mnist.npz, or the IDX files) instead of the default place.
    subset:      keep only the first ``subset`` examples (all of them when there are fewer).
    seed:        seeds the sampling of ring8 and grid25.
    image_size:  images come out image_size x image_size (MNIST-style digits are resized when not 28).
    channels:    1 (grey) or 3 (RGB) for images.
    n_points:    how many points ring8 and grid25 draw.
    label_column: csv: only, the column (name or 0-based position) that holds the labels.
    """
    if subset is not None and not _is_count(subset):
        raise DataError(f"subset must be a positive whole number of examples, got {subset!r}")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if not _is_count(image_size):
        raise DataError(f"image_size must be a positive number of pixels, got {image_size!r}")
    if not _is_count(n_points):
        raise DataError(f"n_points must be a positive whole number, got {n_points!r}")

    if label_column is not None and not name.startswith("csv:"):
        raise DataError(f"--label-column is for csv: tables; dataset {name!r} brings its own labels (or none)")
    if name == "mnist":
        ds = load_mnist(data_dir)
    elif name == "mnist-full":
        ds = load_mnist_full(data_dir)
    elif name == "fashion-mnist":
        ds = load_fashion_mnist(data_dir)
    elif name == "ring8":
        ds = load_ring8(n_points, seed)
    elif name == "grid25":
        ds = load_grid25(n_points, seed)
    elif name.startswith("folder:") and name != "folder:":
        ds = load_folder(name.removeprefix("folder:"), image_size, channels)
    elif name.startswith("csv:") and name != "csv:":
        ds = load_csv(name.removeprefix("csv:"), label_column)
    else:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(NAMES)}")

    if subset is not None:
        ds = ds.head(subset)
    if ds.kind == "images":  # after the subset, so only the kept images are resized
        ds.x = to_channels(resize_images(ds.x, image_size), channels)
    return ds
