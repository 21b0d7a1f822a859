"""Numeric tables from CSV files, standardised for a GAN, and samples written back as CSV.

The first row names the columns; every other cell must be a finite number.
Each column is standardised, x' = (x - mean) / std with the population std,
so every column the model sees has mean 0 and std 1. A constant column has
std 0; it is kept with std = 1 (it becomes all zeros, and ``from_model`` turns
it back into the constant) rather than refused, because a table often carries
such a column and a GAN learns it trivially.
"""

import csv
import math
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .dataset import Dataset
from .errors import DataError


def read_csv(path):
    """(column names, float64 (N, d) values) of a CSV file with a header row."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist: pass csv:PATH with the path of a .csv file")
    with open(path, newline="") as f:
        rows = [(line, row) for line, row in enumerate(csv.reader(f), start=1) if row]  # skip blank lines
    if not rows:
        raise DataError(f"CSV file {path} is empty: it needs a header row of column names and rows of numbers")
    columns = [name.strip() for name in rows[0][1]]
    if len(rows) == 1:
        raise DataError(f"CSV file {path} has a header but no data rows: add rows of numbers")
    values = np.empty((len(rows) - 1, len(columns)), dtype=np.float64)
    for i, (line, row) in enumerate(rows[1:]):
        if len(row) != len(columns):
            raise DataError(f"{path} line {line} has {len(row)} cells but the header names {len(columns)} columns")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                values[i, j] = math.nan  # reported just below with the same message as nan and inf
            if not math.isfinite(values[i, j]):
                raise DataError(
                    f"{path} line {line}, column {columns[j]!r}: {cell!r} is not a finite number; "
                    "every cell must be numeric (encode categories as numbers, fill or drop missing values)"
                )
    return columns, values


def column_index(columns, label_column, path):
    """The position of ``label_column`` in ``columns``: a column's name, or else a
    0-based position ("0" is the first column, "-1" the last)."""
    name = str(label_column).strip()
    if name in columns:
        return columns.index(name)
    try:
        j = int(name)
    except ValueError:
        j = None
    if j is None or not -len(columns) <= j < len(columns):
        raise DataError(f"--label-column {label_column}: {path} has no such column; its columns are "
                        f"{', '.join(columns)} (a name, or a position 0..{len(columns) - 1})")  # fmt: skip
    return j % len(columns)


def split_labels(columns, values, label_column, path):
    """(columns, values, labels): the label column taken out of the table, as int64 (N,).
    Labels must be whole numbers >= 0 (class 0, 1, ...)."""
    j = column_index(columns, label_column, path)
    labels = values[:, j]
    bad = np.flatnonzero((labels != np.round(labels)) | (labels < 0))
    if bad.size:
        raise DataError(f"{path}, label column {columns[j]!r}: labels must be whole numbers 0, 1, 2, ...; "
                        f"data row {bad[0] + 1} has {labels[bad[0]]:g}")  # fmt: skip
    if len(columns) == 1:
        raise DataError(f"{path}: the label column {columns[j]!r} is its only column; nothing is left to learn")
    return columns[:j] + columns[j + 1 :], np.delete(values, j, axis=1), labels.astype(np.int64)


def load_csv(path, label_column=None):
    """A table Dataset: x float32 (N, d) standardised, with columns, mean and std (float64 (d,)).

    label_column: a column's name or 0-based position; that column becomes the labels
    y, int64 (N,), and is left out of x. None: no labels (y is None).
    """
    columns, values = read_csv(path)
    y = None
    if label_column is not None:
        columns, values, y = split_labels(columns, values, label_column, path)
    mean = values.mean(axis=0)  # (d,)
    std = values.std(axis=0)  # (d,) population std, so the standardised columns have std exactly 1
    std[std == 0] = 1.0  # constant columns: see the module docstring
    x = ((values - mean) / std).astype(np.float32)
    return Dataset(name=f"csv:{path}", kind="table", x=x, y=y, columns=columns, mean=mean, std=std)


def write_csv(path, values, columns):
    """Write ``values`` (n, d) under a header of the d ``columns`` names, atomically.

    The rows go to a temporary file in the same folder, renamed over ``path``
    only when complete, so a crash never leaves half a file. Numbers are written
    with Python's shortest exact repr, so reading the file back gives the same floats.
    """
    path = Path(path)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(columns):
        raise DataError(f"write_csv needs an (n, {len(columns)}) array for {len(columns)} columns, got {values.shape}")
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([repr(float(v)) for v in row] for row in values)
    return path
