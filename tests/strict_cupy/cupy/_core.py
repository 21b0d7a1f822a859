"""The stand-in's device array: a NumPy array in a wrapper that refuses what CuPy refuses.

- no implicit conversion to NumPy: ``__array__`` raises (so ``np.asarray(x)`` does);
- no NumPy array handed to a device function or operator (NumPy's ``__array_ufunc__``
  and ``__array_function__`` protocols hand ``np_array + x`` and ``np.mean(x)`` here);
- no host array assigned into a device array (``x[...] = np_array``);
- no name or keyword argument that real CuPy lacks (see _api.py).

Every call that makes new device data counts one kernel launch; float/int/bool,
.item, .get, .tolist and printing count one device-to-host wait; asarray of host
data counts one host-to-device copy (see _ledger.py). It checks host/device
discipline only: the numbers are NumPy's and no time means anything.
"""

import weakref

import numpy as np

from . import _api
from ._ledger import count

HOST_TYPES = (np.ndarray,)
REFUSED_HOST = (
    "Unsupported type <class 'numpy.ndarray'>: a NumPy (host) array was handed to a CuPy (device) {what}; "
    "move it with cupy.asarray first"
)
NO_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."
)


_wrappers = weakref.WeakValueDictionary()  # id(NumPy array) -> the device array around it


def wrap(a):
    """A device array around NumPy array (or NumPy scalar) ``a``; 0-d for scalars, as CuPy's reductions."""
    x = ndarray.__new__(ndarray)
    x._a = np.asarray(a) if isinstance(a, np.generic) else a
    _wrappers[id(x._a)] = x  # (x keeps x._a alive, so the id stays x._a's while the entry lasts)
    return x


def base_of(a):
    """The device array that owns view ``a``'s memory: the same object each time, as in
    CuPy (``v.base is buffer``), or None for an array that owns its memory."""
    if a.base is None:
        return None
    owner = _wrappers.get(id(a.base))
    return wrap(a.base) if owner is None else owner


def unwrap(value, what, inputs):
    """NumPy's view of ``value`` (device arrays unwrapped, in lists and tuples too);
    a NumPy array is refused. ``inputs`` collects the unwrapped device arrays."""
    if isinstance(value, ndarray):
        inputs.append(value)
        return value._a
    if isinstance(value, HOST_TYPES):
        raise TypeError(REFUSED_HOST.format(what=what))
    if isinstance(value, (list, tuple)) and any(isinstance(v, (ndarray, np.ndarray, list, tuple)) for v in value):
        return type(value)(unwrap(v, what, inputs) for v in value)
    return value


def rewrap(result, inputs, launch=True):
    """Wrap what NumPy returned; an input handed back keeps its wrapper (``asarray(x) is x``).
    One launch when the result is new device data (not a view of an input)."""
    if isinstance(result, (np.ndarray, np.generic)):
        for x in inputs:
            if result is x._a:
                return x
        fresh = isinstance(result, np.generic) or not any(np.may_share_memory(result, x._a) for x in inputs)
        if launch and fresh:
            count("launches")
        return wrap(result)
    if isinstance(result, (tuple, list)) and any(isinstance(r, (np.ndarray, np.generic)) for r in result):
        if launch:
            count("launches")
        items = [rewrap(r, inputs, launch=False) for r in result]
        return type(result)(*items) if hasattr(result, "_fields") else type(result)(items)
    return result


def call(qualname, signature, fn, args, kwargs, what="function", owner=None):
    """Run NumPy's ``fn`` as CuPy's ``qualname``: keywords checked, host arrays refused.
    ``owner``: the device array whose method ``fn`` is."""
    _api.check_keywords(qualname, signature, kwargs)
    inputs = [] if owner is None else [owner]
    args = unwrap(args, f"{what} {qualname}", inputs)
    kwargs = {k: unwrap(v, f"{what} {qualname}", inputs) for k, v in kwargs.items()}
    result = fn(*args, **kwargs)
    if "out" in kwargs and kwargs["out"] is not None:
        count("launches")
        return rewrap(result, inputs, launch=False)
    return rewrap(result, inputs)


