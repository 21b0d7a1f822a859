"""The IDX file format of MNIST and Fashion-MNIST: read and write.

An IDX file is a tiny header followed by the raw array, big-endian:

    bytes 0-1   0x00 0x00
    byte  2     type code (0x08 = uint8, the only one MNIST uses; see IDX_TYPES)
    byte  3     number of dimensions, ndim
    then        ndim sizes, each a 4-byte big-endian unsigned integer
    then        prod(sizes) values, row-major (C order)

So a file of ndim dimensions holding n values of itemsize bytes is exactly
4 + 4 * ndim + n * itemsize bytes long; ``read_idx`` checks that to the byte.
Files ending in ``.gz`` are gzip-compressed IDX files and are read transparently.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

# type code -> big-endian dtype, as listed in the original format description.
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path):
    """All bytes of ``path``, decompressed when its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist: check the path or the --data-dir you passed") from None
    except (OSError, EOFError, zlib.error) as e:  # a damaged or truncated .gz
        raise DataError(f"cannot decompress {path} ({e}): the download is damaged, fetch the file again") from e


def read_idx(path):
    """Read an IDX file (plain or .gz) into a NumPy array of its own shape and native dtype.

    Returns e.g. uint8 (60000, 28, 28) for train-images, uint8 (60000,) for train-labels.
    Raises DataError for a wrong magic number or a size that does not match the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{path} is not an IDX file: it starts with {raw[:4].hex() or 'nothing'}, expected 0000 then a "
            f"type code ({', '.join(f'{c:02x}' for c in IDX_TYPES)}) and the number of dimensions; "
            "fetch the file again"
        )
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "too long"
        size_note = " after decompression" if path.suffix == ".gz" else ""
        raise DataError(
            f"{path} is {problem}: a {dims} array needs {expected} bytes, the file has {len(raw)}{size_note}; "
            "fetch the file again"
        )
    values = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims)), offset=header)
    # astype to the native byte order also copies, so the caller gets a writable array.
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` (any shape; a dtype from IDX_TYPES) as an IDX file, gzip-compressed if path ends in .gz."""
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise DataError(f"IDX cannot store dtype {array.dtype}: use uint8, int8, int16, int32, float32 or float64")
    header = bytes([0, 0, codes[dtype], array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_TYPES[codes[dtype]]).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
