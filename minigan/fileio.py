"""Files in and out, safely: atomic writes and pickle-free .npz reads.

    with atomic_write("run/checkpoint.npz") as f:
        np.savez(f, **arrays)

The data goes to a temporary file in the same folder; only when the block ends
without error is it flushed to disk and renamed over ``path`` (a rename within
one filesystem is atomic). If the block fails, or the run is interrupted, the
temporary file is removed and ``path`` keeps its old contents. The file gets the
permissions of any new file (0666 less the user's umask), not mkstemp's private
0600, so others on a shared course server can read a run as usual.

A process killed outright (SIGKILL, power loss) cannot remove its temporary
file; ``remove_temp_files(folder)`` clears such leftovers (the trainer calls it
when a run starts or resumes).

    arrays = read_npz(path, CheckpointError)

reads every array of an .npz file with ``allow_pickle=False``, so no code can
hide in it, and turns every way the file can be wrong into one clear error.
"""

import os
import re
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np

TEMP_SUFFIX = ".tmp"
# ".<name>.<8 random characters of mkstemp>.tmp": only files atomic_write made match
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def new_file_mode():
    """0666 less the process's umask: the mode open() would give a new file."""
    return 0o666 & ~current_umask()


def current_umask():
    """The process's umask, read without changing it where the system tells it (Linux's
    /proc/self/status); elsewhere set and put straight back, as ``os.umask`` only allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # for that instant, files made by other threads are private, never open to all
    os.umask(mask)
    return mask


def remove_temp_files(folder):
    """Remove the temporary files atomic_write left in ``folder`` when killed mid-write; returns their names."""
    if not os.path.isdir(folder):
        return []
    stale = sorted(name for name in os.listdir(folder) if _TEMP_NAME.match(name))
    for name in stale:
        os.remove(os.path.join(folder, name))
    return stale


@contextmanager
def atomic_write(path, mode="wb", newline=None):
    """A file object to write ``path`` atomically ("wb" or "w"); creates parent folders."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX)
    try:
        os.chmod(tmp, new_file_mode())  # mkstemp makes it 0600
        with os.fdopen(fd, mode, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_npz(path, error=ValueError):
    """All arrays of the .npz file ``path`` as a dict, read without pickle.

    Raises ``error`` (a ValueError subclass of the caller's choosing) with one sentence
    when the file is missing, not an .npz (truncated or something else), or holds
    object arrays (pickled Python objects).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"no file at {path}")
    if not zipfile.is_zipfile(path):  # (np.load would try to unpickle anything else)
        raise error(f"{path} is not a readable .npz file (truncated or not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise error(f"{path} holds object arrays (pickled Python objects); refusing to load it") from e
        raise error(f"{path} is not a readable .npz file: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise error(f"{path} is not a readable .npz file (truncated or damaged): {e}") from e
