"""``cupy.linalg`` of the strict stand-in (NumPy's functions, CuPy's names)."""

import numpy as _np

from .. import _api
from .._core import call as _call


def __getattr__(name):
    desc = _api.lookup("cupy.linalg", name)
    target = getattr(_np.linalg, name)
    return lambda *args, **kwargs: _call(f"cupy.linalg.{name}", desc["signature"], target, args, kwargs)
