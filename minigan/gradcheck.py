"""Numerical gradient checking: is a hand-written backward right?

For a layer y = f(x; params) and a RANDOM upstream gradient g (same shape as y),
backward(g) must return dL/dx for the scalar L = sum(g * f(x)). Central
differences estimate the same derivative from forward passes alone:

    dL/dx[i] ~ (L(x + eps*e_i) - L(x - eps*e_i)) / (2*eps)      error O(eps^2)

in float64, where eps = 1e-6 leaves about 1e-10 of rounding noise.

Why random g and never all ones: BatchNorm's output always sums to the same
value over a batch (sum(x_hat) = 0), so with g = 1 the terms a wrong backward
forgets multiply zero and the check passes anyway.

An entry passes when its relative error |a - n| / (|a| + |n|) is below tol
(1e-6), or its absolute error |a - n| is below atol (1e-8). The absolute part
matters for gradients that are truly ~0 (a bias before BatchNorm), where only
rounding noise is left and any relative error is meaningless; a wrong formula
still shows as an error of order 1. Both are folded into one number per entry:
    error = |a - n| / max(|a| + |n|, atol / tol),   ok when error < tol.
Points exactly at a kink (ReLU at 0) have no derivative: keep test inputs away.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from .backend import generator, get_array_module, to_numpy

TOLERANCE = 1e-6  # relative
ABS_TOLERANCE = 1e-8


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f() with respect to array x.

    f takes no argument and reads x, which is perturbed IN PLACE one entry at a
    time and restored. Returns an array shaped like x.
    """
    xp = get_array_module(x)
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient perturbs x in place: x must be C-contiguous")
    flat = x.reshape(-1)  # a view: writing flat[i] changes x
    grad = xp.zeros(flat.shape, dtype=x.dtype)
    for i in range(flat.size):
        old = flat[i].copy()
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad.reshape(x.shape)


def rel_error(analytic, numeric, tol=TOLERANCE, atol=ABS_TOLERANCE):
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, atol / tol): below tol means every entry
    is within tol relatively or within atol absolutely."""
    a, n = to_numpy(analytic).astype(np.float64), to_numpy(numeric).astype(np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient shapes differ: analytic {a.shape}, numeric {n.shape}")
    if a.size == 0:
        return 0.0
    return float((np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), atol / tol)).max())


@dataclass
class GradReport:
    """Errors of one layer's gradients: ``errors["x"]`` for the input, one per parameter."""

    name: str
    errors: dict = field(default_factory=dict)
    tol: float = TOLERANCE

    @property
    def max_error(self):
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self):
        return bool(self.max_error < self.tol)

    def __str__(self):
        return format_table([(self.name, "", self)])


