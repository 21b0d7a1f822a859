"""A whole training run, as ``minigan train`` does it: data, model, GAN, files.

Writes into the run folder DIR:
    DIR/checkpoint.npz           after every epoch (atomic: an interrupted run keeps the last one)
    DIR/samples/epoch_NNNN.png   the fixed-noise samples after each epoch
    DIR/samples/progress.gif     this run's grids, epoch 1 to now, as an animation
    DIR/history.csv              one row per step: losses, D outputs, gradient norms
    DIR/losses.png               the curves of history.csv

Runs never mix: a folder that holds another run's files is refused unless the
caller asks to overwrite it (its files are then removed first) or continues that
very run. Temporary files that a killed run left behind are removed on start.
"""

import csv
import os

import numpy as np

from .backend import module_for, to_numpy
from .cgan import ConditionalGAN
from .checkpoint import restore, save_checkpoint
from .data import DataError, Dataset, load_dataset
from .diagnostics import diagnose, diversity
from .fileio import atomic_write, remove_temp_files
from .gan import GAN, HISTORY_KEYS
from .layers.embedding import check_label_range
from .losses import BCEObjective
from .models import CONDITIONAL_MODELS, build, recipe
from .optim import L1L2
from .progress import plural


def settings_from(args_dict):
    """The run's settings: everything needed to rebuild data, model and trainer."""
    keys = ("model", "dataset", "data_dir", "subset", "epochs", "batch_size", "lr", "beta1", "beta2", "latent_dim",
            "objective", "d_steps", "schedule", "label_smoothing", "seed", "device", "label_column")  # fmt: skip
    return {k: args_dict.get(k) for k in keys}


# WGAN-GP's own recipe (Gulrajani et al. 2017): 5 critic steps per G step, Adam(1e-4, 0.5, 0.9)
WGAN_GP_DEFAULTS = {"lr": 1e-4, "beta1": 0.5, "beta2": 0.9, "d_steps": 5}


def fill_defaults(settings):
    """Fill settings left as None from the model's recipe (and the objective's, for wgan-gp)."""
    r = recipe(settings["model"])
    if settings.get("objective") == "wgan-gp":
        for key, value in WGAN_GP_DEFAULTS.items():
            if settings.get(key) is None:
                settings[key] = value
    for key in ("batch_size", "lr", "beta1", "beta2", "latent_dim", "epochs"):
        if settings.get(key) is None:
            settings[key] = getattr(r, key)
    if settings.get("d_steps") is None:
        settings["d_steps"] = 1
    return settings


def load_data(settings):
    """The dataset named in the settings (a data.Dataset)."""
    return load_dataset(settings["dataset"], data_dir=settings.get("data_dir"), subset=settings.get("subset"),
                        seed=settings["seed"], label_column=settings.get("label_column"))  # fmt: skip


def data_for_sampling(settings):
    """What sampling needs of the data, loading the data only when it must.

    An image run records its image shape (settings["image_shape"], C, H, W), so sampling
    it needs no data at all: a run trained on mnist-full or a folder of pictures samples
    anywhere. Tables need their column means and stds, and older checkpoints lack the
    shape, so those load the data as training did.
    """
    shape = settings.get("image_shape")
    if settings["model"] == "toy" or not shape:
        return load_data(settings)
    return Dataset(name=settings["dataset"], kind="images", x=np.zeros((1, *shape), np.uint8))  # (1, C, H, W)


def make_gan(settings, dataset):
    """Model and trainer from settings; the data decides image channels / point dimension."""
    r = recipe(settings["model"])
    image_model = settings["model"] != "toy"
    if image_model and dataset.kind != "images":
        raise ValueError(f"model {settings['model']!r} makes 28x28 images but dataset {settings['dataset']!r} "
                         f"holds {dataset.kind}: use --model toy")  # fmt: skip
    if not image_model and dataset.kind == "images":
        raise ValueError(f"model 'toy' makes points but dataset {settings['dataset']!r} holds images: "
                         "use --model dcgan or mlp")  # fmt: skip
    if image_model and dataset.x.shape[2:] != (28, 28):
        raise ValueError(f"model {settings['model']!r} makes 28x28 images, the data is {dataset.x.shape[2:]}")
    channels = dataset.x.shape[1] if image_model else 1
    data_dim = dataset.x.shape[1] if not image_model else 2
    G, D = build(settings["model"], settings["latent_dim"], data_dim=data_dim, channels=channels,
                 seed=settings["seed"])  # fmt: skip
    penalty = L1L2(*r.l1l2) if any(r.l1l2) else None
    trainer = ConditionalGAN if settings["model"] in CONDITIONAL_MODELS else GAN  # (same arguments)
    gan = trainer(G, D, settings["latent_dim"], objective=settings["objective"], lr=settings["lr"],
                  beta1=settings["beta1"], beta2=settings.get("beta2") or r.beta2, d_steps=settings["d_steps"],
                  schedule=settings["schedule"],
                  label_smoothing=settings["label_smoothing"], seed=settings["seed"], penalty=penalty)  # fmt: skip
    if settings.get("device", "cpu") == "gpu":
        gan.to("gpu")
    return gan


