"""Progress for long loops: tqdm when it is installed, else a plain line now and then.

Without tqdm (a first ``pip install``, a bare server), the loop still reports
itself: one line after the first step (so the pace shows at once), then one
about every ``every_s`` seconds, and one when the loop ends:

    epoch 1/5: 1/156 steps, 0.9 s, about 2 min 20 s left  d_loss=1.386 g_loss=0.693
    epoch 1/5: 12/156 steps, 10.3 s, about 2 min 04 s left  d_loss=1.101 g_loss=0.912
    epoch 1/5: 156 steps in 2 min 13 s  d_loss=0.912 g_loss=1.204

Set TQDM_DISABLE=1 (or pass enabled=False) to silence either.

Always tqdm's text bar, in Jupyter too: the widget bar of ``tqdm.auto`` keeps only
its first state ("0%") in a saved notebook, so an executed notebook read as a
document showed frozen bars; the text bar's last line is its final state.
"""

import os
import sys
import time


def plural(n, word):
    """ "1 epoch", "2 epochs", "10,000 samples"."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def format_seconds(s):
    """12.3 -> "12.3 s", 135 -> "2 min 15 s": short durations precise, long ones readable."""
    if s < 60:
        return f"{s:.1f} s"
    minutes, seconds = divmod(round(s), 60)
    return f"{minutes} min {seconds:02d} s"


class LinePrinter:
    """The fallback: the description, the count, the time and the latest figures, every ``every_s`` seconds."""

    def __init__(self, items, desc, enabled, every_s=10.0, clock=time.perf_counter, stream=None):
        self.items, self.desc, self.enabled, self.every_s = items, desc, enabled, every_s
        self.clock, self.stream = clock, stream
        self.postfix, self.done = {}, 0
        self.start = self.last = clock()

    def __iter__(self):
        for item in self.items:
            yield item
            self.done += 1
            now = self.clock()
            if self.done < len(self.items) and (self.done == 1 or now - self.last >= self.every_s):
                self.last = now
                elapsed = now - self.start
                left = elapsed / self.done * (len(self.items) - self.done)
                self._print(f"{self.done}/{len(self.items)} steps, {format_seconds(elapsed)}, "
                            f"about {format_seconds(left)} left")  # fmt: skip

    def set_postfix(self, **values):
        self.postfix = values

    def close(self):
        n = len(self.items)
        self._print(f"{plural(n, 'step')} in {format_seconds(self.clock() - self.start)}")

    def _print(self, text):
        if self.enabled:
            figures = " ".join(f"{k}={v}" for k, v in self.postfix.items())
            print(f"{self.desc}: {text}  {figures}".rstrip(), file=self.stream or sys.stderr, flush=True)


def progress_bar(items, desc="", enabled=True):
    """Iterate over ``items`` showing progress; the returned object has set_postfix() and close()."""
    enabled = enabled and os.environ.get("TQDM_DISABLE", "") in ("", "0")
    try:
        from tqdm import tqdm  # the text bar (see above), not tqdm.auto's widget
    except ImportError:
        return LinePrinter(items, desc, enabled)
    return tqdm(items, desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)
