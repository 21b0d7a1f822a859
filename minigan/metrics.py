"""Numbers that say how good a GAN's samples are. Pure functions of arrays.

For images, a classifier (the judge, see ``judge.py``) turns every sample into
class probabilities p(y | x) (N, K) and a feature vector (N, d):

    frechet_distance(feats_a, feats_b)   distance between two Gaussians fitted to the features
                                         (the FID recipe with our judge instead of Inception); 0 is best
    inception_score(probs)               exp(E_x KL(p(y|x) || p(y))): confident AND varied; K is best
    class_histogram / classes_covered / class_kl
                                         which digits the samples are, and how far that is from the data
    variety_by_label(feats, labels, real_feats, real_labels)
                                         how varied the samples of each label are, against real
                                         examples of that label: 1 as varied as the data, ~0 one image

For the 2-D mixtures ring8 and grid25 no classifier is needed: ``toy2d_report``
counts modes directly, as in the PacGAN paper.

Everything computes in float64, works on NumPy or CuPy arrays, and returns Python
numbers (or NumPy arrays for histograms).
"""

import math

import numpy as np

from .backend import get_array_module, to_numpy


def _float64_2d(x, name):
    xp = get_array_module(x)
    x = xp.asarray(x, dtype=xp.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, d), got shape {x.shape}")
    return x


# ---- Frechet distance ----------------------------------------------------------
def feature_stats(feats):
    """(mu (d,), sigma (d, d)): the mean and the unbiased covariance (np.cov, divisor N - 1) of (N, d) features."""
    x = _float64_2d(feats, "features")
    if x.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, got {x.shape[0]}")
    xp = get_array_module(x)
    return x.mean(axis=0), xp.atleast_2d(xp.cov(x, rowvar=False))  # (d,), (d, d)


def _sqrt_psd(S):
    """S^(1/2) = V sqrt(L) V^T for a symmetric PSD S = V L V^T, tiny negative L clipped to 0."""
    xp = get_array_module(S)
    L, V = xp.linalg.eigh(S)  # L (d,) ascending, V (d, d) orthonormal columns
    return (V * xp.sqrt(xp.maximum(L, 0))) @ V.T  # V diag(sqrt L) V^T


def frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b):
    """The Frechet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b); see ``frechet_distance``."""
    xp = get_array_module(sigma_a)
    mu_a, mu_b, sigma_a, sigma_b = (xp.asarray(a, dtype=xp.float64) for a in (mu_a, mu_b, sigma_a, sigma_b))
    d = mu_a.shape[0]
    if mu_b.shape != (d,) or sigma_a.shape != (d, d) or sigma_b.shape != (d, d):
        raise ValueError(f"statistics of different sizes: mu {mu_a.shape} vs {mu_b.shape}, "
                         f"sigma {sigma_a.shape} vs {sigma_b.shape}")  # fmt: skip
    root_a = _sqrt_psd(sigma_a)  # (d, d), symmetric PSD
    M = root_a @ sigma_b @ root_a  # (d, d), symmetric PSD, same eigenvalues as sigma_a @ sigma_b
    M = (M + M.T) / 2  # remove the rounding asymmetry before eigvalsh
    tr_sqrt = xp.sqrt(xp.maximum(xp.linalg.eigvalsh(M), 0)).sum()  # Tr((sigma_a sigma_b)^(1/2))
    diff = mu_a - mu_b
    fd = diff @ diff + xp.trace(sigma_a) + xp.trace(sigma_b) - 2 * tr_sqrt
    return max(float(fd), 0.0)


def frechet_distance(feats_a, feats_b):
    """Frechet distance between Gaussians fitted to two feature sets (N_a, d) and (N_b, d).

        FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    mu and S are each set's mean and unbiased covariance (as np.cov, and as the
    reference FID code). It is the 2-Wasserstein distance between the two Gaussians,
    squared: 0 for identical statistics, symmetric in a and b, never negative.

    The matrix square root, without scipy. S_a S_b is a product of two symmetric
    PSD matrices but is not itself symmetric, so a general square root (Schur-based
    ``scipy.linalg.sqrtm``, as the reference code uses) can return small imaginary
    parts from rounding that have to be thrown away, and breaks down when S_a S_b is
    singular (then the reference code adds eps * I). We only need its TRACE, and we
    get it from symmetric matrices only:

        S_a^(1/2) = V sqrt(L) V^T        from eigh(S_a) = (L, V)
        M = S_a^(1/2) S_b S_a^(1/2)      symmetric PSD

    For any X, Y, XY and YX have the same eigenvalues. With X = S_a^(1/2) and
    Y = S_a^(1/2) S_b, XY = S_a S_b and YX = M. So the eigenvalues of S_a S_b are
    those of M, real and >= 0, and

        Tr((S_a S_b)^(1/2)) = sum_i sqrt(eig_i(M)).

    ``eigh``/``eigvalsh`` on symmetric matrices are backward stable and return real
    eigenvalues, and no matrix is inverted, so a singular covariance (fewer samples
    than dimensions, or a feature that is always 0) needs no special case.
    Clipping: rounding can leave eigenvalues of S_a or M at -1e-17 or so where the
    exact value is 0; their square root would be nan, so they are clipped to 0,
    which is what they are up to rounding. The final sum can likewise round to a
    tiny negative number for identical sets; it is clipped to 0.0.

    feats_a, feats_b: NumPy or CuPy arrays (N, d) with N >= 2; computed in float64.
    Returns a Python float. FD shrinks as N grows (the covariance estimates get
    less noisy), so compare values computed from the same number of samples.
    """
    mu_a, sigma_a = feature_stats(feats_a)
    mu_b, sigma_b = feature_stats(feats_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"features of different widths: {mu_a.shape[0]} and {mu_b.shape[0]}")
    return frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b)