NUM_CLASSES = 10  # what the conditional models are built for: digits and Fashion-MNIST's ten kinds


def check_labels(settings, dataset):
    """A conditional model needs labels 0..9, one per example: refuse (DataError) data without
    them, naming the dataset and how to give labels. The labels' range is checked here, once,
    so the Embedding layers need not check it (a device wait) on every pass."""
    if settings["model"] not in CONDITIONAL_MODELS:
        return
    name = settings["dataset"]
    if dataset.y is None:
        how = (f"pass --label-column NAME_OR_INDEX to take them from a column of {name}" if name.startswith("csv:")
               else "use mnist, mnist-full, fashion-mnist, a folder: of sub-folders (one per class), or a csv: table "
               "with --label-column")  # fmt: skip
        raise DataError(f"model {settings['model']!r} draws the class you ask for, so it trains on labelled data; "
                        f"dataset {name!r} has no labels: {how}; or choose an unconditional --model")  # fmt: skip
    check_label_range(dataset.y, NUM_CLASSES, f"model {settings['model']!r} on dataset {name!r}")


def value_range(settings):
    return recipe(settings["model"]).value_range


def model_data(settings, dataset):
    """All training examples in the generator's output range, float32, on the run's device."""
    low, high = value_range(settings) or (0.0, 1.0)  # (the range is used for images only)
    return module_for(settings.get("device", "cpu")).asarray(dataset.model_input(low, high))


def write_history_csv(path, history):
    """history.csv, written atomically."""
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HISTORY_KEYS)
        for row in zip(*(history[k] for k in HISTORY_KEYS)):
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])


def diagnoses(gan):
    """The diagnostics' warnings for a run so far (see minigan.diagnostics)."""
    return diagnose(gan.history, probabilities=isinstance(gan.objective, BCEObjective), spread_by_step=gan.spread)


class RunFolderError(ValueError):
    """The output folder holds another run: say so rather than mix two runs' files."""


def run_files(out_dir):
    """The files of a run found in ``out_dir`` (paths), as this module writes them; [] for none."""
    found = [os.path.join(out_dir, n) for n in ("checkpoint.npz", "history.csv", "losses.png")]
    samples_dir = os.path.join(out_dir, "samples")
    if os.path.isdir(samples_dir):
        found += [os.path.join(samples_dir, n) for n in sorted(os.listdir(samples_dir))
                  if (n.startswith("epoch_") and n.endswith(".png")) or n == "progress.gif"]  # fmt: skip
    return [f for f in found if os.path.isfile(f)]


def check_run_folder(out_dir, overwrite=False, continuing=False):
    """Refuse (RunFolderError) to start a new run in a folder holding another run, unless overwrite.

    continuing: the folder's own run is being resumed, so its files belong to this run.
    """
    existing = [] if continuing else run_files(out_dir)
    if existing and not overwrite:
        n = len(existing)
        raise RunFolderError(
            f"{out_dir} holds another run ({n} file{'s' if n != 1 else ''}, e.g. {os.path.basename(existing[0])}): "
            f"continue it with --resume {out_dir}, replace it with --overwrite, or choose another --out"
        )
    return existing


def clear_run_folder(out_dir, files):
    """Remove an old run's ``files`` and any temporary files a killed run left in ``out_dir``."""
    for f in files:
        os.remove(f)
    samples_dir = os.path.join(out_dir, "samples")
    for folder in (out_dir, samples_dir):
        remove_temp_files(folder)
    if os.path.isdir(samples_dir) and not os.listdir(samples_dir):
        os.rmdir(samples_dir)


def epoch_frames(samples_dir, epochs):
    """Paths of samples_dir/epoch_0001.png .. epoch_<epochs>.png that exist: this run's grids, in order."""
    paths = [os.path.join(samples_dir, f"epoch_{e:04d}.png") for e in range(1, epochs + 1)]
    return [p for p in paths if os.path.isfile(p)]


def save_epoch_outputs(gan, settings, dataset, out_dir):
    """Pictures, history and the checkpoint after an epoch."""
    from . import viz

    samples_dir = os.path.join(out_dir, "samples")
    os.makedirs(samples_dir, exist_ok=True)
    samples = to_numpy(gan.sample())
    gan.spread.append((gan.step, diversity(samples)))
    if dataset.kind == "images":
        nrow = gan.per_class if isinstance(gan, ConditionalGAN) else None  # conditional: one row per class
        viz.save_grid(samples, os.path.join(samples_dir, f"epoch_{gan.epoch:04d}.png"), nrow=nrow,
                      value_range=value_range(settings))  # fmt: skip
        # frames of epochs 1..now only: a grid of a later epoch would be a leftover of an interrupted attempt
        viz.save_gif(epoch_frames(samples_dir, gan.epoch), os.path.join(samples_dir, "progress.gif"))
    elif dataset.kind == "points":
        many = to_numpy(gan.sample(z=gan.noise(2500)))  # (uses the noise stream: saved in the checkpoint)
        fig = viz.scatter_2d(many, real=dataset.x[:2500], centers=dataset.centers,
                             title=f"epoch {gan.epoch}")  # fmt: skip
        fig.savefig(os.path.join(samples_dir, f"epoch_{gan.epoch:04d}.png"), dpi=80)
    write_history_csv(os.path.join(out_dir, "history.csv"), gan.history)
    if gan.history["step"]:
        viz.plot_history(gan.history, os.path.join(out_dir, "losses.png"), diagnoses=diagnoses(gan))
    save_checkpoint(os.path.join(out_dir, "checkpoint.npz"), gan, settings)


