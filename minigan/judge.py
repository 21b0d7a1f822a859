"""The judge: a small digit classifier that scores generated digits.

A GAN has no loss that says "these digits are good". The usual answer (the
Inception score, the Frechet Inception distance) is to ask a classifier that was
trained on real images what it sees in the generated ones. ImageNet's Inception
network knows nothing about handwritten digits, so minigan ships its own judge,
trained on the bundled MNIST digits with the same hand-written layers as the GANs
(``data/train_judge.py`` in the repository trains it; its weights ship inside the
package as ``minigan/data/judge_mnist.npz``; ``load_judge(path)``, the MINIGAN_JUDGE
variable or ``minigan evaluate --judge FILE`` use another file):

    Conv2D(1, 32, 5, stride 2, pad 2)   ReLU     (N, 1, 28, 28) -> (N, 32, 14, 14)
    Conv2D(32, 64, 5, stride 2, pad 2)  ReLU                    -> (N, 64, 7, 7)
    Flatten                                                     -> (N, 3136)
    Dense(3136, 128)                    ReLU     the FEATURES   -> (N, 128)
    Dropout(0.3)                                 (training only)
    Dense(128, 10)                               the logits     -> (N, 10)

``judge_probs`` gives p(y | x), the softmax of the logits (for the Inception-style
score and the class histogram); ``judge_features`` gives the 128 numbers before the
last layer (for the Frechet distance). Both take images as

    uint8   (N, 28, 28) or (N, 1, 28, 28), grey levels 0..255 (as ``minigan sample`` writes them)
    float   (N, 28, 28) or (N, 1, 28, 28), already scaled to [0, 1]

and run the network in eval mode, a batch at a time, returning NumPy arrays.
Generator output in [-1, 1] (Tanh) must be mapped to [0, 1] first, e.g. with
``Dataset.from_model``; values outside [0, 1] are refused rather than guessed at.
"""

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from .backend import device_of, get_array_module, to_device, to_numpy
from .fileio import atomic_write, read_npz
from .layers import Conv2D, Dense, Dropout, Flatten, ReLU, Sequential

RESOURCE = "judge_mnist.npz"  # a resource of the package minigan.data: every install carries it
JUDGE_ENV = "MINIGAN_JUDGE"  # a judge file to use instead of the shipped one
FORMAT = "minigan-judge-v1"
N_CLASSES = 10


class JudgeError(ValueError):
    """The judge's weight file is missing, unreadable, or does not fit the network."""


def build_judge(seed=0):
    """The judge network with fresh Glorot weights drawn from ``seed`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2D(1, 32, 5, stride=2, padding=2, rng=rng), ReLU(),   # (N, 32, 14, 14)
        Conv2D(32, 64, 5, stride=2, padding=2, rng=rng), ReLU(),  # (N, 64, 7, 7)
        Flatten(),                                                # (N, 3136)
        Dense(64 * 7 * 7, 128, rng=rng), ReLU(),                  # (N, 128) features
        Dropout(0.3, seed=int(rng.integers(2**31))),              # (training only)
        Dense(128, N_CLASSES, rng=rng),                           # (N, 10) logits
    )  # fmt: skip


# ---- the loss it is trained with --------------------------------------------------
def log_softmax(logits):
    """log p_k = z_k - log sum_j exp(z_j), computed after subtracting max_j z_j.

    Subtracting the row maximum changes nothing mathematically (it cancels) but
    makes every exponent <= 0, so exp never overflows; the largest term is exp(0) = 1,
    so the sum is >= 1 and its log never sees 0. Logits of +-1000 are fine.
    """
    xp = get_array_module(logits)
    z = logits - logits.max(axis=1, keepdims=True)  # (N, K), every entry <= 0
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of integer ``labels`` under softmax(``logits``), and its gradient.

    logits: (N, K) float;  labels: (N,) integers in 0..K-1.
        L = -(1/N) sum_n log p[n, labels[n]],   p = softmax(logits)
        dL/dlogits = (p - onehot(labels)) / N          (N, K)
    Returns (loss as a 0-d array, dlogits).
    """
    xp = get_array_module(logits)
    N = logits.shape[0]
    logp = log_softmax(logits)  # (N, K)
    rows = xp.arange(N)
    loss = -logp[rows, labels].mean()
    dlogits = xp.exp(logp)  # p, (N, K)
    dlogits[rows, labels] -= 1
    return xp.asarray(loss), dlogits / N