def format_table(results):
    """Rows of (layer name, mode, GradReport) as an aligned text table, a line per gradient."""
    rows = [(n, m, q, e, e < r.tol) for n, m, r in results for q, e in r.errors.items()]
    w_name = max([len("layer")] + [len(r[0]) for r in rows])
    w_mode = max([len("mode")] + [len(r[1]) for r in rows])
    lines = [f"{'layer':<{w_name}}  {'mode':<{w_mode}}  {'grad':<8} {'max rel error':>13}  ok"]
    for name, mode, quantity, err, ok in rows:
        lines.append(f"{name:<{w_name}}  {mode:<{w_mode}}  {quantity:<8} {err:>13.2e}  {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def check_layer(layer, x, seed=0, eps=1e-6, tol=TOLERANCE, atol=ABS_TOLERANCE, name=None):
    """Compare ``layer``'s backward with central differences, in float64.

    layer: a Layer or Sequential, in the mode (train/eval) you want checked.
    x: an input array (any float dtype; a float64 copy is used), or a TUPLE of inputs
       for a layer of several (Concat, Projection, a conditional network), whose
       backward then returns one gradient per input. Integer inputs (class labels)
       are kept as they are and have no gradient to check (backward gives None).
    Returns a GradReport with the error for "x" (or "x1", "x2", ... for a tuple;
    integer inputs are left out) and for every parameter.

    The layer itself is left untouched: the check runs on float64 copies, each
    forward pass starts from the same copy, so a Dropout mask stays fixed and
    BatchNorm's running statistics are never changed.
    """
    several = isinstance(x, tuple)
    inputs = x if several else (x,)
    xp = get_array_module(inputs[0])
    base = copy.deepcopy(layer).astype(np.float64)
    # our own contiguous copies; labels stay integers
    inputs = tuple(xp.array(a) if _is_integer(a) else xp.array(a, dtype=np.float64) for a in inputs)
    base.forward(*inputs)  # any Dropout now holds its generator: each copy below continues it (no new one a pass)

    def run():
        return copy.deepcopy(base).forward(*inputs)

    dout = generator(seed, xp).standard_normal(run().shape)  # random upstream gradient

    # analytic gradients: one forward and one backward on a fresh copy
    work = copy.deepcopy(base)
    work.forward(*inputs)
    work.zero_grad()
    dxs = work.backward(dout)
    dxs = dxs if several else (dxs,)

    def loss():
        return float((run() * dout).sum())

    if name is None:
        name = repr(layer) if "\n" not in repr(layer) else type(layer).__name__
    report = GradReport(name, tol=tol)
    for i, (a, da) in enumerate(zip(inputs, dxs)):
        if not _is_integer(a):
            report.errors[f"x{i + 1}" if several else "x"] = rel_error(da, numerical_gradient(loss, a, eps), tol, atol)
    for key, p in base.params.items():  # perturbing base's arrays reaches every copy
        report.errors[key] = rel_error(work.grads[key], numerical_gradient(loss, p, eps), tol, atol)
    return report


def _is_integer(a):
    return getattr(a, "dtype", np.dtype(float)).kind in "iu"


# ---- the built-in layers, each at a small shape ------------------------------
def builtin_cases():
    """(name, mode, layer, input) for every built-in layer, in train and eval
    mode where the two differ. Small shapes keep the check under a few seconds."""
    from . import layers as L

    def seq():
        return L.Sequential(
            L.Conv2D(1, 2, 3, stride=2, padding=1), L.BatchNorm(2), L.LeakyReLU(0.2), L.Dropout(0.3),
            L.Flatten(), L.Dense(8, 6), L.ReLU(), L.Dense(6, 8), L.Reshape((2, 2, 2)),
            L.ConvTranspose2D(2, 1, 3, stride=2, padding=1, output_padding=1), L.Tanh(),
        )

    return [
        ("Dense", "train", L.Dense(5, 3), (4, 5)),
        ("Conv2D", "train", L.Conv2D(2, 3, 3), (2, 2, 5, 5)),
        ("Conv2D", "stride 2, pad 2", L.Conv2D(2, 3, 5, stride=2, padding=2), (2, 2, 7, 7)),
        ("ConvTranspose2D", "train", L.ConvTranspose2D(3, 2, 3), (2, 3, 3, 3)),
        ("ConvTranspose2D", "s 2, p 2, op 1", L.ConvTranspose2D(3, 2, 5, stride=2, padding=2, output_padding=1),
         (2, 3, 3, 3)),
        ("BatchNorm", "train (N, C)", L.BatchNorm(3), (6, 3)),
        ("BatchNorm", "train (N,C,H,W)", L.BatchNorm(3), (3, 3, 2, 2)),
        ("BatchNorm", "eval (N,C,H,W)", L.BatchNorm(3).eval(), (3, 3, 2, 2)),
        ("ReLU", "train", L.ReLU(), (4, 5)),
        ("LeakyReLU", "train", L.LeakyReLU(0.2), (4, 5)),
        ("Sigmoid", "train", L.Sigmoid(), (4, 5)),
        ("Tanh", "train", L.Tanh(), (4, 5)),
        ("Dropout", "train", L.Dropout(0.5), (4, 5)),
        ("Dropout", "eval", L.Dropout(0.5).eval(), (4, 5)),
        ("Flatten", "train", L.Flatten(), (2, 3, 2, 2)),
        ("Reshape", "train", L.Reshape((3, 4)), (2, 12)),
        ("Pack", "train", L.Pack(2), (4, 3, 2, 2)),
        ("Sequential", "train", seq(), (3, 1, 4, 4)),
        ("Sequential", "eval", seq().eval(), (3, 1, 4, 4)),
        ("Embedding", "train", L.Embedding(4, 3), Labels(6, 4)),  # 6 labels of 4 classes: some repeat
        ("Concat", "features", L.Concat(), [(4, 3), (4, 2)]),
        ("Concat", "channels", L.Concat(), [(2, 1, 3, 3), (2, 2, 3, 3)]),
        ("Projection", "train", L.Projection(), [(4, 5), (4, 5)]),
        ("ConditionalBatchNorm", "train (N, C)", L.ConditionalBatchNorm(3, 4), [(6, 3), Labels(6, 4)]),
        ("ConditionalBatchNorm", "train (N,C,H,W)", L.ConditionalBatchNorm(3, 4), [(3, 3, 2, 2), Labels(3, 4)]),
        ("ConditionalBatchNorm", "eval (N,C,H,W)", L.ConditionalBatchNorm(3, 4).eval(), [(3, 3, 2, 2), Labels(3, 4)]),
    ]


@dataclass
class Labels:
    """An input of ``n`` integer class labels in 0..classes-1 (for Embedding)."""

    n: int
    classes: int


def make_input(spec, rng):
    """The input a case names: a shape gives floats pushed 0.1 away from 0 (off ReLU's
    kink), Labels gives int64 labels, a list gives a tuple of inputs."""
    if isinstance(spec, list):
        return tuple(make_input(s, rng) for s in spec)
    if isinstance(spec, Labels):
        return rng.integers(0, spec.classes, size=spec.n)
    x = rng.standard_normal(spec)
    return x + 0.1 * np.sign(x)


def check_builtin(names=None, seed=0):
    """Check the built-in layers (all, or those whose name is in ``names``, any case).

    Returns a list of (name, mode, GradReport). Inputs are drawn away from 0
    (|x| >= 0.1) so no entry sits on ReLU's kink.
    """
    wanted = {n.lower() for n in names} if names else None
    rng = np.random.default_rng(seed)
    results = []
    for name, mode, layer, spec in builtin_cases():
        if wanted is not None and name.lower() not in wanted:
            continue
        results.append((name, mode, check_layer(layer, make_input(spec, rng), seed=seed, name=name)))
    return results


def builtin_names():
    return sorted({case[0] for case in builtin_cases()})
