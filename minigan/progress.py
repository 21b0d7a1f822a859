"""A progress bar for long loops: tqdm when it is installed, else one line per loop.

Set TQDM_DISABLE=1 (or pass enabled=False) to silence it.

Always tqdm's text bar, in Jupyter too: the widget bar of ``tqdm.auto`` keeps only
its first state ("0%") in a saved notebook, so an executed notebook read as a
document showed frozen bars; the text bar's last line is its final state.
"""

import os
import sys
import time


class _LinePrinter:
    """The fallback: prints the description, the count and the latest figures at the end."""

    def __init__(self, items, desc, enabled):
        self.items, self.desc, self.enabled = items, desc, enabled
        self.postfix, self.start = {}, time.perf_counter()

    def __iter__(self):
        return iter(self.items)

    def set_postfix(self, **values):
        self.postfix = values

    def close(self):
        if self.enabled:
            figures = " ".join(f"{k}={v}" for k, v in self.postfix.items())
            seconds = time.perf_counter() - self.start
            print(f"{self.desc}: {len(self.items)} steps in {seconds:.1f} s  {figures}", file=sys.stderr, flush=True)


def progress_bar(items, desc="", enabled=True):
    """Iterate over ``items`` showing progress; the returned object has set_postfix() and close()."""
    enabled = enabled and os.environ.get("TQDM_DISABLE", "") in ("", "0")
    try:
        from tqdm import tqdm  # the text bar (see above), not tqdm.auto's widget
    except ImportError:
        return _LinePrinter(items, desc, enabled)
    return tqdm(items, desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)