class ufunc:
    """A CuPy ufunc (NumPy's inside): call, and the methods CuPy has (at, reduce, outer...)."""

    def __init__(self, name, signature):
        self.name, self._np, self._sig = name, getattr(np, name), signature
        self.nin, self.nout = self._np.nin, self._np.nout

    def __call__(self, *args, **kwargs):
        return call(f"cupy.{self.name}", self._sig, self._np, args, kwargs, "ufunc")

    def at(self, a, indices, b=None):
        inputs = []
        what = f"ufunc cupy.{self.name}.at"
        target = unwrap(a, what, inputs)
        args = (indices,) if b is None else (indices, b)
        self._np.at(target, *unwrap(args, what, inputs))
        count("launches")

    def reduce(self, *args, **kwargs):
        return call(f"cupy.{self.name}.reduce", None, self._np.reduce, args, kwargs, "ufunc")

    def accumulate(self, *args, **kwargs):
        return call(f"cupy.{self.name}.accumulate", None, self._np.accumulate, args, kwargs, "ufunc")

    def outer(self, *args, **kwargs):
        return call(f"cupy.{self.name}.outer", None, self._np.outer, args, kwargs, "ufunc")

    def __repr__(self):
        return f"<ufunc 'cupy_{self.name}' (strict stand-in)>"


def binary(name, a, b):
    """An operator: CuPy's ufunc ``name`` on (a, b); a NumPy operand is refused."""
    if isinstance(b, HOST_TYPES) or isinstance(a, HOST_TYPES):
        raise TypeError(REFUSED_HOST.format(what=f"operator ({name})"))
    return call(f"cupy.{name}", None, getattr(np, name), (a, b), {}, "operator")


def inplace(name, a, b):
    if isinstance(b, HOST_TYPES):
        raise TypeError(REFUSED_HOST.format(what=f"in-place operator ({name})"))
    getattr(np, name)(a._a, b._a if isinstance(b, ndarray) else b, out=a._a)
    count("launches")
    return a


def unary(name, a):
    return call(f"cupy.{name}", None, getattr(np, name), (a,), {}, "operator")


def index(key):
    """NumPy's view of an index: device arrays unwrapped; a NumPy index array is
    copied to the device (CuPy accepts it, at the price of one copy)."""
    if isinstance(key, tuple):
        return tuple(index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, HOST_TYPES):
        count("h2d")
    return key


def sync(x):
    """One device-to-host wait; NumPy's array of ``x``."""
    count("syncs")
    return x._a


class MemoryPointer:
    """What CuPy's ``ndarray.data`` (a ``cupy.cuda.MemoryPointer``) offers here: ``ptr``,
    the address of the array's first element (on the stand-in, in host memory)."""

    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]