# ---- class probabilities ---------------------------------------------------------
def _probs(probs):
    p = _float64_2d(probs, "probs")
    if p.shape[0] == 0:
        raise ValueError("probs holds no rows")
    return p


def _xlogy(x, y):
    """x * log(y) elementwise, with 0 where x == 0 (the convention 0 log 0 = 0)."""
    xp = get_array_module(x)
    return xp.where(x > 0, x * xp.log(xp.where(x > 0, y, 1.0)), 0.0)


def mean_pairwise_distance(feats):
    """The mean of ||f_i - f_j|| over all pairs i != j of the rows of feats (n, d), n >= 2.

    From the Gram matrix: ||f_i - f_j||^2 = |f_i|^2 + |f_j|^2 - 2 <f_i, f_j>  (one (n, n) product).
    An unbiased estimate of the expected distance between two samples, so it does not
    grow or shrink with n (unlike the FD's covariances).
    """
    f = _float64_2d(feats, "feats")
    xp = get_array_module(f)
    n = f.shape[0]
    sq = (f * f).sum(axis=1)  # (n,)
    d2 = xp.maximum(sq[:, None] + sq[None, :] - 2 * (f @ f.T), 0)  # (n, n), rounding can dip below 0
    d2[xp.arange(n), xp.arange(n)] = 0  # i == j: exactly 0, not rounding noise
    return float(xp.sqrt(d2).sum() / (n * (n - 1)))


def variety_by_label(feats, labels, real_feats, real_labels, num_classes=10):
    """(num_classes,) float64: for each label c, the mean pairwise distance of the samples drawn
    for c, divided by the same for real examples of class c (features from the same network).

    1.0: the samples of c are as varied as the real c's; near 0: one image drawn again and
    again (collapse within a class, which the FD and the label accuracy can both miss).
    nan for a label with fewer than two samples or real examples.
    """
    feats, real_feats = to_numpy(feats), to_numpy(real_feats)
    labels, real_labels = np.asarray(to_numpy(labels)), np.asarray(to_numpy(real_labels))
    out = np.full(num_classes, np.nan)
    for c in range(num_classes):
        mine, real = feats[labels == c], real_feats[real_labels == c]
        if len(mine) >= 2 and len(real) >= 2:
            out[c] = mean_pairwise_distance(mine) / mean_pairwise_distance(real)
    return out


