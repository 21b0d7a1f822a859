"""The user's own pictures: every PNG or JPEG file in one folder.

Files are read in sorted name order (so a run is repeatable), converted to
grey (channels=1) or RGB (channels=3), centre-cropped to a square and resized
to image_size x image_size.

Labels: a folder whose images lie directly in it has none. A folder holding NO
images itself but sub-folders of images is labelled by them, as torchvision's
ImageFolder does: the sub-folders in sorted name order are the classes 0, 1, ...
(e.g. cats/ -> 0, dogs/ -> 1). Deeper folders are not searched.
"""

from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import DataError
from .images import pillow, square

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _images_in(folder):
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_folder(folder, image_size=28, channels=1):
    """uint8 (N, channels, image_size, image_size) from the images in ``folder``; with
    int64 labels (N,) when the images lie in one sub-folder per class (see above)."""
    Image = pillow()
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist: pass folder:PATH with a folder of PNG or JPEG files")
    files, y = _images_in(folder), None
    if not files:  # one sub-folder per class?
        classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and _images_in(d)]
        per_class = [_images_in(d) for d in classes]
        files = [f for group in per_class for f in group]
        y = np.repeat(np.arange(len(classes)), [len(group) for group in per_class]).astype(np.int64)  # (N,)
    if not files:
        raise DataError(f"image folder {folder} holds no .png, .jpg or .jpeg files (nor sub-folders of them, one "
                        "per class): put your images there")  # fmt: skip
    mode = "L" if channels == 1 else "RGB"
    x = np.empty((len(files), channels, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                pixels = np.asarray(square(img.convert(mode), image_size))  # (S, S) or (S, S, 3)
        except OSError as e:  # Pillow's error for a file it cannot decode
            raise DataError(f"cannot read image {path} ({e}): remove or replace that file") from e
        x[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, S, S)
    return Dataset(name=f"folder:{folder}", kind="images", x=x, y=y)
