"""Train the judge (minigan/judge.py) and write minigan/data/judge_mnist.npz, the file the package ships.

    python data/train_judge.py                 # train, check, save (minutes to half an hour on 2 CPU cores)
    python data/train_judge.py --references    # only recompute the stored reference values

The first 9,000 bundled digits train it and the last 1,000 are held out (the
file interleaves the classes, so both parts hold every digit in proportion).
Recipe: 12 epochs of Adam (lr 1e-3, times 0.8 each epoch), batch 32, softmax
cross-entropy, Dropout(0.3) before the last layer, and every training digit
shifted by a random -1..1 pixel in x and y each time it is seen (a digit moved
by a pixel is still the same digit, and handwriting is not all centred the same
way). One seed fixes the weights, the order, the shifts and the dropout masks.

After training it stores, next to the float32 weights: the held-out accuracy
and the settings (as a JSON string), the feature mean and covariance of the
9,000 training digits (what ``minigan evaluate`` compares samples with), and the
reference metric values (real held-out digits, uniform noise) from
``minigan.evaluate.reference_values``. The file is written atomically and
refused (nothing written) when the held-out accuracy is below 98%.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from minigan.data import load_dataset
from minigan.judge import Judge, build_judge, load_judge, save_judge, softmax_cross_entropy
from minigan.optim import Adam

OUT = Path(__file__).resolve().parents[1] / "minigan" / "data" / "judge_mnist.npz"  # package data: wheels carry it
N_TRAIN = 9000
MIN_ACCURACY = 0.98


def shift(x, max_shift, rng):
    """Move every image by its own random (dy, dx) in -max_shift..max_shift, filling with 0.

    x: (B, 1, 28, 28). Pads by max_shift and cuts out a shifted 28x28 window.
    """
    B, _, H, W = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))  # (B, 1, H + 2m, W + 2m)
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, B))
    rows = dy[:, None] + np.arange(H)  # (B, H)
    cols = dx[:, None] + np.arange(W)  # (B, W)
    return padded[np.arange(B)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]  # (B, 1, H, W)


def accuracy(judge, x, y):
    return float((judge.predict(x) == y).mean())


def train(epochs, batch_size, lr, decay, max_shift, seed):
    ds = load_dataset("mnist")
    x = ds.x.astype(np.float32) / 255  # (10000, 1, 28, 28) in [0, 1]
    x_train, y_train = x[:N_TRAIN], ds.y[:N_TRAIN]
    x_held, y_held = x[N_TRAIN:], ds.y[N_TRAIN:]
    net = build_judge(seed)
    opt = Adam(lr=lr)
    rng = np.random.default_rng(seed)
    start = time.time()
    for epoch in range(1, epochs + 1):
        opt.lr = lr * decay ** (epoch - 1)  # smaller steps as the weights settle
        net.train()
        order = rng.permutation(N_TRAIN)
        losses = []
        for i in range(0, N_TRAIN, batch_size):
            idx = order[i : i + batch_size]
            xb = shift(x_train[idx], max_shift, rng) if max_shift else x_train[idx]
            net.zero_grad()
            loss, dlogits = softmax_cross_entropy(net.forward(xb), y_train[idx])
            net.backward(dlogits)
            opt.step(net.params, net.grads)
            losses.append(float(loss))
        acc = accuracy(Judge(net), x_held, y_held)  # (Judge puts the net in eval mode)
        print(f"epoch {epoch}/{epochs}  loss {np.mean(losses):.4f}  held-out accuracy {acc:.4f}  "
              f"{time.time() - start:.0f} s", flush=True)  # fmt: skip
    info = {
        "heldout_accuracy": acc, "train_seconds": round(time.time() - start, 1), "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "lr_decay_per_epoch": decay, "max_shift": max_shift, "seed": seed,
        "n_train": N_TRAIN, "n_heldout": len(x_held), "data": "bundled mnist.npz: first 9000 train, last 1000 held out",
        "numpy": np.__version__,
    }  # fmt: skip
    return Judge(net, info), x_held, y_held


def add_references(judge, path):
    """Compute the real-digit feature statistics and the reference rows; save them with the weights."""
    from minigan.evaluate import real_feature_stats, reference_values

    t = time.time()
    judge.real_stats = real_feature_stats(judge)
    judge.references = reference_values(judge)
    save_judge(path, judge.net, judge.info, judge.references, judge.real_stats)
    print(f"reference values ({time.time() - t:.0f} s):")
    for name, value in judge.references.items():
        print(f"  {name:<24} {value:.4f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--decay", type=float, default=0.8, help="the learning rate is multiplied by this every epoch")
    p.add_argument("--max-shift", type=int, default=1, help="random shift in pixels (0: no augmentation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--references", action="store_true", help="keep the weights in --out, recompute the references")
    args = p.parse_args(argv)

    if args.references:
        add_references(load_judge(args.out), args.out)
        return 0
    judge, x_held, y_held = train(args.epochs, args.batch_size, args.lr, args.decay, args.max_shift, args.seed)
    acc = judge.info["heldout_accuracy"]
    if acc < MIN_ACCURACY:
        print(f"held-out accuracy {acc:.4f} is below {MIN_ACCURACY}: nothing written", file=sys.stderr)
        return 1
    save_judge(args.out, judge.net, judge.info)
    reloaded = load_judge(args.out)  # the float32 file must give the same accuracy
    assert accuracy(reloaded, x_held, y_held) == acc, "the saved weights do not reproduce the accuracy"
    print(f"wrote {args.out}: held-out accuracy {acc:.4f}, trained in {judge.info['train_seconds']:.0f} s")
    add_references(reloaded, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