def start_line(settings, dataset, out_dir, gan):
    """One line saying what is about to be trained, on what, for how long, and where it goes."""
    shape = "x".join(str(d) for d in dataset.x.shape[1:])
    what = {"images": "image", "points": "point", "table": "row"}.get(dataset.kind, "example")
    steps = len(dataset) // settings["batch_size"]
    start = f"from epoch {gan.epoch} " if gan.epoch else ""
    return (f"training {settings['model']} on {settings['dataset']} ({plural(len(dataset), what)} of {shape}) "
            f"{start}to {plural(settings['epochs'], 'epoch')} of {plural(steps, 'step')} "
            f"(batch {settings['batch_size']}) on {settings.get('device', 'cpu')}, writing to {out_dir}")


def run(settings, out_dir, resume_ckpt=None, progress=True, overwrite=False, resume_path=None, log=None):
    """Train as the settings say, writing into out_dir; returns the GAN.

    resume_ckpt: a loaded checkpoint to continue from; resume_path: the file it came from
        (default out_dir/checkpoint.npz: the run continues in its own folder). Only a run
        resumed from out_dir's own checkpoint.npz continues in out_dir; one resumed from
        any other file is a new run there, refused like any other if out_dir holds a run.
    overwrite: out_dir may hold another run; its files are removed before training.
    log: called with the start line (e.g. print); None says nothing.

    A folder holding another run is refused first (RunFolderError), then everything
    else that can be refused (data, model, checkpoint) is checked before anything is
    written into out_dir.
    """
    own = os.path.join(out_dir, "checkpoint.npz")
    continuing = resume_ckpt is not None and os.path.realpath(resume_path or own) == os.path.realpath(own)
    old_files = check_run_folder(out_dir, overwrite=overwrite, continuing=continuing)
    dataset = load_data(settings)
    check_labels(settings, dataset)
    gan = make_gan(settings, dataset)
    if resume_ckpt is not None:
        restore(gan, resume_ckpt)
    x = model_data(settings, dataset)
    if settings["batch_size"] > len(x):
        raise ValueError(f"batch size {settings['batch_size']} is larger than the data ({len(x)} examples)")
    if dataset.kind == "images":  # recorded in the checkpoint: sampling then needs no data (data_for_sampling)
        settings = {**settings, "image_shape": list(dataset.x.shape[1:])}  # (C, H, W); the caller's dict is kept
    if log is not None:
        log(start_line(settings, dataset, out_dir, gan))
    clear_run_folder(out_dir, old_files)
    os.makedirs(out_dir, exist_ok=True)
    data = (x,)
    if isinstance(gan, ConditionalGAN):  # the labels go where the images go
        data = (x, module_for(settings.get("device", "cpu")).asarray(dataset.y))
    gan.fit(*data, settings["epochs"], settings["batch_size"], progress=progress,
            on_epoch_end=lambda g: save_epoch_outputs(g, settings, dataset, out_dir))  # fmt: skip
    return gan


def generate(gan, settings, n, seed, labels=None):
    """n samples from noise seeded by ``seed``, as NumPy, in the generator's own units.

    labels: (n,) the classes a conditional GAN is asked for (needed there, refused elsewhere).
    """
    z = np.random.default_rng(seed).standard_normal((n, gan.latent_dim)).astype(np.float32)
    xp = module_for(settings.get("device", "cpu"))
    if isinstance(gan, ConditionalGAN):
        if labels is None:
            raise ValueError(f"model {settings['model']!r} draws the class it is asked for: give the labels")
        return to_numpy(gan.sample(z=z, labels=labels, xp=xp))
    if labels is not None:
        raise ValueError(f"model {settings['model']!r} is not conditional: it takes no labels")
    return to_numpy(gan.sample(z=z, xp=xp))


def generate_by_class(gan, settings, per_class, seed):
    """A conditional GAN's samples of every class: (K * per_class, ...) NumPy samples and their
    labels 0 0 .. 1 1 .. (per_class of each), where column j of each class uses the SAME
    noise z_j (seeded by ``seed``), so a grid of per_class columns shows one "style" per column."""
    z = np.random.default_rng(seed).standard_normal((per_class, gan.latent_dim)).astype(np.float32)
    labels = np.repeat(np.arange(gan.num_classes), per_class)  # (K * per_class,)
    xp = module_for(settings.get("device", "cpu"))
    return to_numpy(gan.sample(z=np.tile(z, (gan.num_classes, 1)), labels=labels, xp=xp)), labels
