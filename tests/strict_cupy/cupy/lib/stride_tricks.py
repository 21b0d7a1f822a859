"""``cupy.lib.stride_tricks`` of the strict stand-in: views, so no launches."""

import numpy as _np

from .. import _api
from .._core import call as _call


def __getattr__(name):
    desc = _api.lookup("cupy.lib.stride_tricks", name)
    target = getattr(_np.lib.stride_tricks, name)
    sig = desc["signature"]

    def function(*args, **kwargs):
        if name == "sliding_window_view" and kwargs.get("writeable"):
            raise NotImplementedError("sliding_window_view(writeable=True) is not implemented in CuPy")
        return _call(f"cupy.lib.stride_tricks.{name}", sig, target, args, kwargs)

    return function
