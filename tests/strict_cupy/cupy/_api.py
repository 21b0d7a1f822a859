"""Real CuPy's names and keyword arguments (tests/strict_cupy/cupy_api.json, dumped
from the pinned cupy-cuda12x by tests/strict_cupy/dump_cupy_api.py)."""

import json
from pathlib import Path

API = json.loads((Path(__file__).resolve().parents[1] / "cupy_api.json").read_text())
VERSION = API["version"]


def module_names(module):
    """{name: description} of a real CuPy module, e.g. "cupy.random"."""
    return API["modules"][module]


def class_members(cls):
    """{name: description} of a real CuPy class, e.g. "cupy.ndarray"."""
    return API["classes"][cls]


def lookup(module, name):
    """The description of ``module.name``; AttributeError (as real CuPy) when it has none."""
    names = API["modules"][module]
    if name not in names:
        raise AttributeError(f"module '{module}' has no attribute '{name}' (not in CuPy {VERSION})")
    return names[name]


def check_keywords(qualname, signature, kwargs):
    """Refuse a keyword argument that real CuPy's ``qualname`` does not take."""
    if not kwargs or signature is None or signature["varkw"]:
        return
    bad = sorted(set(kwargs) - set(signature["params"]))
    if bad:
        raise TypeError(
            f"{qualname}() got unexpected keyword argument(s) {', '.join(bad)}: CuPy {VERSION} takes "
            f"{', '.join(signature['params']) or 'none'}"
        )
