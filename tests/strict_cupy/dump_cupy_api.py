"""Write cupy_api.json: the names and keyword arguments the real CuPy has.

The strict stand-in (``tests/strict_cupy/cupy``) refuses any name or keyword
argument not listed here. Run once, in a throwaway environment holding the
pinned CuPy (it installs and imports without a GPU):

    python3 -m venv /tmp/cupyenv
    /tmp/cupyenv/bin/pip install cupy-cuda12x==14.2.0
    /tmp/cupyenv/bin/python tests/strict_cupy/dump_cupy_api.py

Each callable is stored as {"params": [names that may be passed by keyword],
"varkw": bool}; a signature comes from ``inspect.signature`` or, for CuPy's
compiled functions and ufuncs, from the first line of the docstring (Cython
writes the signature there).
"""

import inspect
import json
import re
from pathlib import Path

import cupy
import cupy.cuda
import cupy.cuda.runtime
import cupy.lib.stride_tricks
import cupy.linalg
import cupy.random

MODULES = {"cupy": cupy, "cupy.random": cupy.random, "cupy.linalg": cupy.linalg,
           "cupy.lib.stride_tricks": cupy.lib.stride_tricks, "cupy.cuda": cupy.cuda,
           "cupy.cuda.runtime": cupy.cuda.runtime}  # fmt: skip
CLASSES = {"cupy.ndarray": cupy.ndarray, "cupy.random.Generator": cupy.random.Generator,
           "cupy.cuda.Device": cupy.cuda.Device}  # fmt: skip
DOC_SIGNATURE = re.compile(r"^[\w.]*?(\w+)\((.*)\)")


def params_from_text(text):
    """Keyword-passable names and **kwargs from "a, b=1, /, c=None, \\*, d='x'"."""
    names, varkw, positional_only = [], False, []
    for part in re.split(r",\s*(?![^\[\(]*[\]\)])", text.replace("\\*", "*")):
        part = part.strip()
        if not part:
            continue
        if part == "/":
            positional_only, names = names, []
            continue
        if part.startswith("**"):
            varkw = True
            continue
        if part.startswith("*"):
            continue
        name = re.split(r"[=:\s]", part)[0]
        if name not in ("self", "cls"):
            names.append(name)
    return {"params": names, "varkw": varkw, "positional_only": positional_only}


def signature_of(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        first = (obj.__doc__ or "").strip().splitlines()
        m = DOC_SIGNATURE.match(first[0].strip()) if first else None
        if m is None:
            return None
        return params_from_text(m.group(2).split(") ->")[0])
    kinds = inspect.Parameter
    return {
        "params": [p.name for p in sig.parameters.values()
                   if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) and p.name not in ("self", "cls")],
        "varkw": any(p.kind == kinds.VAR_KEYWORD for p in sig.parameters.values()),
        "positional_only": [p.name for p in sig.parameters.values() if p.kind == kinds.POSITIONAL_ONLY],
    }  # fmt: skip


def describe(obj):
    if inspect.ismodule(obj):
        return {"kind": "module"}
    if isinstance(obj, type):
        return {"kind": "class", "signature": signature_of(obj)}
    if callable(obj):
        kind = "ufunc" if type(obj).__name__ == "ufunc" else "function"
        return {"kind": kind, "signature": signature_of(obj)}
    return {"kind": "value"}


def main():
    api = {"version": cupy.__version__, "modules": {}, "classes": {}}
    for name, mod in MODULES.items():
        api["modules"][name] = {n: describe(getattr(mod, n)) for n in sorted(dir(mod)) if not n.startswith("_")}
    for name, cls in CLASSES.items():
        members = {}
        for n in sorted(dir(cls)):
            if n.startswith("_") and n not in ("__getitem__", "__setitem__", "__array_namespace__", "__dlpack__"):
                continue
            attr = inspect.getattr_static(cls, n)
            kind = "property" if type(attr).__name__ in ("getset_descriptor", "property") else "method"
            members[n] = {"kind": kind, "signature": signature_of(getattr(cls, n)) if kind == "method" else None}
        api["classes"][name] = members
    out = Path(__file__).with_name("cupy_api.json")
    out.write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: CuPy {cupy.__version__}, {sum(len(m) for m in api['modules'].values())} names")


if __name__ == "__main__":
    main()
