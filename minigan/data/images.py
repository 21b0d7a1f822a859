"""Bring images to the size and channel count a model asks for.

Images are uint8 (N, C, H, W) throughout. Resizing uses Pillow (installed with
matplotlib); it is imported only when an image actually has to change size.
"""

import numpy as np

from .errors import DataError


def pillow():
    """The ``PIL.Image`` module, or a DataError saying how to install it."""
    try:
        from PIL import Image
    except ImportError as e:
        raise DataError("reading or resizing images needs Pillow: pip install pillow") from e
    return Image


def square(img, size):
    """A PIL image centre-cropped to a square, then resized to size x size.

    Cropping first keeps the aspect ratio (a face is not squashed); Lanczos
    filtering keeps fine detail when shrinking large photos to a few pixels.
    """
    Image = pillow()
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img if side == size else img.resize((size, size), Image.LANCZOS)


def resize_images(x, size):
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), each channel of each image through ``square``."""
    if x.shape[2] == x.shape[3] == size:
        return x
    Image = pillow()
    out = np.empty((x.shape[0], x.shape[1], size, size), dtype=np.uint8)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[i, c] = np.asarray(square(Image.fromarray(x[i, c]), size))
    return out


def to_channels(x, channels):
    """uint8 (N, C, H, W) -> uint8 (N, channels, H, W): grey repeated to RGB, or RGB to grey."""
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1 and channels == 3:
        return np.repeat(x, 3, axis=1)
    if x.shape[1] == 3 and channels == 1:
        # The ITU-R 601 luma weights, the ones Pillow's convert("L") uses.
        grey = x.astype(np.float64).transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114])  # (N, H, W)
        return np.rint(grey)[:, None].astype(np.uint8)
    raise DataError(f"cannot turn {x.shape[1]}-channel images into {channels} channels: use channels 1 or 3")
