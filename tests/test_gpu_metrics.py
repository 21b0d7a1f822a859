"""Metrics and diagnostics take device arrays as they take host ones (the GPU
variant runs on the strict CuPy stand-in where no GPU is)."""

import numpy as np
import pytest

from minigan.diagnostics import diagnose, diversity
from minigan.metrics import class_kl, kl_divergence, toy2d_report


def test_kl_divergence_of_device_histograms(xp):
    p, q = xp.asarray(np.array([0.5, 0.5, 0.0])), xp.asarray(np.array([0.25, 0.25, 0.5]))
    assert kl_divergence(p, q) == pytest.approx(np.log(2))
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2))  # plain lists too


def test_class_kl_of_device_probabilities(xp):
    probs = xp.asarray(np.eye(4)[[0, 0, 1, 1]])  # (4, 4): half class 0, half class 1
    reference = xp.asarray(np.full(4, 0.25))
    assert class_kl(probs, reference) == pytest.approx(np.log(2))


def test_diagnose_a_history_of_device_scalars(xp):
    n = 40
    history = {"step": list(range(1, n + 1)), "d_loss": [xp.asarray(0.5)] * n, "g_loss": [xp.asarray(1.0)] * n,
               "d_fake": [xp.asarray(0.01)] * n}  # fmt: skip
    found = diagnose(history, window=5, spread_by_step=[(10, xp.asarray(2.0)), (20, xp.asarray(0.5))])
    assert {d.kind for d in found} == {"d_saturated", "collapse"}


def test_diversity_and_toy_report_of_device_samples(xp):
    x = xp.asarray(np.array([[0.0, 0.0], [3.0, 4.0]]))
    assert diversity(x) == pytest.approx(5.0)
    assert toy2d_report(xp.asarray(np.array([[1.0, 0.0]] * 4)), "ring8")["n_samples"] == 4
