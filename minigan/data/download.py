"""Download the four MNIST IDX archives once, checking each file's SHA-256 before keeping it.

A file is written to a temporary name in the destination folder and renamed
into place only after its digest matches, so an interrupted or tampered
download never leaves a file that looks complete.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..fileio import new_file_mode
from .errors import DataError

# The mirror torchvision uses; any folder (http://, https:// or file://) holding the four files works.
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# SHA-256 of the original gzip archives, as published with torchvision and TensorFlow Datasets.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB pieces so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_verified(url, dest, sha256, timeout=60):
    """Download ``url`` to ``dest`` (a Path) only if its SHA-256 equals ``sha256``; else DataError."""
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise DataError(f"cannot write into {dest.parent} ({e}): set MINIGAN_CACHE_DIR to a writable folder "
                        "or pass --data-dir DIR holding the files") from e  # fmt: skip
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"{dest.name} from {url} has SHA-256 {digest.hexdigest()}, expected {sha256}: "
                "the download is damaged or the mirror changed; nothing was kept, try again or another --data-dir"
            )
        os.chmod(tmp, new_file_mode())  # mkstemp makes it 0600; a download is for every user
        os.replace(tmp, dest)  # atomic on one filesystem: dest is either absent or complete
    except (urllib.error.URLError, OSError) as e:
        raise DataError(
            f"could not download {url} ({e}); without internet, copy the four MNIST IDX files into "
            f"{dest.parent} or pass --data-dir DIR holding them"
        ) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def download_mnist(dest_dir, base_url=DEFAULT_URL, sha256=MNIST_SHA256):
    """Make sure ``dest_dir`` holds every file named in ``sha256`` (a dict name -> hex digest).

    Files already there with the right digest are kept; the others are fetched
    from ``base_url`` + name. Returns the list of file paths, in the dict's order.
    """
    dest_dir = Path(dest_dir)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest_dir} ({e}): set MINIGAN_CACHE_DIR to a writable folder "
                        "or pass --data-dir DIR holding the files") from e  # fmt: skip
    url = base_url if base_url.endswith("/") else base_url + "/"
    paths = []
    for name, digest in sha256.items():
        path = dest_dir / name
        if not (path.exists() and sha256_of(path) == digest):
            fetch_verified(url + name, path, digest)
        paths.append(path)
    return paths
