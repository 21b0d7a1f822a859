"""``cupy.random`` of the strict stand-in: NumPy's generators in a device wrapper.

The numbers are NumPy's (not the streams real CuPy draws). A device generator
cannot be copied (real CuPy's holds device state): ``copy.deepcopy`` raises.
"""

import numpy as _np

from .. import _api
from .._core import call as _call

_NAMES = _api.module_names("cupy.random")
_METHODS = _api.class_members("cupy.random.Generator")
_legacy = _np.random.RandomState(0)


class Generator:
    """``cupy.random.Generator`` (NumPy's ``default_rng`` inside)."""

    def __init__(self, seed):
        self._rng = _np.random.default_rng(seed)

    def __getattr__(self, name):
        if name.startswith("_") or name not in _METHODS:
            raise AttributeError(
                f"'cupy.random.Generator' object has no attribute '{name}' (not in CuPy {_api.VERSION})"
            )
        method, sig = getattr(self._rng, name), _METHODS[name]["signature"]
        return lambda *args, **kwargs: _call(f"cupy.random.Generator.{name}", sig, method, args, kwargs, "method")

    def __deepcopy__(self, memo):
        raise TypeError("a CuPy random generator cannot be copied (it holds device state): make a new one from a seed")

    __copy__ = __deepcopy__

    def __reduce__(self):
        raise TypeError("a CuPy random generator cannot be pickled (it holds device state)")


def default_rng(seed=None):
    return Generator(seed)


def __getattr__(name):
    desc = _api.lookup("cupy.random", name)
    if desc["kind"] != "function" or not hasattr(_legacy, name):
        raise AttributeError(f"cupy.random.{name} exists in CuPy but not in the strict stand-in")
    method = getattr(_legacy, name)
    return lambda *args, **kwargs: _call(f"cupy.random.{name}", desc["signature"], method, args, kwargs)
