"""metrics: closed forms for the Frechet distance, hand-made probability tables, constructed 2-D samples."""

import math

import numpy as np
import pytest

from minigan.data.toy import grid25_centers, ring8_centers
from minigan.metrics import (
    class_histogram,
    class_kl,
    classes_covered,
    feature_stats,
    frechet_distance,
    inception_score,
    kl_divergence,
    toy2d_report,
)


# ---- Frechet distance ----------------------------------------------------------
def test_frechet_1d_closed_form():
    """For 1-D Gaussians FD = (mu1 - mu2)^2 + (s1 - s2)^2, with the samples' own mean and std."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (500, 1)), rng.normal(-0.5, 0.5, (300, 1))
    mu1, mu2 = a.mean(), b.mean()
    s1, s2 = a.std(ddof=1), b.std(ddof=1)  # unbiased, as np.cov
    assert frechet_distance(a, b) == pytest.approx((mu1 - mu2) ** 2 + (s1 - s2) ** 2, rel=1e-10)


def exact_gaussian_sample(n, mu, sd, rng):
    """n points whose sample mean is exactly mu and sample covariance exactly diag(sd^2).

    QR of a centred random matrix gives orthonormal columns that are also orthogonal
    to the all-ones vector (zero mean); scaled by sqrt(n - 1) their np.cov is I.
    """
    z = rng.normal(size=(n, len(mu)))
    q, _ = np.linalg.qr(z - z.mean(axis=0))  # (n, d)
    return mu + q * np.sqrt(n - 1) * sd


def test_frechet_diagonal_closed_form():
    """Diagonal covariances: FD = sum over dimensions of (mu1 - mu2)^2 + (s1 - s2)^2."""
    rng = np.random.default_rng(1)
    mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
    sd_a, sd_b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    a, b = exact_gaussian_sample(300, mu_a, sd_a, rng), exact_gaussian_sample(200, mu_b, sd_b, rng)
    assert np.allclose(np.cov(a, rowvar=False), np.diag(sd_a**2))
    expected = ((mu_a - mu_b) ** 2 + (sd_a - sd_b) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_frechet_zero_symmetric_nonnegative():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(200, 8)), rng.normal(0.3, 1.5, (150, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 0
    few = rng.normal(size=(5, 8))  # fewer samples than dimensions: singular covariance, still fine
    assert frechet_distance(few, few) >= 0.0 and frechet_distance(few, b) >= 0.0


def test_frechet_against_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))  # correlated features
    b = rng.normal(0.2, 1.0, (300, 6)) @ rng.normal(size=(6, 6))
    mu_a, s_a = feature_stats(a)
    mu_b, s_b = feature_stats(b)
    covmean = linalg.sqrtm(s_a @ s_b).real  # the reference FID computation
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_on_every_backend(xp):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(100, 3)), rng.normal(1.0, 1.0, (100, 3))
    got = frechet_distance(xp.asarray(a), xp.asarray(b))
    assert isinstance(got, float) and got == pytest.approx(frechet_distance(a, b), rel=1e-9)


def test_frechet_refuses_mismatched_widths():
    with pytest.raises(ValueError, match="widths"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


# ---- class probabilities ---------------------------------------------------------
def one_hot_rows(labels, k=10):
    return np.eye(k)[labels]


def test_inception_score_extremes():
    confident_uniform = one_hot_rows(np.tile(np.arange(10), 20))  # (200, 10), each split holds every class twice
    mean, std = inception_score(confident_uniform)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)
    same = np.tile(np.array([0.5, 0.3, 0.2] + [0.0] * 7), (100, 1))  # identical rows: p(y|x) = p(y)
    assert inception_score(same) == pytest.approx((1.0, 0.0))
    one_class = one_hot_rows(np.zeros(100, dtype=int))  # confident but all the same digit
    assert inception_score(one_class)[0] == pytest.approx(1.0)


def test_inception_score_two_classes():
    """Half the rows one-hot on class 0, half on class 1, in every split: exp(log 2) = 2."""
    probs = one_hot_rows(np.tile([0, 1], 50))
    assert inception_score(probs, splits=5)[0] == pytest.approx(2.0)


def test_histogram_coverage_and_kl():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 19 + [3] * 1)  # N = 100: fair share 10, a quarter is 2.5
    probs = one_hot_rows(labels) * 0.9 + 0.01  # argmax is still the label
    assert class_histogram(probs).tolist() == [50, 30, 19, 1, 0, 0, 0, 0, 0, 0]
    assert classes_covered(probs) == 3  # class 3 (1 sample) is below 2.5
    assert classes_covered(probs, min_share=0.05) == 4
    p = np.array([0.5, 0.3, 0.19, 0.01])
    assert class_kl(probs) == pytest.approx((p * np.log(p / 0.1)).sum())
    assert class_kl(one_hot_rows(np.arange(100) % 10)) == pytest.approx(0.0, abs=1e-12)
    assert class_kl(one_hot_rows(np.zeros(40, dtype=int))) == pytest.approx(math.log(10))


def test_class_kl_reference_fractions():
    probs = one_hot_rows(np.array([0, 0, 0, 1]), k=2)
    ref = np.array([0.5, 0.5])
    assert class_kl(probs, ref) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert np.isfinite(class_kl(probs, [1.0, 0.0]))  # a reference of 0: large but finite (epsilon)
    with pytest.raises(ValueError, match="summing to 1"):
        class_kl(probs, [0.2, 0.2])


def test_kl_divergence_ignores_empty_bins():
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))


# ---- the 2-D mixtures ------------------------------------------------------------
def test_toy_three_of_eight_modes():
    centers = ring8_centers()
    samples = centers[np.arange(2500) % 3]  # exactly on modes 0, 1, 2
    r = toy2d_report(samples, "ring8")
    assert r["modes_covered"] == 3 and r["high_quality_fraction"] == 1.0
    assert r["reverse_kl"] == pytest.approx(math.log(8 / 3), abs=1e-3)  # ~uniform over 3 of 8
    assert r["n_modes"] == 8 and sum(r["mode_counts"]) == 2500


def test_toy_far_away_is_not_high_quality():
    samples = np.full((2500, 2), 10.0)
    r = toy2d_report(samples, "grid25")
    assert r["high_quality_fraction"] == 0.0 and r["modes_covered"] == 0 and math.isnan(r["reverse_kl"])


def test_toy_uniform_over_all_modes():
    rng = np.random.default_rng(0)
    centers = grid25_centers()
    samples = centers[np.arange(2500) % 25] + rng.normal(0, 0.05, (2500, 2)) * 0.5  # within 3 std (0.15)...
    samples[:100] += 1.0  # ...except 100 points put halfway between modes
    r = toy2d_report(samples, "grid25")
    assert r["modes_covered"] == 25
    assert r["high_quality_fraction"] == pytest.approx(0.96, abs=0.005)
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-3)


def test_toy_threshold_is_three_stds():
    """ring8's std is 0.01: a point 0.029 from a centre is high quality, one 0.031 away is not."""
    c = ring8_centers()[2]
    r = toy2d_report(np.array([c + [0.029, 0.0], c + [0.0, 0.031]]), "ring8")
    assert r["high_quality_fraction"] == 0.5 and r["mode_counts"][2] == 1


def test_toy_accepts_a_dataset_object():
    from minigan.data import load_dataset

    ds = load_dataset("ring8", n_points=2500)
    r = toy2d_report(ds.x, ds)  # the real data: every mode, ~all high quality, KL ~0
    assert r["modes_covered"] == 8 and r["high_quality_fraction"] > 0.99 and r["reverse_kl"] < 0.01
    with pytest.raises(ValueError, match="ring8"):
        toy2d_report(ds.x, "ring9")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy2d_report(np.zeros((5, 3)), "ring8")
