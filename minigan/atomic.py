"""Atomic file writes: nobody ever sees half a file.

    with atomic_write("run/checkpoint.npz") as f:
        np.savez(f, **arrays)

The data goes to a temporary file in the same folder; only when the block ends
without error is it flushed to disk and renamed over ``path`` (a rename within
one filesystem is atomic). If the block fails, or the run is interrupted, the
temporary file is removed and ``path`` keeps its old contents.
"""

import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_write(path, mode="wb", newline=None):
    """A file object to write ``path`` atomically ("wb" or "w"); creates parent folders."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