def softmax(logits):
    """p = exp(log_softmax(logits)): rows that sum to 1, never nan."""
    return get_array_module(logits).exp(log_softmax(logits))


# ---- images in ---------------------------------------------------------------------
def as_judge_input(images):
    """Images in any accepted form (module docstring) -> float32 (N, 1, 28, 28) in [0, 1], NumPy or CuPy."""
    xp = get_array_module(images)
    x = images if hasattr(images, "ndim") else np.asarray(images)
    shape = x.shape
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, 28, 28)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"the judge reads 28x28 grey digits, (N, 28, 28) or (N, 1, 28, 28); got shape {shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255
    if x.dtype.kind != "f":
        raise ValueError(f"the judge reads uint8 pixels (0..255) or floats in [0, 1]; got dtype {x.dtype}")
    if x.size and not (float(x.min()) >= -1e-3 and float(x.max()) <= 1 + 1e-3):
        raise ValueError(
            f"float images must be scaled to [0, 1], these lie in [{float(x.min()):.3g}, {float(x.max()):.3g}] "
            "(Tanh output in [-1, 1]: use (x + 1) / 2)"
        )
    return xp.clip(x, 0, 1).astype(np.float32)


# ---- the trained judge -------------------------------------------------------------
class Judge:
    """A trained judge network plus what its file says about it.

    ``info``: the settings and held-out accuracy stored with the weights (a dict).
    ``references``: the reference metric values stored with the weights (see
    ``evaluate.reference_values``), or {} when the file holds none.
    ``real_stats``: (mean (d,), covariance (d, d)) of the features of the real digits, or None.
    """

    def __init__(self, net, info=None, references=None, real_stats=None):
        self.net = net.eval()
        self.info = info or {}
        self.references = references or {}
        self.real_stats = real_stats

    def to(self, device):
        self.net.to(device)
        return self

    def _device(self):
        return device_of(self.net.layers[0].params["W"])

    def features_and_logits(self, images, batch_size=500):
        """One pass, a batch at a time: features (N, 128) and logits (N, 10), float32 NumPy."""
        x = as_judge_input(images)  # (N, 1, 28, 28) float32 in [0, 1]
        if len(x) == 0:
            raise ValueError("no images to judge (an empty array)")
        *body, last = self.net.layers
        feats, logits = [], []
        for i in range(0, len(x), batch_size):
            h = to_device(x[i : i + batch_size], self._device())
            for layer in body:
                h = layer.forward(h)
            feats.append(to_numpy(h))  # (B, 128)
            logits.append(to_numpy(last.forward(h)))  # (B, 10)
        return np.concatenate(feats), np.concatenate(logits)

    def logits(self, images, batch_size=500):
        """(N, 10) float32 logits."""
        return self.features_and_logits(images, batch_size)[1]

    def probs(self, images, batch_size=500):
        """(N, 10) float64 softmax probabilities p(y | x); each row sums to 1."""
        return softmax(self.logits(images, batch_size).astype(np.float64))

    def features(self, images, batch_size=500):
        """(N, 128) float32 activations of the penultimate layer (after its ReLU)."""
        return self.features_and_logits(images, batch_size)[0]

    def predict(self, images, batch_size=500):
        """(N,) int64 predicted digits."""
        return self.logits(images, batch_size).argmax(axis=1)


