"""Score generated digits with the judge, next to what real digits and noise score.

    from minigan.evaluate import evaluate_images, format_report
    from minigan.judge import default_judge
    result = evaluate_images(pixels)                 # uint8 (N, 28, 28) or (N, 1, 28, 28)
    print(format_report(result, default_judge().references))

``evaluate_images`` returns a dict:
    n                       how many images were scored
    frechet_distance        FD between the judge's features of the images and of the 9,000 real
                            digits the judge trained on (see metrics.frechet_distance); lower is better
    inception_score         exp(E KL(p(y|x) || p(y))) with the judge; 1..10, higher is better
    inception_score_std     its spread over the 10 splits
    classes_covered         digits that get at least a quarter of their fair share N/10
    class_histogram         how many images the judge calls 0, 1, ..., 9
    class_kl                KL(the images' digit shares || the real digits' shares), nats
and, when the images were drawn for requested labels (a conditional GAN):
    label_accuracy          how often the judge's digit equals the requested label; 1 is best
    label_accuracy_by_label the same for each requested label 0..9 (None for a label never asked for)
    variety_by_label        for each label, the mean distance between two of its samples in the judge's
                            features over the same for real digits of that label (metrics.variety_by_label):
                            1 as varied as the data, near 0 one image per label (None: too few samples)
    variety                 the mean of variety_by_label over the labels asked for

A number means little alone, so every report shows two reference rows, computed
once by ``reference_values`` and stored in the judge's file:
    real held-out   the 1,000 bundled digits the judge never trained on, scored like
                    samples: about the best a generator can do at n = 1,000
    noise           1,000 images of uniform random pixels: what "nothing learned" scores
FD depends on n (fewer samples, noisier covariances, larger FD), so compare a
model with the references at n = 1,000, or compare models at the same n.

The command line: ``minigan evaluate --samples FILE.npz`` or ``--checkpoint FILE``.
"""

import json
import math
import os

import numpy as np

from .fileio import read_npz
from .judge import default_judge, load_judge, softmax
from .metrics import (
    class_histogram,
    class_kl,
    classes_covered,
    feature_stats,
    frechet_distance_from_stats,
    inception_score,
    toy2d_report,
    variety_by_label,
)

REFERENCE_N = 1000  # the held-out digits, and as many noise images
N_HELDOUT = 1000  # the last 1,000 bundled digits are the judge's held-out set


class EvaluateError(ValueError):
    """A samples file or checkpoint that cannot be evaluated (one clear sentence)."""


# ---- the real digits -------------------------------------------------------------
def real_digits():
    """The bundled digits: uint8 (10000, 1, 28, 28) and int64 labels (10000,)."""
    from .data import load_dataset

    ds = load_dataset("mnist")
    return ds.x, ds.y


def real_feature_stats(judge=None):
    """(mu, sigma) of the judge's features over its 9,000 training digits (float64).

    The reference set for the Frechet distance. It leaves out the 1,000 held-out
    digits, so that scoring them (the "real held-out" row) is exactly the
    computation a generator's samples go through, with digits no model has seen.
    """
    judge = judge or default_judge()
    return feature_stats(judge.features(real_digits()[0][:-N_HELDOUT]))


def real_class_fractions():
    """float64 (10,): the share of each digit among the bundled digits (0.0863 fives to 0.1127 ones)."""
    y = real_digits()[1]
    return np.bincount(y, minlength=10) / len(y)


