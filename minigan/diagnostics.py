"""Reading a training history for the failures the course describes.

``diagnose(history)`` looks at moving averages over the last ``window`` steps and
returns warnings, each with the step range where it held:

    nan          a loss became NaN or infinite (training cannot go on)
    d_wins       the discriminator wins: its loss near 0 while the generator's climbs;
                 G then gets almost no useful gradient
    d_saturated  D(G(z)) stuck near 0 (D rejects every fake: with the minimax loss G's
                 gradient vanishes) or near 1 (D is fooled by everything and teaches nothing)
    collapse     the samples lost their variety: their spread (mean distance between
                 generated samples of one batch) fell well below what it was

The thresholds are rules of thumb, printed with each warning so a learner can
judge them. Probability rules apply to the BCE objectives (minimax,
non-saturating), where D's output is a probability.
"""

from dataclasses import dataclass

import numpy as np

from .backend import to_numpy


@dataclass
class Diagnosis:
    kind: str
    first_step: int
    last_step: int
    message: str

    def __str__(self):
        return f"[{self.kind}] steps {self.first_step}-{self.last_step}: {self.message}"


def moving_mean(y, window):
    """Mean of the last ``window`` values at each point (shorter at the start)."""
    y = to_numpy(y).astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def _runs(mask, steps, min_len):
    """(first, last) step of every run of True in ``mask`` at least ``min_len`` long."""
    out, start = [], None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            if i - start >= min_len:
                out.append((int(steps[start]), int(steps[i - 1])))
            start = None
    return out


def diversity(samples):
    """Mean L2 distance between pairs of samples (n, ...): 0 when all are the same."""
    x = to_numpy(samples).reshape(len(samples), -1).astype(np.float64)
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1))) if n > 1 else 0.0


def diagnose(history, window=100, probabilities=True, spread_by_step=None):
    """Warnings (a list of Diagnosis) from a GAN history (dict of per-step lists).

    probabilities: D's outputs d_real/d_fake are probabilities (BCE objectives).
    spread_by_step: optional list of (step, ``diversity`` of the fixed-noise samples there).
    """
    steps = to_numpy(history.get("step", []))
    found = []
    if len(steps) == 0:
        return found
    window = max(1, min(window, len(steps) // 4 or 1))
    d_loss, g_loss = (to_numpy(history[k]).astype(np.float64) for k in ("d_loss", "g_loss"))  # (steps,) on the host

    bad = ~np.isfinite(d_loss)
    g_started = np.flatnonzero(np.isfinite(g_loss))  # (g_loss is NaN until G's first update)
    if len(g_started):
        bad[g_started[0] :] |= ~np.isfinite(g_loss[g_started[0] :])
    for first, last in _runs(bad, steps, 1)[:1]:
        found.append(Diagnosis("nan", first, last, "a loss became NaN or infinite: lower the learning rate"))
    if probabilities:
        d_avg, g_avg = moving_mean(np.nan_to_num(d_loss), window), moving_mean(np.nan_to_num(g_loss), window)
        g_start = g_avg[min(window, len(g_avg) - 1)]
        wins = (d_avg < 0.1) & (g_avg > max(2 * g_start, 3.0))
        for first, last in _runs(wins, steps, window):
            found.append(Diagnosis("d_wins", first, last,
                                   f"D's loss averaged < 0.1 while G's climbed above {max(2 * g_start, 3.0):.2f}: "
                                   "D is too strong (try dropout in D, a lower D learning rate, label smoothing)"))  # fmt: skip
        fake = moving_mean(history["d_fake"], window)
        for first, last in _runs(fake < 0.02, steps, window):
            found.append(Diagnosis("d_saturated", first, last,
                                   "mean D(G(z)) < 0.02: D rejects every fake, so G's gradient (minimax loss) "
                                   "vanishes; use the non-saturating loss or weaken D"))  # fmt: skip
        for first, last in _runs(fake > 0.98, steps, window):
            found.append(Diagnosis("d_saturated", first, last,
                                   "mean D(G(z)) > 0.98: D believes every fake, so it teaches G nothing"))  # fmt: skip
    if spread_by_step:
        spread = to_numpy([v for _, v in spread_by_step]).astype(np.float64)
        best = np.maximum.accumulate(spread)
        for (step, value), top in zip(spread_by_step, best):
            if value < 0.5 * top:
                found.append(Diagnosis("collapse", int(step), int(step),
                                       f"the samples' spread fell to {value:.3g}, under half its best ({top:.3g}): "
                                       "the generator is collapsing onto a few modes"))  # fmt: skip
    return found
