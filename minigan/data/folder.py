"""The user's own pictures: every PNG or JPEG file in one folder.

Files are read in sorted name order (so a run is repeatable), converted to
grey (channels=1) or RGB (channels=3), centre-cropped to a square and resized
to image_size x image_size. Sub-folders are not searched. There are no labels.
"""

from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import DataError
from .images import pillow, square

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_folder(folder, image_size=28, channels=1):
    """uint8 (N, channels, image_size, image_size) from the images in ``folder``."""
    Image = pillow()
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist: pass folder:PATH with a folder of PNG or JPEG files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"image folder {folder} holds no .png, .jpg or .jpeg files: put your images there")
    mode = "L" if channels == 1 else "RGB"
    x = np.empty((len(files), channels, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                pixels = np.asarray(square(img.convert(mode), image_size))  # (S, S) or (S, S, 3)
        except OSError as e:  # Pillow's error for a file it cannot decode
            raise DataError(f"cannot read image {path} ({e}): remove or replace that file") from e
        x[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, S, S)
    return Dataset(name=f"folder:{folder}", kind="images", x=x)