def inception_score(probs, splits=10):
    """exp(E_x KL(p(y|x) || p(y))) over ``splits`` parts: returns (mean, std) as floats.

    probs: (N, K) class probabilities of N samples, N >= splits. As the reference
    code, the rows are cut into ``splits`` consecutive parts of N // splits rows
    (the remainder is left out); in each part p(y) is the mean row, and

        score = exp( (1/n) sum_x sum_y p(y|x) (log p(y|x) - log p(y)) )

    is high when every sample is confidently one class (p(y|x) peaked) and the
    classes are varied (p(y) flat). From 1 (all rows equal) to K (confident and
    uniform over the K classes). mean and std (divisor n) are over the parts.
    """
    p = _probs(probs)
    n = p.shape[0] // splits
    if n < 1:
        raise ValueError(f"inception_score: {p.shape[0]} samples cannot fill {splits} splits")
    scores = []
    for k in range(splits):
        part = p[k * n : (k + 1) * n]  # (n, K)
        py = part.mean(axis=0, keepdims=True)  # (1, K), p(y) within this part
        kl = (_xlogy(part, part) - _xlogy(part, py)).sum(axis=1)  # (n,), KL(p(y|x) || p(y))
        scores.append(math.exp(float(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probs):
    """int64 (K,): how many samples the classifier puts in each class (argmax of each row)."""
    p = _probs(probs)
    xp = get_array_module(p)
    return to_numpy(xp.bincount(p.argmax(axis=1), minlength=p.shape[1])).astype(np.int64)


def classes_covered(probs, min_share=0.25):
    """How many classes get at least ``min_share`` of their fair share N / K of the samples.

    With N = 1000, K = 10 and min_share = 0.25, a class counts from 25 samples on:
    a generator that makes only a handful of 7s has not really learned 7s.
    """
    counts = class_histogram(probs)
    return int((counts >= min_share * counts.sum() / len(counts)).sum())


def kl_divergence(p, q, eps=1e-10):
    """KL(p || q) = sum_k p_k log(p_k / q_k) in nats, for two histograms that each sum to 1.

    Terms with p_k = 0 are 0 (0 log 0 = 0), so p may have empty bins without any
    epsilon. q_k = 0 where p_k > 0 makes KL infinite; such q_k are replaced by ``eps``
    so it stays finite (and large) instead. Other q_k are used as they are.
    """
    p, q = to_numpy(p).astype(np.float64), to_numpy(q).astype(np.float64)  # (K,) each, on the host
    return float((_xlogy(p, p) - _xlogy(p, np.where(q > 0, q, eps))).sum())


def class_kl(probs, reference_fractions=None):
    """KL(samples || reference) between the classifier's class histogram and the real one.

    p_k = (samples predicted as class k) / N; q_k = ``reference_fractions`` (K,),
    default uniform 1/K. The direction is the "reverse" KL of the mode-collapse
    literature: it is 0 when the samples' classes are spread like the data's and
    log K (2.30 for 10 classes) when every sample is one class. Classes the
    samples never hit contribute 0 (0 log 0 = 0), so no epsilon is needed for
    them; a reference fraction of 0 is replaced by an epsilon of 1e-10 (see ``kl_divergence``).
    """
    counts = class_histogram(probs)
    K = len(counts)
    q = np.full(K, 1.0 / K) if reference_fractions is None else to_numpy(reference_fractions).astype(np.float64)
    if q.shape != (K,) or not np.isclose(q.sum(), 1.0) or (q < 0).any():
        raise ValueError(f"reference_fractions must be {K} non-negative numbers summing to 1, got {q}")
    return kl_divergence(counts / counts.sum(), q)


# ---- the 2-D mixtures ------------------------------------------------------------
PROTOCOL_SAMPLES = 2500  # how many generated points the PacGAN protocol scores
HQ_STDS = 3.0  # a point is high quality within this many mode standard deviations of its centre


def _mixture(dataset):
    """(centers (M, 2), mode_std) of "ring8", "grid25" or a points Dataset."""
    if isinstance(dataset, str):
        from .data import load_dataset

        if dataset not in ("ring8", "grid25"):
            raise ValueError(f"toy2d_report knows 'ring8' and 'grid25', got {dataset!r}")
        dataset = load_dataset(dataset, n_points=1)  # only its centres and std are used
    centers, std = getattr(dataset, "centers", None), getattr(dataset, "mode_std", None)
    if centers is None or std is None:
        raise ValueError("toy2d_report needs a dataset with .centers and .mode_std (ring8 or grid25)")
    return to_numpy(centers).astype(np.float64), float(std)


def toy2d_report(samples, dataset):
    """Mode coverage of generated 2-D points, following the PacGAN paper's protocol.

    samples: (N, 2) generated points (the protocol uses N = 2,500; see PROTOCOL_SAMPLES).
    dataset: "ring8", "grid25", or a Dataset with ``.centers`` (M, 2) and ``.mode_std``.

    1. Each sample is assigned to its nearest mode centre (Euclidean distance).
    2. It is HIGH QUALITY when it lies within 3 standard deviations of that centre,
       ||x - c|| < 3 * mode_std (0.03 for ring8, 0.15 for grid25).
    3. A mode is COVERED when at least one high-quality sample is assigned to it.
    4. The REVERSE KL is KL(p || u) = sum_k p_k log(p_k / u_k), where p_k is the share
       of the high-quality samples assigned to mode k and u_k = 1/M is the true
       (uniform) mixture weight. Empty modes contribute 0 (0 log 0 = 0), so no epsilon
       is needed; it is 0 for a perfectly balanced generator and log M (2.08 for ring8,
       3.22 for grid25) when every high-quality sample sits on one mode. With no
       high-quality sample at all it is undefined and reported as nan.
    Steps 1-3 are what the PacGAN authors' released evaluation code does (distance in
    units of the mode std, threshold 3, a mode counts with one sample).

    Returns a dict: modes_covered (int), high_quality_fraction (float in [0, 1]),
    reverse_kl (float), n_modes, n_samples, mode_counts (list of M ints).
    """
    centers, std = _mixture(dataset)
    x = np.asarray(to_numpy(samples), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"toy2d_report needs 2-D points (N, 2), got shape {x.shape}")
    d2 = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)  # (N, M) squared distances
    nearest = d2.argmin(axis=1)  # (N,)
    high_quality = np.sqrt(d2.min(axis=1)) < HQ_STDS * std  # (N,)
    M = len(centers)
    counts = np.bincount(nearest[high_quality], minlength=M)  # (M,)
    n_hq = int(counts.sum())
    reverse_kl = kl_divergence(counts / n_hq, np.full(M, 1.0 / M)) if n_hq else float("nan")
    return {
        "modes_covered": int((counts > 0).sum()),
        "high_quality_fraction": n_hq / len(x),
        "reverse_kl": reverse_kl,
        "n_modes": M,
        "n_samples": len(x),
        "mode_counts": counts.tolist(),
    }
