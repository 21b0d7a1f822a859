"""The ``minigan`` command: a thin layer over the library.

    minigan train [--model dcgan] [--dataset mnist] [--epochs N] ... --out DIR
    minigan train --resume DIR [--epochs N]                 continue a run in its own folder
    minigan sample --checkpoint DIR --n 64 --out samples.png (DIR or DIR/checkpoint.npz)
    minigan sample --checkpoint DIR --label 7 --out sevens.npz    a conditional model: the digit asked for
    minigan sample --checkpoint DIR --label all --out grid.png    one row per class
    minigan evaluate --checkpoint DIR | --samples FILE.npz   score samples with the digit judge
    minigan gradcheck [NAME ...]     check every built-in layer's backward

Mistakes in arguments or files end with one line on stderr and exit status 2,
never a traceback, and nothing is written to --out. ``train`` first prints one
line saying what it trains and where it writes, then its progress.
"""

import argparse
import os
import sys

import numpy as np

from .progress import plural


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one line (no usage block) that points to --help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _checkpoint_path(path):
    """A run folder or a checkpoint file -> the checkpoint file."""
    return os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path


def _device_from(settings, args, path):
    """The device a run from checkpoint ``path`` goes on: --device when given, else the
    checkpoint's. A GPU run met on a machine without a usable GPU is told about
    --device cpu, rather than only how to install CuPy."""
    from .backend import gpu_available

    if args.device:
        return args.device
    device = settings.get("device") or "cpu"
    if device == "gpu" and not gpu_available():
        raise CLIError(f"the checkpoint in {path} was trained on the GPU, and this machine has no usable GPU: "
                       "pass --device cpu to go on on the CPU (the weights load on either device)")  # fmt: skip
    return device


def cmd_gradcheck(args):
    from .gradcheck import ABS_TOLERANCE, TOLERANCE, builtin_names, check_builtin, format_table

    unknown = [n for n in args.names if n.lower() not in {b.lower() for b in builtin_names()}]
    if unknown:
        raise CLIError(f"unknown layer {', '.join(unknown)}: choose from {', '.join(builtin_names())}")
    results = check_builtin(args.names or None, seed=args.seed)
    print(format_table(results))
    n = sum(len(r.errors) for _, _, r in results)
    failed = sum(e >= r.tol for _, _, r in results for e in r.errors.values())
    print(f"\n{n - failed} of {n} gradients agree with central differences "
          f"(float64, relative tolerance {TOLERANCE:g}, absolute {ABS_TOLERANCE:g}).")
    return 1 if failed else 0


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {value}")
        return value

    return parse


