"""A strict stand-in for CuPy, for the test suite: NumPy inside, CuPy's rules outside.

Put ``tests/strict_cupy`` first on ``sys.path`` (tests/conftest.py does, when no
real GPU is there) and ``import cupy`` gives this package. It refuses what real
CuPy refuses (see _core.py), knows only the names and keyword arguments of the
pinned real CuPy (cupy_api.json), and counts device-to-host waits, host-to-device
copies and kernel launches per call site (see _ledger.py). It is a test tool: it
says nothing about numbers on a GPU or about speed. ``STRICT_STANDIN`` is True
here and absent from real CuPy.
"""

import numpy as _np

from . import _api
from ._core import call as _call
from ._core import ndarray, ufunc
from ._core import unwrap as _unwrap
from ._core import wrap as _wrap
from ._ledger import count as _count

STRICT_STANDIN = True
__version__ = _api.VERSION
_MODULE_NAMES = _api.module_names("cupy")
_cache = {}


def is_available():
    """True: the stand-in always has its (pretend) device."""
    return True


def get_array_module(*args):
    return __import__("cupy") if any(isinstance(a, ndarray) for a in args) else _np


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """A host copy of ``a`` (one device-to-host wait when ``a`` is on the device)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def _to_device(fn_name, a, kwargs):
    """asarray/array/ascontiguousarray: host data is copied to the device (counted)."""
    _api.check_keywords(f"cupy.{fn_name}", _MODULE_NAMES[fn_name]["signature"], kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k != "blocking"}
    if isinstance(a, ndarray):
        return _call(f"cupy.{fn_name}", None, getattr(_np, fn_name), (a,), kwargs)
    if isinstance(a, (list, tuple)) and any(isinstance(v, ndarray) for v in a):  # device pieces: joined there
        out = stack(a)
        return out if kwargs.get("dtype") is None else out.astype(kwargs["dtype"])
    _count("h2d")
    return _wrap(_np.array(getattr(_np, fn_name)(a, **kwargs), copy=True))


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    kw = {"dtype": dtype, "order": order} | ({"copy": copy} if copy is not None else {})
    return _to_device("asarray", a, kw)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    return _to_device("array", obj, {"dtype": dtype, "copy": copy, "order": order, "ndmin": ndmin})


def ascontiguousarray(a, dtype=None):
    return _to_device("ascontiguousarray", a, {"dtype": dtype})


def empty(shape, dtype=float, order="C"):
    return _wrap(_np.empty(shape, dtype=dtype, order=order))  # allocation only: no launch


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    a = _unwrap(prototype, "function cupy.empty_like", [])
    return _wrap(_np.empty_like(a, dtype=dtype, order=order, shape=shape))  # allocation only: no launch


def fuse(*args, **kwargs):
    """``cupy.fuse``: the decorated function runs as ONE kernel launch (its inner
    operations are not counted one by one)."""
    from ._ledger import paused

    def decorate(fn):
        def fused(*a, **kw):
            with paused():
                out = fn(*a, **kw)
            _count("launches")
            return out

        fused.__name__ = getattr(fn, "__name__", "fused")
        return fused

    return decorate(args[0]) if len(args) == 1 and callable(args[0]) and not kwargs else decorate


class _MemoryPool:
    """The stand-in's memory pool: it holds nothing (NumPy allocates)."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()


def get_default_memory_pool():
    return _pool


class _NoCudaSource:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}: the strict CuPy stand-in cannot run CUDA source; "
            "keep a NumPy path for it behind minigan/backend.py"
        )


class ElementwiseKernel(_NoCudaSource):
    pass


class ReductionKernel(_NoCudaSource):
    pass


class RawKernel(_NoCudaSource):
    pass


def __getattr__(name):
    """Any other name real CuPy has, served by NumPy's function of the same name
    (keywords checked against CuPy's signature, host arrays refused)."""
    if name in _cache:
        return _cache[name]
    desc = _api.lookup("cupy", name)  # AttributeError for a name CuPy lacks
    if desc["kind"] == "module":
        import importlib

        return importlib.import_module(f"cupy.{name}")
    if not hasattr(_np, name):
        raise AttributeError(f"cupy.{name} exists in CuPy but not in the strict stand-in: add it to tests/strict_cupy")
    target = getattr(_np, name)
    if desc["kind"] == "ufunc":
        _cache[name] = ufunc(name, desc["signature"])
    elif desc["kind"] == "function":
        sig = desc["signature"]

        def function(*args, **kwargs):
            return _call(f"cupy.{name}", sig, target, args, kwargs)

        function.__name__ = name
        _cache[name] = function
    else:  # dtypes, constants, numpy classes CuPy re-exports (float32, pi, newaxis, finfo...)
        _cache[name] = target
    return _cache[name]


def stack(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return __getattr__("stack")(tup, axis=axis, out=out, dtype=dtype, casting=casting)
