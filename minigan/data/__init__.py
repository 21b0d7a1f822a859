"""Datasets for minigan: MNIST-style images, 2-D mode-collapse mixtures, your own images or tables.

    from minigan.data import load_dataset
    ds = load_dataset("mnist", subset=1000)       # ds.x: uint8 (1000, 1, 28, 28), ds.y: int64 (1000,)
    x = ds.model_input(-1, 1)                      # float32 pixels in [-1, 1] for a Tanh generator
    pixels = ds.from_model(fake, -1, 1)            # generator output back to uint8 pixels

Loaders return NumPy arrays on the CPU; move a batch to the GPU with minigan.backend.to_device.
"""

from .dataset import Dataset
from .download import DEFAULT_URL, MNIST_SHA256, download_mnist
from .errors import DataError
from .idx import read_idx, write_idx
from .load import load_dataset
from .table import write_csv

__all__ = [
    "DEFAULT_URL",
    "MNIST_SHA256",
    "DataError",
    "Dataset",
    "download_mnist",
    "load_dataset",
    "read_idx",
    "write_csv",
    "write_idx",
]