def _positive_float(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a positive number, got {text}")
        return value

    return parse


def _dataset_name(text):
    """A dataset's name; a folder's or file's path made absolute, so that the run's
    settings name the same data when it is resumed from another directory."""
    from .data.load import NAMES

    if text in NAMES[:5]:
        return text
    kind, _, path = text.partition(":")
    if kind in ("folder", "csv") and path:
        return f"{kind}:{_folder_path(path)}"
    raise argparse.ArgumentTypeError(f"unknown dataset {text!r}: choose from {', '.join(NAMES)}")


def _folder_path(text):
    """A path as typed (relative, or starting with ~), made absolute."""
    return os.path.abspath(os.path.expanduser(text))


def _user_errors():
    """The exception types that mean "the user asked for something impossible"."""
    from .backend import GPUUnavailableError
    from .checkpoint import CheckpointError
    from .data import DataError

    return (CheckpointError, DataError, GPUUnavailableError, ValueError)


# Defaults of a new run; flags left out (None) on --resume mean "as in the checkpoint".
TRAIN_DEFAULTS = {"model": "dcgan", "dataset": "mnist", "objective": "non-saturating", "schedule": "alternating",
                  "label_smoothing": 0.0, "seed": 0}  # fmt: skip
RESUME_MAY_CHANGE = ("epochs", "device", "data_dir")  # how long, where it runs, where the files are
NOT_FLAGS = ("image_shape",)  # recorded by the run itself


def resume_settings(saved, args):
    """The settings of a resumed run: the checkpoint's, with only RESUME_MAY_CHANGE taken from ``args``.

    A flag that names another value than the checkpoint's is refused (CLIError) rather
    than ignored: a resumed run is the same run, continued.
    """
    given = vars(args)
    for key, value in saved.items():
        if key in RESUME_MAY_CHANGE or given.get(key) is None or given[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        raise CLIError(f"{flag} {given[key]} contradicts the checkpoint in {args.resume}, which has {key} {value}: "
                       f"a resumed run keeps its settings; leave out {flag}, or leave out --resume to start a new run")
    settings = dict(saved)
    for key in RESUME_MAY_CHANGE:
        if given.get(key) is not None:
            settings[key] = given[key]
    return settings


def cmd_train(args):
    from .checkpoint import load_checkpoint
    from .gan import TrainingDiverged
    from .train import fill_defaults, run, settings_from

    resume = resume_path = None
    if args.resume:
        resume_path = _checkpoint_path(args.resume)
        resume = load_checkpoint(resume_path)
        settings = resume_settings(dict(resume["settings"]), args)
        out = args.out or os.path.dirname(resume_path) or "."
        if args.overwrite and os.path.realpath(os.path.join(out, "checkpoint.npz")) == os.path.realpath(resume_path):
            raise CLIError("--overwrite and --resume contradict each other: a run resumed in its own folder "
                           "keeps its files (--overwrite clears another folder that --out names)")  # fmt: skip
        done = int(resume["epoch"])
        if done >= settings["epochs"]:
            print(f"nothing to train: {args.resume} is already at {plural(done, 'epoch')}; "
                  f"pass --epochs N with N > {done} to train on")  # fmt: skip
            return 0
        kept = ", ".join(f"{k} {v}" for k, v in settings.items()
                         if v is not None and k not in ("epochs", "device", *NOT_FLAGS))  # fmt: skip
        print(f"resuming {args.resume} at epoch {done}; from its checkpoint: {kept}")
    else:
        given = settings_from(vars(args))
        settings = fill_defaults({**given, **{k: v for k, v in TRAIN_DEFAULTS.items() if given[k] is None}})
        out = args.out or os.path.join("runs", "latest")
    settings["device"] = _device_from(settings, args, resume_path) if resume else settings.get("device") or "cpu"
    try:
        gan = run(settings, out, resume_ckpt=resume, progress=not args.quiet, overwrite=args.overwrite,
                  resume_path=resume_path, log=lambda line: print(line, flush=True))  # fmt: skip
    except TrainingDiverged as e:
        print(f"minigan train: {e}. Training stopped; the last good checkpoint is kept in {out}/checkpoint.npz. "
              "Try a lower --lr or another --objective.", file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print(f"minigan train: interrupted. The checkpoint of the last finished epoch is in {out}/checkpoint.npz; "
              f"continue with: minigan train --resume {out} --epochs {settings['epochs']}", file=sys.stderr)  # fmt: skip
        return 130
    from .train import diagnoses

    for warning in diagnoses(gan):
        print(f"warning: {warning}")
    h = gan.history
    if h["step"]:
        print(f"done: {plural(gan.epoch, 'epoch')}, {plural(gan.step, 'step')}; last d_loss {h['d_loss'][-1]:.3f}, "
              f"g_loss {h['g_loss'][-1]:.3f}, D(x) {h['d_real'][-1]:.2f}, D(G(z)) {h['d_fake'][-1]:.2f}")  # fmt: skip
    print(f"wrote {out}/checkpoint.npz, {out}/samples/, {out}/history.csv, {out}/losses.png")
    return 0


def _label(text):
    """--label: a class number 0, 1, ... or "all"."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--label must be a class number (0, 1, ...) or 'all', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--label must be a class number (0, 1, ...) or 'all', got {value}")
    return value


def _labels_for(args, settings, num_classes):
    """The labels a conditional checkpoint is asked for: (n,) all equal to --label; None for "all"."""
    if args.label is None:
        raise CLIError(f"{args.checkpoint} is a conditional model ({settings['model']}): say which class to draw "
                       f"with --label 0..{num_classes - 1}, or --label all for one row per class")  # fmt: skip
    if args.label == "all":
        return None
    if args.label >= num_classes:
        raise CLIError(f"--label {args.label} is not a class of {args.checkpoint}, which knows 0..{num_classes - 1}")
    return np.full(args.n or 64, args.label, dtype=np.int64)


def cmd_sample(args):
    from . import viz
    from .cgan import ConditionalGAN
    from .checkpoint import load_checkpoint, restore
    from .train import data_for_sampling, generate, generate_by_class, make_gan, value_range

    ext = os.path.splitext(args.out)[1].lower()
    if ext not in (".png", ".npz", ".csv"):
        raise CLIError(f"--out must end in .png, .npz or .csv, got {args.out!r}")
    ckpt = load_checkpoint(_checkpoint_path(args.checkpoint))
    settings = dict(ckpt["settings"])
    settings["device"] = _device_from(settings, args, _checkpoint_path(args.checkpoint))
    dataset = data_for_sampling(settings)
    gan = restore(make_gan(settings, dataset), ckpt)
    labels, nrow = None, None
    if isinstance(gan, ConditionalGAN):
        labels = _labels_for(args, settings, gan.num_classes)
        if labels is None:  # --label all: --n per class, one row per class
            nrow = args.n or 8
            x, labels = generate_by_class(gan, settings, nrow, args.seed)
        else:
            x = generate(gan, settings, len(labels), args.seed, labels=labels)
    elif args.label is not None:
        raise CLIError(f"--label is for conditional models (cdcgan, cmlp); {args.checkpoint} is a "
                       f"{settings['model']} run, which draws no class on request")  # fmt: skip
    else:
        x = generate(gan, settings, args.n or 64, args.seed)
    n = len(x)
    if dataset.kind == "images":
        low, high = value_range(settings)
        pixels = dataset.from_model(x, low, high)  # (n, C, H, W) uint8
        if ext == ".csv":
            raise CLIError("images cannot be written as .csv: use .png or .npz")
        if ext == ".png":
            viz.save_grid(pixels, args.out, nrow=nrow)
        else:
            images = pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)
            _save_npz(args.out, images=images, **({} if labels is None else {"labels": labels}))
    else:
        values = dataset.from_model(x, 0, 1)
        if ext == ".png":
            viz.scatter_2d(values, real=dataset.x[:2500] if dataset.kind == "points" else None,
                           centers=dataset.centers, path=args.out)  # fmt: skip
        elif ext == ".csv":
            from .data import write_csv

            columns = dataset.columns or [f"x{i}" for i in range(values.shape[1])]
            write_csv(args.out, values, columns)
        else:
            _save_npz(args.out, samples=values.astype(np.float32))
    print(f"wrote {plural(n, 'sample')} to {args.out}")
    return 0


def cmd_evaluate(args):
    from .evaluate import evaluate_run, to_json

    result, text = evaluate_run(samples=args.samples, checkpoint=args.checkpoint, n=args.n, seed=args.seed,
                                device=args.device, dataset=args.dataset, judge=args.judge)  # fmt: skip
    print(to_json(result) if args.json else text)
    return 0


def _save_npz(path, **arrays):
    from .fileio import atomic_write

    with atomic_write(path) as f:
        np.savez(f, **arrays)


def build_parser():
    parser = Parser(prog="minigan", description="GANs from scratch on NumPy (and CuPy).")
    sub = parser.add_subparsers(dest="command", required=True)

    from .gan import SCHEDULES
    from .losses import OBJECTIVES
    from .models import MODELS

    p = sub.add_parser("train", help="train a GAN and write checkpoints, sample grids and curves",
                       description="Train a GAN. Unset options take the model's recipe (DCGAN: batch 64, lr 2e-4, "
                       "beta1 0.5, latent 128, 5 epochs; MLP: latent 100, batch 64, 20 epochs). cdcgan and cmlp draw the class "
                       "asked for: they train on labelled data (mnist, mnist-full, fashion-mnist), 20 epochs.")  # fmt: skip
    p.add_argument("--model", choices=MODELS, help="default dcgan")
    p.add_argument("--dataset", type=_dataset_name,
                   help="mnist (bundled 10,000 digits, the default), mnist-full, fashion-mnist, ring8, grid25, "
                   "folder:PATH, csv:PATH")  # fmt: skip
    p.add_argument("--data-dir", type=_folder_path, help="folder holding the dataset's files")
    p.add_argument("--label-column", metavar="NAME_OR_INDEX",
                   help="csv: datasets: the column (its name, or 0-based position) holding class labels")  # fmt: skip
    p.add_argument("--subset", type=_positive_int("--subset"), help="train on the first N examples only")
    p.add_argument("--epochs", type=_positive_int("--epochs"))
    p.add_argument("--batch-size", type=_positive_int("--batch-size"))
    p.add_argument("--lr", type=_positive_float("--lr"))
    p.add_argument("--beta1", type=float)
    p.add_argument("--beta2", type=float)
    p.add_argument("--latent-dim", type=_positive_int("--latent-dim"))
    p.add_argument("--objective", choices=OBJECTIVES, help="default non-saturating")
    p.add_argument("--d-steps", type=_positive_int("--d-steps"),
                   help="D updates per G update, the paper's k (default 1; 5 for wgan-gp)")
    p.add_argument("--schedule", choices=SCHEDULES, help="default alternating")
    p.add_argument("--label-smoothing", type=float, help="one-sided: real label 1 - S (e.g. 0.1; default 0)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--out", help="run folder (default runs/latest; with --resume, the resumed folder)")
    p.add_argument("--overwrite", action="store_true", help="--out may hold another run: remove its files first")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run saved in DIR up to --epochs in total, with the checkpoint's settings")
    p.add_argument("--device", choices=("cpu", "gpu"))
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained checkpoint")
    p.add_argument("--checkpoint", required=True, metavar="DIR|FILE", help="a run folder or its checkpoint.npz")
    p.add_argument("--n", type=_positive_int("--n"),
                   help="how many samples (default 64); with --label all, how many of each class (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=_label, metavar="L|all",
                   help="conditional models (cdcgan, cmlp): the class to draw, or 'all' for one row per class")
    p.add_argument("--out", required=True,
                   help="FILE.png (a grid), FILE.npz (uint8 images, and their labels for a conditional model) "
                   "or FILE.csv (tables)")  # fmt: skip
    p.add_argument("--device", choices=("cpu", "gpu"))
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="score samples with the digit judge (FD, Inception-style score, coverage)",
                       description="Score generated digits with the judge, a small digit classifier, next to "
                       "real held-out digits and noise; 2-D points get mode coverage (PacGAN protocol).")  # fmt: skip
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", metavar="FILE.npz", help="samples written by  minigan sample --out FILE.npz")
    source.add_argument("--checkpoint", metavar="FILE", help="a run's checkpoint.npz or folder: generate, then score")
    p.add_argument("--n", type=_positive_int("--n"),
                   help="how many samples (default: all in the file; 10000 images or 2500 points from a checkpoint)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="noise seed for --checkpoint (as minigan sample --seed)")
    p.add_argument("--dataset", choices=("ring8", "grid25"), help="the mixture a file of 2-D points imitates")
    p.add_argument("--device", choices=("cpu", "gpu"), help="where the generator runs (--checkpoint)")
    p.add_argument("--judge", metavar="FILE",
                   help="judge weights to use (default: the shipped judge, or the file $MINIGAN_JUDGE names)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("gradcheck", help="check every layer's backward against central differences")
    p.add_argument("names", nargs="*", help="layers to check (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_gradcheck)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as e:
        print(f"minigan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except _user_errors() as e:
        print(f"minigan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minigan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