class ndarray:
    """The stand-in's device array (``cupy.ndarray``); holds a NumPy array in ``_a``."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = np.empty(shape, dtype=dtype, order=order)  # uninitialized, as CuPy's

    # ---- what never crosses implicitly --------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(NO_IMPLICIT)

    def __array_ufunc__(self, uf, method, *inputs, **kwargs):
        if method != "__call__" or uf.__name__ not in _api.module_names("cupy"):
            return NotImplemented  # NumPy then raises TypeError, as with real CuPy
        return call(f"cupy.{uf.__name__}", _api.lookup("cupy", uf.__name__)["signature"], uf, inputs, kwargs,
                    "ufunc (via NumPy's)")  # fmt: skip

    def __array_function__(self, func, types, args, kwargs):
        module = {"numpy": "cupy", "numpy.linalg": "cupy.linalg"}.get(func.__module__)
        if module is None or func.__name__ not in _api.module_names(module):
            return NotImplemented
        sig = _api.lookup(module, func.__name__).get("signature")
        return call(f"{module}.{func.__name__}", sig, func, args, kwargs, "function (via NumPy's)")

    def __setitem__(self, key, value):
        if isinstance(value, HOST_TYPES):
            raise TypeError(REFUSED_HOST.format(what="array by assignment (x[...] = numpy_array)"))
        self._a[index(key)] = value._a if isinstance(value, ndarray) else value
        count("launches")

    def __getitem__(self, key):
        out = self._a[index(key)]
        if isinstance(out, np.generic):  # one element: a 0-d view in CuPy, no launch
            return wrap(out)
        return rewrap(out, [self])

    # ---- waits ---------------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        a = sync(self)
        if out is not None:
            out[...] = a
            return out
        return np.array(a, order=order)

    def item(self):
        return sync(self).item()

    def tolist(self):
        return sync(self).tolist()

    def __float__(self):
        return float(sync(self))

    def __int__(self):
        return int(sync(self))

    def __index__(self):
        return sync(self).__index__()

    def __bool__(self):
        return bool(sync(self))

    def __complex__(self):
        return complex(sync(self))

    def __repr__(self):
        return repr(sync(self))

    def __str__(self):
        return str(sync(self))

    def __format__(self, spec):
        return format(sync(self), spec)

    def set(self, arr, stream=None):
        count("h2d")
        self._a[...] = arr

    # ---- plain Python protocol -------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield self[i]

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (wrap_from_host, (self.get(),))

    __hash__ = None

    # ---- attributes ------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: wrap(self._a.T))
    base = property(lambda self: base_of(self._a))
    data = property(lambda self: MemoryPointer(self._a))

    def __getattr__(self, name):
        members = _api.class_members("cupy.ndarray")
        if name not in members or name.startswith("_"):
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}' (not in CuPy {_api.VERSION})")
        if members[name]["kind"] == "property":
            return rewrap(getattr(self._a, name), [self], launch=False)
        method, sig = getattr(self._a, name), members[name]["signature"]

        def bound(*args, **kwargs):
            result = call(f"cupy.ndarray.{name}", sig, method, args, kwargs, "method", owner=self)
            if result is None:  # an in-place method (fill, sort...)
                count("launches")
            return result

        return bound

    # ---- operators: CuPy's ufuncs ------------------------------------------------------
    def __add__(self, o):
        return binary("add", self, o)

    def __radd__(self, o):
        return binary("add", o, self)

    def __sub__(self, o):
        return binary("subtract", self, o)

    def __rsub__(self, o):
        return binary("subtract", o, self)

    def __mul__(self, o):
        return binary("multiply", self, o)

    def __rmul__(self, o):
        return binary("multiply", o, self)

    def __truediv__(self, o):
        return binary("true_divide", self, o)

    def __rtruediv__(self, o):
        return binary("true_divide", o, self)

    def __floordiv__(self, o):
        return binary("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return binary("floor_divide", o, self)

    def __mod__(self, o):
        return binary("remainder", self, o)

    def __pow__(self, o):
        return binary("power", self, o)

    def __rpow__(self, o):
        return binary("power", o, self)

    def __matmul__(self, o):
        return binary("matmul", self, o)

    def __rmatmul__(self, o):
        return binary("matmul", o, self)

    def __and__(self, o):
        return binary("bitwise_and", self, o)

    def __rand__(self, o):
        return binary("bitwise_and", o, self)

    def __or__(self, o):
        return binary("bitwise_or", self, o)

    def __ror__(self, o):
        return binary("bitwise_or", o, self)

    def __xor__(self, o):
        return binary("bitwise_xor", self, o)

    def __rshift__(self, o):
        return binary("right_shift", self, o)

    def __lshift__(self, o):
        return binary("left_shift", self, o)

    def __lt__(self, o):
        return binary("less", self, o)

    def __le__(self, o):
        return binary("less_equal", self, o)

    def __gt__(self, o):
        return binary("greater", self, o)

    def __ge__(self, o):
        return binary("greater_equal", self, o)

    def __eq__(self, o):
        return binary("equal", self, o)

    def __ne__(self, o):
        return binary("not_equal", self, o)

    def __neg__(self):
        return unary("negative", self)

    def __pos__(self):
        return unary("positive", self)

    def __abs__(self):
        return unary("absolute", self)

    def __invert__(self):
        return unary("invert", self)

    def __iadd__(self, o):
        return inplace("add", self, o)

    def __isub__(self, o):
        return inplace("subtract", self, o)

    def __imul__(self, o):
        return inplace("multiply", self, o)

    def __itruediv__(self, o):
        return inplace("true_divide", self, o)

    def __ipow__(self, o):
        return inplace("power", self, o)

    def __iand__(self, o):
        return inplace("bitwise_and", self, o)

    def __ior__(self, o):
        return inplace("bitwise_or", self, o)


def wrap_from_host(a):
    """A device copy of host array ``a`` (one host-to-device copy)."""
    count("h2d")
    return wrap(np.array(a))
