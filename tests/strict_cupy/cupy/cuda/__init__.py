"""``cupy.cuda`` of the strict stand-in: a pretend device 0 that says what it is."""

from . import runtime  # noqa: F401

NAME = "strict CuPy stand-in (NumPy on the CPU; not a GPU)"


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    compute_capability = "00"

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Stream:
    def synchronize(self):
        pass


def get_current_stream(device_id=-1):
    return _Stream()


def is_available():
    return True