# ---- scoring images --------------------------------------------------------------
def label_accuracy(predicted, requested, num_classes=10):
    """(share of predicted == requested, that share for each requested label (num_classes,)).

    predicted, requested: (N,) integer labels. A label never requested gets nan.
    """
    hits = np.asarray(predicted) == np.asarray(requested)
    asked = np.bincount(requested, minlength=num_classes)[:num_classes]
    right = np.bincount(requested, weights=hits, minlength=num_classes)[:num_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        by_label = np.where(asked > 0, right / np.maximum(asked, 1), np.nan)
    return float(hits.mean()), by_label


def evaluate_images(images_uint8, n=None, judge=None, labels=None):
    """Score images with the judge; returns the dict described in the module docstring.

    images_uint8: uint8 (N, 28, 28) or (N, 1, 28, 28) pixels (floats in [0, 1] work too).
    n: score only the first n images (default: all). At least 10 are needed (10 splits).
    labels: (N,) the digit each image was drawn for (a conditional GAN), or None.
    """
    judge = judge or default_judge()
    x = images_uint8[:n] if n is not None else images_uint8
    if labels is not None and len(labels) != len(images_uint8):
        raise EvaluateError(f"{len(labels)} labels for {len(images_uint8)} images")
    if len(x) < 10:
        raise EvaluateError(f"need at least 10 images to evaluate (the score uses 10 splits), got {len(x)}")
    feats, logits = judge.features_and_logits(x)
    probs = softmax(logits.astype(np.float64))  # (N, 10)
    real_mu, real_sigma = judge.real_stats if judge.real_stats is not None else real_feature_stats(judge)
    is_mean, is_std = inception_score(probs, splits=10)
    result = {
        "n": len(x),
        "frechet_distance": frechet_distance_from_stats(*feature_stats(feats), real_mu, real_sigma),
        "inception_score": is_mean,
        "inception_score_std": is_std,
        "classes_covered": classes_covered(probs),
        "class_histogram": class_histogram(probs).tolist(),
        "class_kl": class_kl(probs, real_class_fractions()),
    }
    if labels is not None:
        accuracy, by_label = label_accuracy(logits.argmax(axis=1), np.asarray(labels[: len(x)], dtype=np.int64))
        result["label_accuracy"] = accuracy
        result["label_accuracy_by_label"] = [None if math.isnan(a) else a for a in by_label.tolist()]  # (JSON: null)
        real_x, real_y = real_digits()
        real_x, real_y = real_x[:-N_HELDOUT], real_y[:-N_HELDOUT]  # the FD's reference digits
        variety = variety_by_label(feats, labels[: len(x)], judge.features(real_x), real_y)
        result["variety_by_label"] = [None if math.isnan(v) else float(v) for v in variety]
        result["variety"] = float(np.nanmean(variety)) if not np.isnan(variety).all() else math.nan
    return result


def reference_values(judge=None, seed=0):
    """The reference rows, as a flat dict of floats ("real_heldout.frechet_distance", ...).

    Both are scored by ``evaluate_images``, exactly like a generator's samples:
    real_heldout: the last 1,000 bundled digits, which neither the judge nor the FD
        reference set contains: the floor a perfect generator would reach at n = 1,000.
    noise: 1,000 images of uniform random grey levels (seeded): the ceiling.
    """
    judge = judge or default_judge()
    held = real_digits()[0][-N_HELDOUT:]
    noise = np.random.default_rng(seed).integers(0, 256, size=(REFERENCE_N, 1, 28, 28), dtype=np.uint8)
    refs = {"n": float(REFERENCE_N)}
    for name, images in (("real_heldout", held), ("noise", noise)):
        result = evaluate_images(images, judge=judge)
        for key in ("frechet_distance", "inception_score", "inception_score_std", "classes_covered", "class_kl"):
            refs[f"{name}.{key}"] = float(result[key])
    return refs


# ---- reading samples -------------------------------------------------------------
def load_samples(path):
    """The arrays of a samples .npz (as ``minigan sample --out FILE.npz`` writes it).

    Returns ("images", uint8 (N, 1, 28, 28), labels) or ("points", float (N, 2), None),
    where labels (N,) int64 are the digits a conditional GAN was asked for (the file's
    optional ``labels`` array), else None.
    Raises EvaluateError for a missing file, a file that is not an .npz, object
    arrays, or arrays of the wrong shape or dtype.
    """
    if not os.path.isfile(path):
        raise EvaluateError(f"no samples file at {path}")
    arrays = read_npz(path, EvaluateError)
    if "images" in arrays:
        images = arrays["images"]
        if images.dtype != np.uint8:
            raise EvaluateError(f"{path}: 'images' must be uint8 pixels 0..255, got {images.dtype}")
        if images.ndim == 3:
            images = images[:, None]  # (N, 1, 28, 28)
        if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
            raise EvaluateError(f"{path}: 'images' must be grey 28x28 digits, (N, 28, 28) or (N, 1, 28, 28); "
                                f"got shape {arrays['images'].shape}")  # fmt: skip
        labels = arrays.get("labels")
        if labels is not None and (labels.dtype.kind not in "iu" or labels.shape != (len(images),)):
            raise EvaluateError(f"{path}: 'labels' must be integers, one per image ({len(images)},); "
                                f"got {labels.dtype}{labels.shape}")  # fmt: skip
        return "images", images, None if labels is None else labels.astype(np.int64)
    if "samples" in arrays:
        points = arrays["samples"]
        if points.ndim != 2 or points.shape[1] != 2 or points.dtype.kind != "f":
            raise EvaluateError(f"{path}: 'samples' must be float 2-D points (N, 2), got {points.dtype}{points.shape}")
        return "points", points, None
    raise EvaluateError(f"{path} has no 'images' (digits) or 'samples' (2-D points) array; it holds {sorted(arrays)}")


def generate_from_checkpoint(path, n=None, seed=0, device=None, batch_size=500, dataset=None):
    """Samples of a trained run: ("images", uint8 (n, C, 28, 28), settings, labels) or
    ("points", (n, 2), settings, None).

    The noise is drawn as ``minigan sample --seed`` draws it, so the same seed gives
    the same samples; the generator runs batch_size at a time. A conditional run is
    asked for every label in turn, labels = 0, 1, ..., 9, 0, 1, ... (n / 10 of each). n defaults to 10,000
    images, or 2,500 points (the PacGAN protocol). A ``dataset`` other than the
    checkpoint's own is refused (EvaluateError) before anything is generated.
    """
    from .backend import module_for, to_numpy
    from .cgan import ConditionalGAN
    from .checkpoint import load_checkpoint, restore
    from .train import load_data, make_gan, value_range

    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.npz")
    ckpt = load_checkpoint(path)
    settings = dict(ckpt["settings"])
    if dataset is not None and dataset != settings["dataset"]:
        raise EvaluateError(f"--dataset {dataset} does not match {path}, a run on {settings['dataset']}: "
                            "a checkpoint knows its data; leave out --dataset")  # fmt: skip
    if device:
        settings["device"] = device
    dataset = load_data(settings)
    if dataset.kind == "table":
        raise EvaluateError(f"{path} is a run on the table {settings['dataset']}: there is no metric for tables here")
    gan = restore(make_gan(settings, dataset), ckpt)
    n = n or (10_000 if dataset.kind == "images" else 2500)
    z = np.random.default_rng(seed).standard_normal((n, gan.latent_dim)).astype(np.float32)  # as train.generate
    xp = module_for(settings.get("device", "cpu"))
    labels = np.arange(n) % gan.num_classes if isinstance(gan, ConditionalGAN) else None
    batches = []
    for i in range(0, n, batch_size):
        asked = {} if labels is None else {"labels": labels[i : i + batch_size]}
        batches.append(to_numpy(gan.sample(z=z[i : i + batch_size], xp=xp, **asked)))
    x = np.concatenate(batches)
    if dataset.kind == "images":
        return "images", dataset.from_model(x, *value_range(settings)), settings, labels
    return "points", x, settings, None


# ---- what the command line does ----------------------------------------------------
def evaluate_run(samples=None, checkpoint=None, n=None, seed=0, device=None, dataset=None, judge=None):
    """Evaluate a samples file or a checkpoint, as ``minigan evaluate`` does: returns (result, report text).

    Digits get ``evaluate_images`` plus the stored reference rows (result["references"]);
    2-D points get ``metrics.toy2d_report``. A points file does not say which mixture
    it came from, so it needs ``dataset`` ("ring8" or "grid25"); a checkpoint knows, and
    refuses another. judge: a judge weights file (default: the shipped judge).
    """
    if (samples is None) == (checkpoint is None):
        raise EvaluateError("give either a samples file or a checkpoint")
    if samples is not None:
        kind, x, labels = load_samples(samples)
        source = {"samples": str(samples)}
    else:
        kind, x, settings, labels = generate_from_checkpoint(checkpoint, n, seed, device, dataset=dataset)
        dataset = settings["dataset"]
        source = {"checkpoint": str(checkpoint), "seed": seed, "dataset": dataset}
    if kind == "points":
        if dataset not in ("ring8", "grid25"):
            raise EvaluateError("2-D points are scored against the mixture they imitate: add --dataset ring8 or grid25")
        report = toy2d_report(x[:n] if n else x, dataset)
        return {**source, "dataset": dataset, **report}, format_toy_report(report, dataset)
    judge = load_judge(judge) if judge is not None else default_judge()
    result = evaluate_images(x, n, judge, labels=labels)
    result["references"] = judge.references or reference_values(judge)
    text = format_report(result, result["references"])
    if dataset not in (None, "mnist", "mnist-full"):
        text += f"\nnote: the judge knows MNIST digits only; for {dataset} these numbers say little"
    return {**source, **result}, text


# ---- the report ------------------------------------------------------------------
ROWS = (  # (key, label, format, what is better)
    ("frechet_distance", "Frechet distance (judge features)", "{:.2f}", "lower is better"),
    ("inception_score", "Inception-style score (judge)", "{:.2f}", "higher is better, max 10"),
    ("classes_covered", "classes covered (of 10)", "{:.0f}", "10 is best"),
    ("class_kl", "class KL (samples || real)", "{:.3f}", "0 is best, ~2.3 when all one digit"),
)


def format_report(result, references):
    """A small table: each metric for the samples, real held-out digits and noise."""
    cols = ("samples", "real held-out", "noise")
    lines = [f"{result['n']} samples scored by the judge (a digit classifier; see minigan/judge.py)", ""]
    lines.append(f"{'metric':<34}" + "".join(f"{c:>15}" for c in cols))
    for key, label, fmt, better in ROWS:
        values = [result[key], references.get(f"real_heldout.{key}"), references.get(f"noise.{key}")]
        cells = ["-" if v is None else fmt.format(v) for v in values]
        if key == "inception_score":
            stds = [result["inception_score_std"], references.get("real_heldout.inception_score_std"),
                    references.get("noise.inception_score_std")]  # fmt: skip
            cells = [c if s is None else f"{c} ± {s:.2f}" for c, s in zip(cells, stds)]
        lines.append(f"{label:<34}" + "".join(f"{c:>15}" for c in cells) + f"   {better}")
    hist = result["class_histogram"]
    lines += ["", "digits the judge sees: " + "  ".join(f"{d}: {c}" for d, c in enumerate(hist))]
    if "label_accuracy" in result:
        by_label = "  ".join(f"{d}: {'-' if a is None else f'{a:.2f}'}"
                             for d, a in enumerate(result["label_accuracy_by_label"]))  # fmt: skip
        lines += [f"label accuracy (the judge's digit == the digit asked for): {result['label_accuracy']:.3f}",
                  f"  by label asked for: {by_label}"]  # fmt: skip
    if "variety" in result:
        by_label = "  ".join(f"{d}: {'-' if v is None else f'{v:.2f}'}"
                             for d, v in enumerate(result["variety_by_label"]))  # fmt: skip
        lines += [(f"variety within a label (judge-feature spread / real digits' of that label; 1 = as varied "
                   f"as the data, ~0 = one image): {result['variety']:.2f}"),
                  f"  by label asked for: {by_label}"]  # fmt: skip
    n_ref = int(references.get("n", REFERENCE_N))
    if result["n"] != n_ref:
        lines.append(f"note: the references use n = {n_ref}; FD is larger for fewer samples, so compare "
                     f"FD with them at --n {n_ref}")  # fmt: skip
    return "\n".join(lines)


def format_toy_report(report, dataset_name):
    """The mode-coverage numbers of ``metrics.toy2d_report`` as a few lines."""
    kl = report["reverse_kl"]
    kl_text = "n/a (no high-quality sample)" if math.isnan(kl) else f"{kl:.3f}"
    one_mode = f"log {report['n_modes']} = {math.log(report['n_modes']):.2f}"
    lines = [
        f"{report['n_samples']} samples of {dataset_name} (PacGAN protocol: nearest mode, high quality within 3 stds)",
        f"modes covered           {report['modes_covered']} of {report['n_modes']}",
        f"high-quality samples    {100 * report['high_quality_fraction']:.1f}%",
        f"reverse KL (modes)      {kl_text}   0 is best, {one_mode} is one mode",
        "samples per mode        " + " ".join(str(c) for c in report["mode_counts"]),
    ]
    return "\n".join(lines)


def to_json(result):
    """``result`` as a JSON object; nan (an undefined metric) becomes null."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}
    return json.dumps(clean, indent=2, sort_keys=True)
