"""MNIST-style digits: the bundled 10,000, the full 60,000, and Fashion-MNIST.

All three return images as uint8 (N, 1, 28, 28) and labels as int64 (N,).

    mnist          mnist.npz, shipped inside this package (see data/README.md in the repository
                   for where it comes from and how data/build_mnist.py rebuilds it)
    mnist-full     the 60,000 MNIST training images, read from IDX files (downloaded once into the
                   user cache folder, see ``cache_dir``)
    fashion-mnist  the 60,000 Fashion-MNIST training images, read from IDX files
"""

import os
from importlib import resources
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .download import DEFAULT_URL, download_mnist
from .errors import DataError
from .idx import read_idx

BUNDLED_MNIST = "mnist.npz"  # a resource of this package (minigan/data/mnist.npz): every install carries it
CACHE_ENV = "MINIGAN_CACHE_DIR"  # where downloads go, instead of the user cache folder
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist

# Accepted spellings of the two training files; the second is what some unzip tools produce.
TRAIN_IMAGES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")
TRAIN_LABELS = ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte")


def cache_dir():
    """The folder downloads go to: $MINIGAN_CACHE_DIR if set, else the user's cache folder.

    The user's cache folder is $XDG_CACHE_HOME/minigan (default ~/.cache/minigan), or
    %LOCALAPPDATA%\\minigan on Windows: a place every user may write, wherever minigan is installed.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "minigan"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigan"


def load_mnist(data_dir=None):
    """The 10,000 bundled digits, in the class-interleaved order described in data/README.md.

    data_dir: a folder holding mnist.npz instead of the copy inside the package.
    """
    if data_dir is not None:
        path = Path(data_dir) / "mnist.npz"
        if not path.is_file():
            raise DataError(f"--data-dir {data_dir} has no mnist.npz; leave out --data-dir to use the bundled digits")
        return _read_digits(path, path)
    resource = resources.files(__package__) / BUNDLED_MNIST
    if not resource.is_file():
        raise DataError(
            f"the bundled digits {resource} are missing from this installation of minigan; "
            "reinstall it, or pass --data-dir DIR holding mnist.npz"
        )
    with resources.as_file(resource) as path:
        return _read_digits(path, resource)


def _read_digits(path, source):
    with np.load(path, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    return _digits("mnist", images, labels, source)


def load_mnist_full(data_dir=None):
    """The 60,000 MNIST training digits from IDX files in ``data_dir``.

    With no data_dir they are read from ``cache_dir()/mnist-full``, downloaded there
    once (with SHA-256 checks) the first time.
    """
    if data_dir is None:
        data_dir = cache_dir() / "mnist-full"
        download_mnist(data_dir)
    hint = f"copy the MNIST IDX files there (from {DEFAULT_URL}) or leave out --data-dir to download them"
    return _load_idx_pair("mnist-full", Path(data_dir), hint)


def load_fashion_mnist(data_dir=None):
    """The 60,000 Fashion-MNIST training images from IDX files in ``data_dir`` or the Debian package's folder."""
    hint = (
        "install it with  sudo apt-get install dataset-fashion-mnist  or pass --data-dir DIR holding the four IDX files"
    )
    return _load_idx_pair("fashion-mnist", Path(data_dir or FASHION_MNIST_DIR), hint)


def _find(folder, stems):
    """The first of ``stems`` present in ``folder``, plain or .gz; None if none is."""
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load_idx_pair(name, folder, hint):
    """Images and labels of the training split from an IDX folder (only the two train files are needed)."""
    images_path, labels_path = _find(folder, TRAIN_IMAGES), _find(folder, TRAIN_LABELS)
    if images_path is None or labels_path is None:
        missing = TRAIN_IMAGES[0] if images_path is None else TRAIN_LABELS[0]
        raise DataError(f"{name}: {folder} has no {missing} (plain or .gz); {hint}")
    return _digits(name, read_idx(images_path), read_idx(labels_path), folder)


def _digits(name, images, labels, source):
    """Check (N, 28, 28) images against (N,) labels and wrap them as a Dataset of (N, 1, 28, 28)."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{name}: images in {source} are {images.dtype} {images.shape}, expected uint8 (N, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{name}: {len(images)} images but labels of shape {labels.shape} in {source}")
    return Dataset(name=name, kind="images", x=images[:, None], y=labels.astype(np.int64))  # (N, 1, 28, 28)