def save_judge(path, net, info, references=None, real_stats=None):
    """Write the judge to ``path`` with np.savez_compressed, atomically (temp file, then rename).

    Keys: "format"; "params.<key>" float32 weights ("params.0.W", ...); "info" (a JSON
    string: settings, accuracy, time); "ref.<name>" float64 reference values;
    "real_mu", "real_sigma" float64 feature statistics of the real digits.
    Only numeric and string arrays, so ``np.load(allow_pickle=False)`` reads it.
    """
    arrays = {"format": np.array(FORMAT), "info": np.array(json.dumps(info, sort_keys=True))}
    arrays.update({f"params.{k}": to_numpy(v).astype(np.float32) for k, v in net.params.items()})
    for name, value in (references or {}).items():
        arrays[f"ref.{name}"] = np.asarray(value, dtype=np.float64)
    if real_stats is not None:
        arrays["real_mu"], arrays["real_sigma"] = (np.asarray(a, dtype=np.float64) for a in real_stats)
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)
    return path


def load_judge(path=None):
    """The trained judge from ``path``, on the CPU.

    path: a judge file; default $MINIGAN_JUDGE if set, else the one shipped in the package.
    Raises JudgeError (a ValueError) with one clear sentence when the file is missing,
    not an .npz, holds pickled objects, or its weights do not fit ``build_judge()``.
    """
    if path is None and os.environ.get(JUDGE_ENV):
        path, given = os.environ[JUDGE_ENV], f"{JUDGE_ENV}="
    else:
        given = "--judge "
    if path is not None:
        if not Path(path).is_file():
            raise JudgeError(f"no judge file at {path} (given as {given}{path}); leave it out to use the shipped judge")
        return _read_judge(Path(path))
    resource = resources.files("minigan.data") / RESOURCE
    if not resource.is_file():
        raise JudgeError(f"the judge's weights {resource} are missing from this installation of minigan: "
                         f"reinstall it, or pass --judge FILE (or set {JUDGE_ENV}=FILE)")  # fmt: skip
    with resources.as_file(resource) as real_path:
        return _read_judge(Path(real_path))


def _read_judge(path):
    arrays = read_npz(path, JudgeError)
    if str(arrays.get("format", "")) != FORMAT:
        raise JudgeError(f"{path} is an .npz file but not a minigan judge (no format '{FORMAT}')")
    net = build_judge()
    for key, p in net.params.items():
        saved = arrays.get(f"params.{key}")
        if saved is None or saved.shape != p.shape or saved.dtype.kind != "f":
            found = "missing" if saved is None else f"{saved.dtype}{saved.shape}"
            raise JudgeError(f"{path}: weight {key!r} is {found}, the judge needs float{p.shape}")
        p[...] = saved
    info = json.loads(str(arrays["info"])) if "info" in arrays else {}
    references = {k[4:]: float(v) for k, v in arrays.items() if k.startswith("ref.")}
    real_stats = (arrays["real_mu"], arrays["real_sigma"]) if "real_mu" in arrays else None
    return Judge(net, info, references, real_stats)


_default = None


def default_judge():
    """The shipped judge (or the file $MINIGAN_JUDGE names), loaded once per process."""
    global _default
    if _default is None:
        _default = load_judge()
    return _default


def judge_or_none():
    """``default_judge()``, or None after printing why it cannot be loaded: a notebook
    then skips the cells that need the judge instead of stopping."""
    try:
        return default_judge()
    except JudgeError as e:
        print("The judge is not available here:", e)
        return None


def judge_probs(images, judge=None, batch_size=500):
    """Softmax probabilities p(y | x), float64 (N, 10), from ``judge`` (default: the shipped one)."""
    return (judge or default_judge()).probs(images, batch_size)


def judge_features(images, judge=None, batch_size=500):
    """Penultimate-layer features, float32 (N, 128), from ``judge`` (default: the shipped one)."""
    return (judge or default_judge()).features(images, batch_size)
