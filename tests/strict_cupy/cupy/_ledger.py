"""What the strict stand-in counts, per call site: device-to-host waits, host-to-device
copies and kernel launches.

A call site is the first frame outside the stand-in and outside NumPy, written
"path:line (function)" with the path relative to the repository. Counting walks the
stack only while a ledger is open (``with recording() as ledger:``), so tests that
do not count pay nothing for it.

These are counts of what the code asks the device for, never times: one launch is
one call that makes new device data (an elementwise op, a reduction, a matmul, a
copy, a fill); a view (reshape, transpose, basic slicing) launches nothing. Real
CuPy may launch more than one kernel for some calls (einsum, var), so the launch
count is a lower bound.
"""

import contextlib
import sys
from collections import Counter
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
_NUMPY = str(Path(sys.modules["numpy"].__file__).resolve().parent)
_REPO = str(Path(__file__).resolve().parents[3])
_open = []  # the ledgers now recording


class Ledger:
    """Counters keyed by call site: ``syncs`` (device-to-host waits: float, int, bool,
    .item, .get, .tolist, asnumpy, printing), ``h2d`` (host-to-device copies) and
    ``launches`` (kernel launches)."""

    def __init__(self):
        self.syncs, self.h2d, self.launches = Counter(), Counter(), Counter()

    def total(self, kind):
        return sum(getattr(self, kind).values())

    def by_file(self, kind):
        """Counts summed per file (the part of each call site before the colon)."""
        out = Counter()
        for site, n in getattr(self, kind).items():
            out[site.split(":")[0]] += n
        return out

    def report(self, kind, top=20):
        lines = [f"{n:6d}  {site}" for site, n in getattr(self, kind).most_common(top)]
        return f"{kind}: {self.total(kind)}\n" + "\n".join(lines)


@contextlib.contextmanager
def recording():
    """Count everything the device is asked for inside the ``with`` block."""
    ledger = Ledger()
    _open.append(ledger)
    try:
        yield ledger
    finally:
        _open.remove(ledger)


_paused = [0]  # > 0 inside a fused function: its inner ops are one launch, counted by fuse


@contextlib.contextmanager
def paused():
    _paused[0] += 1
    try:
        yield
    finally:
        _paused[0] -= 1


def _site():
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith((_HERE, _NUMPY, "<")):
            if path.startswith(_REPO):
                path = path[len(_REPO) + 1 :]
            return f"{path}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "?"


def count(kind, n=1):
    """Add ``n`` events of ``kind`` ("syncs", "h2d" or "launches") at the caller's call site."""
    if not _open or (_paused[0] and kind == "launches"):
        return
    site = _site()
    for ledger in _open:
        getattr(ledger, kind)[site] += n
