"""Checkers for the course's exercises: write a piece of minigan yourself, then

    from minigan.exercises import check
    check("batchnorm_backward", my_batchnorm_backward)

``check`` runs your function on a few random float64 inputs, compares every
output with what it must be, prints "correct" or, for each wrong output, what is
wrong with a hint, and returns True or False. It never raises because an answer
is wrong (only for an exercise name it does not know).

The exercises and the function each one expects (shapes in the docstrings of
the checkers below):

    notebook 02  sigmoid_backward(dout, y) -> dx
                 tanh_backward(dout, y) -> dx
                 leaky_relu_backward(dout, x, alpha) -> dx
                 dense_backward(dout, x, W) -> (dx, dW, db)
    notebook 03  numerical_gradient(f, x, eps=1e-6) -> grad
                 relative_error(a, b) -> float
    notebook 04  conv2d_backward(dout, cols, W, x_shape, stride, padding) -> (dx, dW)
                 conv_transpose2d_forward(x, W, stride, padding, output_padding=0) -> y
    notebook 05  batchnorm_backward(dout, x_hat, gamma, inv_std) -> (dx, dgamma, dbeta)
    notebook 06  nonsaturating_g_loss(logits_fake) -> (loss, dlogits)
    notebook 08  embedding_backward(dout, y, num_embeddings) -> dW

How an answer is graded, without a copy of the answer: every expected output
comes from a property the answer must have, computed here from the forward pass.

    a backward pass       central differences of its forward pass (notebook 03's
                          own tool): dx[i] = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
                          for L = sum(dout * forward(x))
    the transposed conv   the adjoint identity <convT(x), v> = <x, conv(v)>, with v
                          running over the basis of the output
    the losses            a closed form for the value, central differences for the gradient
    the embedding         central differences of its forward W -> W[y], in the table W
    numerical_gradient    the exact derivatives of two functions
    relative_error        values worked out by hand

Outputs must have the expected shapes and agree entry by entry within the
library's gradient-check rule (``gradcheck.rel_error``: relative error below 1e-6,
or absolute below 1e-8 for entries near 0). For each wrong output the checker
compares it with the classic mistakes for that output and, if one matches,
names it; a hint only ever speaks of an output that is wrong.

Adding an exercise (notebooks/README.md shows a whole one): write its forward
pass, compute the expected outputs with ``numerical_backward`` (or another
property), list ``Mistake``s, and call ``grade``.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

from .gradcheck import ABS_TOLERANCE, TOLERANCE, rel_error
from .layers import col2im, im2col
from .losses import sigmoid, softplus

MATCH_TOLERANCE = 1e-9  # "your output IS this known mistake": two formulas agree to rounding


# ---- the public pieces: a property to grade against, mistakes, grade() ----------------------
def numerical_backward(forward, x, dout, eps=1e-5):
    """The gradient of L = sum(dout * forward(x)) with respect to x, by central differences:

        dx[i] = sum(dout * (forward(x + eps e_i) - forward(x - eps e_i))) / (2 eps)

    which is what a correct backward(dout) returns (notebook 03). One entry of x at a time.
    forward: a function of x alone.   x: a float64 array (not changed).   dout: shaped like forward(x).
    eps: the step. The difference is taken before the sum, so outputs that x[i] does not
    touch add no rounding. For a forward that is linear in x, central differences are
    exact for ANY step, so pass eps=1.0 there and nothing but rounding is left.
    """
    x = np.array(x, dtype=np.float64)  # our own copy, perturbed in place
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = forward(x)
        x[i] = old - eps
        minus = forward(x)
        x[i] = old
        dx[i] = float((dout * (plus - minus)).sum()) / (2 * eps)
    return dx


class Mistake(NamedTuple):
    """A classic mistake for one output: when the learner's ``output`` equals
    ``wrong(*args)`` on a case, ``hint`` is printed under that output's message."""

    output: str  # the output's name, e.g. "db"
    wrong: Callable  # wrong(*args) -> the value that output has when the mistake is made
    hint: str


class _Wrong(Exception):
    """Raised inside a checker to stop at the first wrong case; carries the message."""


def grade(exercise, fn, cases, expected, outputs, mistakes=(), diagnose=None):
    """Grade ``fn`` on every case; print the verdict and return True (correct) or False.

    exercise: the name printed in the verdict
    fn:       the learner's function; it is run on copies of each case's arguments
    cases:    a list of argument tuples for fn (float64 arrays, made with a seeded generator)
    expected: expected(*args) -> the right outputs (a tuple when there are several), computed
              from a property, never from a copy of the answer: numerical_backward, an identity
    outputs:  the outputs' names, e.g. ("dx", "dW", "db"); each wrong one gets its own message
    mistakes: Mistakes to name when an output equals a known wrong value
    diagnose: optional diagnose(output, args, got, want) -> a hint or None, asked about a wrong
              output that no Mistake matched
    """

    def run():
        worst = 0.0
        for args in cases:
            outs = _unpack(_call(fn, args), outputs)
            wants = _unpack(expected(*_copy(args)), outputs)
            _explain(outs, wants, args, outputs, mistakes, diagnose)
            worst = max(worst, *(_error(g, w) for g, w in zip(outs, wants, strict=True)))
        return f"{len(cases)} random cases, largest relative error {worst:.1e}"

    return _report(exercise, run)


# ---- grading machinery ----------------------------------------------------------
def _rng():
    return np.random.default_rng(12345)


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _error(got, want, tol=TOLERANCE, atol=ABS_TOLERANCE):
    """gradcheck's relative error (absolute for entries near 0), for arrays or plain numbers."""
    return rel_error(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), tol, atol)


def _call(fn, args, kwargs=None, copy=True):
    """Run the learner's fn on copies of args (on args themselves when copy=False);
    complain if it raises or edits its inputs."""
    kept = _copy(args)
    given = _copy(args) if copy else args
    try:
        # a naive formula may overflow; we want to explain the inf, not drown it in warnings
        with np.errstate(all="ignore"):
            out = fn(*given, **(kwargs or {}))
    except NotImplementedError:
        raise _Wrong(
            "not implemented yet: replace `raise NotImplementedError` with your code, then run the cell again."
        ) from None
    except Exception as e:  # a wrong answer, not a crash of the checker: report it
        raise _Wrong(f"your function raised {type(e).__name__}: {e}") from None
    for i, (before, after) in enumerate(zip(kept, given, strict=True)):
        if copy and isinstance(before, np.ndarray) and not np.array_equal(before, after):
            raise _Wrong(
                f"your function changed its argument number {i + 1} in place; compute new arrays instead "
                "(the caller may still need the old values)."
            )
    return out


def _unpack(out, names):
    """The learner's return value as a tuple with one entry per expected output."""
    if len(names) == 1:
        if isinstance(out, (tuple, list)):
            raise _Wrong(f"return just {names[0]}, one array, not a {type(out).__name__} of {len(out)} things.")
        return (out,)
    if not isinstance(out, (tuple, list)) or len(out) != len(names):
        got = f"a {type(out).__name__} of {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        raise _Wrong(f"return the tuple ({', '.join(names)}); got {got}.")
    return tuple(out)


def _compare(name, got, want):
    """None when ``got`` matches ``want``, else a sentence saying how it differs."""
    if got is None:
        return f"{name} is None: did you forget to `return` it?"
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{name} should be an array of numbers, got {type(got).__name__}."
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        msg = f"{name} has shape {got.shape}, expected {want.shape}"
        if got.ndim == 2 and got.shape == want.shape[::-1]:
            msg += ": that is the transpose; check the order of the factors in the matrix product."
        elif got.size == want.size:
            msg += ": the right number of entries, so reshape it."
        elif want.ndim == 1 and got.ndim == 2 and got.shape[1:] == want.shape:
            msg += ": sum over the batch axis 0 (every example adds to the same parameter)."
        return msg if msg.endswith(".") else msg + "."
    if not np.all(np.isfinite(got)):
        return (f"{name} contains inf or nan: a division by 0, an exp that overflowed, "
                "or the log of 0 somewhere?")  # fmt: skip
    err = _error(got, want)
    if err < TOLERANCE:
        return None
    if not np.any(got) and np.any(want):
        return f"{name} is all zeros: is it still the stub?"
    if _error(-got, want) < TOLERANCE:
        return f"{name} has the wrong sign everywhere."
    scale = float((got * want).sum() / (want * want).sum()) if np.any(want) else 0.0
    if want.size > 1 and scale != 0 and _error(got, scale * want) < TOLERANCE:  # (one number is always a multiple)
        return (f"{name} is {scale:.4g} times the right answer: a missing or extra factor "
                "(a mean instead of a sum, a 1/N, a 2?).")  # fmt: skip
    if want.ndim == 0:
        return f"{name} is off: got {float(got):.6g}, expected {float(want):.6g}."
    diff = np.abs(got - want)
    at = np.unravel_index(int(diff.argmax()), diff.shape)
    index = tuple(int(i) for i in at)
    return (f"{name} is off: max relative error {err:.2e} (tolerance {TOLERANCE:.0e}); "
            f"for example at index {index} you have {got[at]:.6g}, the answer is {want[at]:.6g}.")  # fmt: skip


def _quietly(wrong_fn, args):
    """A known mistake's value on args, or None when that mistake cannot even run on them."""
    try:
        with np.errstate(all="ignore"):
            return wrong_fn(*args)
    except Exception:
        return None


def _same(got, wrong):
    """True when got has wrong's shape and equals it to rounding (both finite)."""
    if wrong is None:
        return False
    try:
        got = np.asarray(got, dtype=np.float64)
        wrong = np.asarray(wrong, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if got.shape != wrong.shape or not np.all(np.isfinite(got)) or not np.all(np.isfinite(wrong)):
        return False
    return _error(got, wrong, MATCH_TOLERANCE, MATCH_TOLERANCE * 1e-3) < MATCH_TOLERANCE


def _explain(outs, wants, args, names, mistakes, diagnose):
    """Raise _Wrong with one message per wrong output (and its hint, if any); return if all are right."""
    lines, hints_given, right = [], set(), []
    for name, got, want in zip(names, outs, wants, strict=True):
        problem = _compare(name, got, want)
        if problem is None:
            right.append(name)
            continue
        hint = next((m.hint for m in mistakes if m.output == name and _same(got, _quietly(m.wrong, _copy(args)))),
                    None)  # fmt: skip
        if hint is None and diagnose is not None:
            hint = diagnose(name, args, got, want)
        lines.append(problem)
        if hint and hint not in hints_given:  # one mistake can spoil two outputs: say it once
            lines.append(f"  Hint: {hint}")
            hints_given.add(hint)
    if lines:
        if right:
            lines.append(f"({', '.join(right)} {'is' if len(right) == 1 else 'are'} right.)")
        raise _Wrong("\n  ".join(lines))


def _report(name, run):
    """Run a grading function; print the verdict and return True/False."""
    try:
        detail = run()
    except _Wrong as e:
        print(f"{name}: not yet.\n  {e}")
        return False
    print(f"{name}: correct! ({detail})")
    return True


# ---- notebook 02: activations and Dense ---------------------------------------------
def check_sigmoid_backward(fn):
    """fn(dout, y) -> dx, where y = sigmoid(x) is what forward kept.   dy/dx = y (1 - y).

    dout, y, dx: the same shape (any). Expected: central differences of sigmoid at x = log(y / (1 - y)).
    """
    rng = _rng()
    cases = []
    for shape in [(4, 5), (3, 2, 6)]:
        y = 1 / (1 + np.exp(-3 * rng.standard_normal(shape)))
        cases.append((rng.standard_normal(shape), y))

    def expected(dout, y):
        x = np.log(y) - np.log1p(-y)  # the x that forward saw
        return numerical_backward(lambda x: 1 / (1 + np.exp(-x)), x, dout)

    mistakes = [
        Mistake("dx", lambda dout, y: dout * y, "dy/dx = y * (1 - y): you have only the y."),
        Mistake("dx", lambda dout, y: dout * (1 - y), "dy/dx = y * (1 - y): you have only the (1 - y)."),
        Mistake("dx", lambda dout, y: y * (1 - y), "multiply the local derivative by dout (the chain rule)."),
        Mistake("dx", lambda dout, y: dout * (1 / (1 + np.exp(-y))) * (1 - 1 / (1 + np.exp(-y))),
                "y is already sigmoid(x): do not apply the sigmoid to it again."),
    ]  # fmt: skip
    return grade("sigmoid_backward", fn, cases, expected, ("dx",), mistakes)


def check_tanh_backward(fn):
    """fn(dout, y) -> dx, where y = tanh(x) is what forward kept.   dy/dx = 1 - y^2.

    dout, y, dx: the same shape (any). Expected: central differences of tanh at x = arctanh(y).
    """
    rng = _rng()
    cases = [(rng.standard_normal(s), np.tanh(2 * rng.standard_normal(s))) for s in [(4, 5), (2, 3, 4)]]

    def expected(dout, y):
        return numerical_backward(np.tanh, np.arctanh(y), dout)

    mistakes = [
        Mistake("dx", lambda dout, y: dout * (1 - y), "dy/dx = 1 - y**2: square y."),
        Mistake("dx", lambda dout, y: dout * (1 - np.tanh(y) ** 2),
                "y is already tanh(x): do not apply tanh to it again."),
        Mistake("dx", lambda dout, y: 1 - y * y, "multiply the local derivative by dout (the chain rule)."),
    ]  # fmt: skip
    return grade("tanh_backward", fn, cases, expected, ("dx",), mistakes)


def check_leaky_relu_backward(fn):
    """fn(dout, x, alpha) -> dx.   dy/dx = 1 where x > 0, alpha elsewhere.

    dout, x, dx: the same shape (any); alpha: a float in (0, 1).
    Expected: central differences of the forward (exact: it is linear on each side, and no x is near 0).
    """
    rng = _rng()
    cases = [(rng.standard_normal(s), rng.standard_normal(s), a) for s, a in [((4, 5), 0.2), ((2, 3, 4), 0.01)]]

    def expected(dout, x, alpha):
        return numerical_backward(lambda x: np.where(x > 0, x, alpha * x), x, dout, eps=1e-6)

    mistakes = [
        Mistake("dx", lambda dout, x, a: dout, "on the negative side (x <= 0) the slope is alpha, not 1."),
        Mistake("dx", lambda dout, x, a: dout * (x > 0),
                "that is ReLU's backward: on the negative side the slope is alpha, not 0."),
        Mistake("dx", lambda dout, x, a: np.where(x > 0, a * dout, dout),
                "the two slopes are swapped: 1 for x > 0, alpha below."),
        Mistake("dx", lambda dout, x, a: np.where(x > 0, x, a * x),
                "that is the forward pass; backward multiplies dout by the slope."),
    ]  # fmt: skip
    return grade("leaky_relu_backward", fn, cases, expected, ("dx",), mistakes)


def check_dense_backward(fn):
    """fn(dout, x, W) -> (dx, dW, db) for y = x @ W + b.

    dout: (N, out)   x: (N, in)   W: (in, out)
    dx: (N, in)   dW: (in, out)   db: (out,)
    Expected: central differences of x @ W + b in x, W and b (exact for any step: y is linear in each).
    """
    rng = _rng()
    cases = [tuple(rng.standard_normal(s) for s in [(n, o), (n, i), (i, o)]) for n, i, o in [(4, 5, 3), (7, 2, 6)]]

    def expected(dout, x, W):
        b = np.zeros(W.shape[1])
        dx = numerical_backward(lambda x: x @ W + b, x, dout, eps=1.0)
        dW = numerical_backward(lambda W: x @ W + b, W, dout, eps=1.0)
        db = numerical_backward(lambda b: x @ W + b, b, dout, eps=1.0)
        return dx, dW, db

    mistakes = [
        Mistake("db", lambda dout, x, W: dout.mean(axis=0),
                "db sums dout over the batch (each example adds its own gradient), it does not average it."),
    ]  # fmt: skip
    return grade("dense_backward", fn, cases, expected, ("dx", "dW", "db"), mistakes)


# ---- notebook 03: gradient checking ----------------------------------------------------
def _forward_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    f0 = f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        grad[i] = (f() - f0) / eps
        x[i] = old
    return grad


def _per_row_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in range(len(x)):  # perturbs a whole row at a time
        old = x[i].copy()
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_numerical_gradient(fn):
    """fn(f, x, eps=1e-6) -> grad, central differences: grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).

    f: a function of no arguments that reads x and returns a float.
    x: a float64 array of any shape; fn changes one entry at a time IN PLACE and
       must put it back. grad: shaped like x.
    Graded against the exact derivatives of two functions, with eps = 1e-5.
    """
    rng = _rng()
    eps = 1e-5
    w = rng.standard_normal((3, 4))
    A = rng.standard_normal((5, 5))
    A = A + A.T  # symmetric: the gradient of 0.5 x.A.x is A x
    cases = [
        ("f = sum(w * tanh(x)), x of shape (3, 4)", rng.standard_normal((3, 4)),
         lambda x: float((w * np.tanh(x)).sum()), lambda x: w * (1 - np.tanh(x) ** 2)),
        ("f = 0.5 * x @ A @ x, x of shape (5,)", rng.standard_normal(5),
         lambda x: float(0.5 * x @ A @ x), lambda x: A @ x),
    ]  # fmt: skip

    mistakes = [
        (_forward_difference, "that is the forward difference (f(x + eps) - f(x)) / eps, accurate only "
                              "to O(eps); use the central difference (f(x + eps) - f(x - eps)) / (2 eps)."),
        (_per_row_difference, "perturb ONE entry at a time (loop over np.ndindex(x.shape), or over "
                              "x.reshape(-1)), not a whole row."),
    ]  # fmt: skip

    def run():
        worst = 0.0
        for what, x0, f_of, grad_of in cases:
            x = x0.copy()
            got = _call(fn, (partial(f_of, x), x), {"eps": eps}, copy=False)  # f() reads x, which fn perturbs
            if np.abs(x - x0).max() > 1e-12:
                raise _Wrong(f"for {what}: x was not restored. After each entry's two evaluations, put "
                             "its old value back (f reads x, so every later evaluation would be off).")  # fmt: skip
            problem = _compare("grad", got, grad_of(x0))
            if problem:
                for wrong_fn, hint in mistakes:
                    x_try = x0.copy()
                    if _same(got, wrong_fn(partial(f_of, x_try), x_try, eps)):
                        problem += f"\n  Hint: {hint}"
                        break
                raise _Wrong(f"for {what}: {problem}")
            worst = max(worst, _error(got, grad_of(x0)))
        return f"{len(cases)} functions, largest relative error against the exact gradient {worst:.1e}"

    return _report("numerical_gradient", run)


def check_relative_error(fn):
    """fn(a, b) -> a float: max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-12).

    a, b: float arrays of the same shape. 0 when equal, 1 when every entry differs in sign.
    Expected: each case's value worked out by hand (in the comment beside it).
    """
    rng = _rng()
    a = rng.standard_normal((4, 3))
    r = rng.uniform(1e-7, 1e-6, (4, 3))
    cases = [  # (what, a, b, the value, the hint when the answer is inf or nan)
        # b = a (1 + r), r > 0: entry error |a r| / (|a| + |a| (1 + r)) = r / (2 + r)
        ("nearly equal arrays", a, a * (1 + r), float((r / (2 + r)).max()), None),
        # entry by entry: 2e-3 / 2e-3 = 1, 0 / 4 = 0, 0.1 / 2.1
        ("entries of opposite signs", np.array([1e-3, 2.0, -1.0]), np.array([-1e-3, 2.0, -1.1]), 1.0,
         "the denominator is |a| + |b| per entry; |a + b| is 0 where a = -b."),
        # 0 / max(0, 1e-12) = 0
        ("two arrays of zeros", np.zeros(5), np.zeros(5), 0.0,
         "with a = b = 0 you computed 0 / 0: floor the denominator, max(|a| + |b|, 1e-12)."),
        # 2 / 4 and 0 / 2
        ("a = [3, 1], b = [1, 1]", np.array([3.0, 1.0]), np.array([1.0, 1.0]), 0.5, None),
    ]  # fmt: skip
    mistakes = [
        (lambda a, b: (np.abs(a - b) / np.maximum(np.abs(a + b), 1e-12)).max(),
         "the denominator is |a| + |b|, not |a + b| (which is 0 when the signs differ)."),
        (lambda a, b: (np.abs(a - b) / np.maximum(np.abs(a), 1e-12)).max(),
         "divide by |a| + |b|, so the measure is symmetric and safe when a is 0."),
        (lambda a, b: (np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)).mean(),
         "take the max over the entries, not the mean: one wrong entry is a wrong gradient."),
    ]  # fmt: skip

    def run():
        for what, a, b, value, hint_if_infinite in cases:
            got = _call(fn, (a, b))
            if np.ndim(got) != 0:
                raise _Wrong(f"for {what}: return one number (the max over all entries), "
                             f"got an array of shape {np.shape(got)}.")  # fmt: skip
            problem = _compare("the relative error", got, value)
            if not problem:
                continue
            if hint_if_infinite and "inf or nan" in problem:
                raise _Wrong(f"for {what}: the relative error is {got}: a division by 0.\n  Hint: {hint_if_infinite}")
            for wrong_fn, hint in mistakes:
                if _same(got, _quietly(wrong_fn, (a, b))):
                    raise _Wrong(f"for {what}: {problem}\n  Hint: {hint}")
            raise _Wrong(f"for {what}: {problem}")
        return f"{len(cases)} cases, including zeros and opposite signs"

    return _report("relative_error", run)


# ---- notebook 04: convolutions ------------------------------------------------------------
def _conv(x, W, stride, padding):
    """A plain convolution to grade against, written without im2col: every output pixel is
    the sum of its k x k window of the padded input times the kernel.
    x: (N, C_in, h, w)   W: (C_out, C_in, k, k)   ->   (N, C_out, ho, wo)
    """
    k = W.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C_in, h', w', k, k)
    return np.einsum("nchwij,ocij->nohw", windows[:, :, ::stride, ::stride], W)


_CONV_SETTINGS = [  # (N, C_in, C_out, h, k, stride, padding)
    (2, 3, 4, 5, 3, 1, 0),
    (2, 2, 3, 7, 3, 2, 1),
    (3, 2, 2, 8, 5, 2, 2),
]


def _conv_cases(rng):
    cases = []
    for N, C_in, C_out, h, k, s, p in _CONV_SETTINGS:
        x = rng.standard_normal((N, C_in, h, h))
        W = rng.standard_normal((C_out, C_in, k, k))
        ho = (h + 2 * p - k) // s + 1
        dout = rng.standard_normal((N, C_out, ho, ho))
        cases.append((dout, im2col(x, k, s, p), W, x.shape, s, p))
    return cases


def _conv2d_backward_no_transpose(dout, cols, W, x_shape, stride, padding):
    C_out, k = W.shape[0], W.shape[2]
    dy = dout.reshape(C_out, -1)  # the mistake: mixes examples and channels when N > 1
    dW = (dy @ cols.T).reshape(W.shape)
    return col2im(W.reshape(C_out, -1).T @ dy, x_shape, k, stride, padding), dW


def check_conv2d_backward(fn):
    """fn(dout, cols, W, x_shape, stride, padding) -> (dx, dW) for a Conv2D without bias.

    The forward pass was
        cols = im2col(x, k, stride, padding)              (C_in*k*k, N*ho*wo)
        y    = (W_cols @ cols) as (N, C_out, ho, wo),   W_cols = W.reshape(C_out, C_in*k*k)
    dout: (N, C_out, ho, wo)   cols: (C_in*k*k, N*ho*wo)   W: (C_out, C_in, k, k)
    x_shape: (N, C_in, h, w)   dx: (N, C_in, h, w)   dW: like W.
    Use ``col2im`` from ``minigan.layers`` for dx.
    Expected: central differences of the convolution, in x (of a plain convolution written here)
    and in W (of the forward above); exact for any step, as y is linear in each.
    """
    cases = _conv_cases(_rng())

    def expected(dout, cols, W, x_shape, stride, padding):
        C_out = W.shape[0]

        def from_cols(W):  # the forward above, as a function of W
            N, _, ho, wo = dout.shape
            return (W.reshape(C_out, -1) @ cols).reshape(C_out, N, ho, wo).transpose(1, 0, 2, 3)

        x_any = np.zeros(x_shape)  # dL/dx does not depend on x: y is linear in x
        dx = numerical_backward(lambda x: _conv(x, W, stride, padding), x_any, dout, eps=1.0)
        dW = numerical_backward(from_cols, W, dout, eps=1.0)
        return dx, dW

    hint = ("dout is (N, C_out, ho, wo) but the matrix product needs (C_out, N*ho*wo), channels first: "
            "dout.transpose(1, 0, 2, 3).reshape(C_out, -1). A reshape alone mixes examples and channels.")  # fmt: skip
    mistakes = [
        Mistake("dx", lambda *args: _conv2d_backward_no_transpose(*args)[0], hint),
        Mistake("dW", lambda *args: _conv2d_backward_no_transpose(*args)[1], hint),
    ]
    return grade("conv2d_backward", fn, cases, expected, ("dx", "dW"), mistakes)


def _conv_transpose2d_no_transpose(x, W, stride, padding, output_padding=0):
    N, C_in, h, w = x.shape
    C_out, k = W.shape[1], W.shape[2]
    ho = (h - 1) * stride - 2 * padding + k + output_padding
    wo = (w - 1) * stride - 2 * padding + k + output_padding
    cols = W.reshape(C_in, -1).T @ x.reshape(C_in, -1)  # the mistake
    return col2im(cols, (N, C_out, ho, wo), k, stride, padding)


def check_conv_transpose2d_forward(fn):
    """fn(x, W, stride, padding, output_padding=0) -> y for a ConvTranspose2D without bias.

    x: (N, C_in, h, w)   W: (C_in, C_out, k, k)   (PyTorch's layout)
    y: (N, C_out, ho, wo),  ho = (h - 1) * stride - 2 * padding + k + output_padding
    It is Conv2D's input gradient used as a forward pass: cols = W_cols.T @ x_cols, then col2im
    (W_cols = W.reshape(C_in, C_out*k*k), x_cols = x as (C_in, N*h*w)).
    Expected: the adjoint identity <convT(x), v> = <x, conv(v)> for every basis vector v of the
    output, conv being the plain convolution from C_out to C_in channels with the same W.
    """
    rng = _rng()
    cases = []
    settings = [(2, 3, 2, 4, 3, 2, 1, 1), (2, 2, 3, 3, 5, 2, 2, 1), (3, 2, 2, 4, 3, 1, 0, 0)]
    for N, C_in, C_out, h, k, s, p, op in settings:  # (N, C_in, C_out, h, k, stride, padding, output_padding)
        cases.append((rng.standard_normal((N, C_in, h, h)), rng.standard_normal((C_in, C_out, k, k)), s, p, op))

    def expected(x, W, stride, padding, output_padding=0):
        N, _, h, w = x.shape
        C_out, k = W.shape[1], W.shape[2]
        ho = (h - 1) * stride - 2 * padding + k + output_padding
        wo = (w - 1) * stride - 2 * padding + k + output_padding
        size = C_out * ho * wo
        basis = np.eye(size).reshape(size, C_out, ho, wo)  # every v = e_j of one example's output
        conv_basis = _conv(basis, W, stride, padding)  # (size, C_in, h, w): conv(e_j)
        y = x.reshape(N, -1) @ conv_basis.reshape(size, -1).T  # y[n, j] = <x[n], conv(e_j)>
        return y.reshape(N, C_out, ho, wo)

    mistakes = [
        Mistake("y", _conv_transpose2d_no_transpose,
                "x is (N, C_in, h, w) but the product needs (C_in, N*h*w), channels first: "
                "x.transpose(1, 0, 2, 3).reshape(C_in, -1). A reshape alone mixes examples and channels."),
    ]  # fmt: skip

    def diagnose(output, args, got, want):
        got_shape, want_shape, op = np.shape(got), np.shape(want), args[4]
        if len(got_shape) == 4 and op and got_shape[2] == want_shape[2] - op:
            return "add output_padding to the output size: ho = (h - 1) * stride - 2 * padding + k + output_padding."
        return None

    return grade("conv_transpose2d_forward", fn, cases, expected, ("y",), mistakes, diagnose)


# ---- notebook 05: batch normalisation -------------------------------------------------------
BATCHNORM_EPS = 1e-5


def _batchnorm_cases(rng):
    cases = []
    for N, C in [(6, 4), (10, 3)]:
        x = 2 * rng.standard_normal((N, C)) + 1
        inv_std = 1 / np.sqrt(x.var(axis=0) + BATCHNORM_EPS)  # (C,)
        x_hat = (x - x.mean(axis=0)) * inv_std
        gamma = rng.uniform(0.5, 2.0, C)
        cases.append((rng.standard_normal((N, C)), x_hat, gamma, inv_std))
    return cases


def check_batchnorm_backward(fn):
    """fn(dout, x_hat, gamma, inv_std) -> (dx, dgamma, dbeta), BatchNorm in training mode on (N, C).

    Forward: x_hat = (x - mean) * inv_std, inv_std = 1 / sqrt(var + eps), y = gamma * x_hat + beta,
    with mean and var over the batch (axis 0).
    dout, x_hat, dx: (N, C)   gamma, inv_std, dgamma, dbeta: (C,)
    Expected: central differences of the forward in x (any x with these x_hat and inv_std will do,
    as the forward ignores a shift: x = x_hat / inv_std), in gamma and in beta.
    """
    cases = _batchnorm_cases(_rng())

    def expected(dout, x_hat, gamma, inv_std):
        def forward(x):
            centred = x - x.mean(axis=0)
            return gamma * centred / np.sqrt((centred**2).mean(axis=0) + BATCHNORM_EPS)

        beta = np.zeros_like(gamma)
        dx = numerical_backward(forward, x_hat / inv_std, dout)
        dgamma = numerical_backward(lambda gamma: gamma * x_hat + beta, gamma, dout, eps=1.0)  # linear in gamma
        dbeta = numerical_backward(lambda beta: gamma * x_hat + beta, beta, dout, eps=1.0)  # and in beta
        return dx, dgamma, dbeta

    mistakes = [
        Mistake("dx", lambda dout, x_hat, gamma, inv_std: gamma * inv_std * dout,
                "that is the eval-mode gradient. In training the batch mean and variance depend on x too: "
                "dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat))."),
        Mistake("dx", lambda dout, x_hat, gamma, inv_std: gamma * inv_std * (dout - x_hat * (dout * x_hat).mean(0)),
                "dx misses the - mean(dout) term, which comes from the batch mean depending on x."),
        Mistake("dgamma", lambda dout, x_hat, gamma, inv_std: dout.sum(0),
                "that is sum(dout), beta's gradient: are dgamma and dbeta swapped? gamma multiplies x_hat, "
                "so each dout counts times its x_hat."),
        Mistake("dbeta", lambda dout, x_hat, gamma, inv_std: (dout * x_hat).sum(0),
                "that is sum(dout * x_hat), gamma's gradient: are dgamma and dbeta swapped? beta is added "
                "as it is, so each dout counts once."),
    ]  # fmt: skip

    def diagnose(output, args, got, want):
        """Is dx wrong by (a multiple of) x_hat in each channel? Then the variance term is the culprit."""
        if output != "dx":
            return None
        x_hat = args[1]
        residual = np.asarray(got, dtype=np.float64) - want
        if residual.shape != x_hat.shape or not np.any(residual):
            return None
        coef = (residual * x_hat).sum(0) / (x_hat * x_hat).sum(0)  # least squares, per channel
        if np.abs(residual - coef * x_hat).max() < 1e-6 * max(1.0, np.abs(want).max()):
            return ("dx is off by a term proportional to x_hat: did you forget (or get wrong) the "
                    "- x_hat * mean(dout * x_hat) term? It comes from the variance depending on x.")  # fmt: skip
        return None

    return grade("batchnorm_backward", fn, cases, expected, ("dx", "dgamma", "dbeta"), mistakes, diagnose)


# ---- notebook 06: the generator's loss ------------------------------------------------------
def check_nonsaturating_g_loss(fn):
    """fn(logits_fake) -> (loss, dlogits): the non-saturating generator loss from D's logits.

    logits_fake: (N, 1), D's logits on generated samples; D(G(z)) = sigmoid(logit).
    loss = -mean(log sigmoid(logits_fake)), a float;  dlogits: (N, 1), dloss/dlogits.
    One of the cases holds logits of +-1000, where a formula that forms sigmoid first overflows.
    Expected: the loss from its closed form -log sigmoid(l) = log(1 + exp(-l)) (NumPy's
    logaddexp(0, -l), which never overflows); dlogits by central differences of that loss.
    """
    rng = _rng()
    cases = [
        (3 * rng.standard_normal((8, 1)),),
        (rng.standard_normal((5, 1)) - 4,),
        (np.array([[-1000.0], [-30.0], [0.0], [30.0], [1000.0]]),),
    ]

    def expected(logits):
        def each(t):  # each example's share of the mean
            return np.logaddexp(0, -t) / t.size

        return float(each(logits).sum()), numerical_backward(each, logits, np.ones_like(logits))

    mistakes = [
        Mistake("dlogits", lambda t: -sigmoid(t) / t.size,
                "dlogits is the SATURATING gradient -sigmoid(l) / N, which vanishes when D rejects the fakes. "
                "The derivative of -log sigmoid(l) is sigmoid(l) - 1, divided by N for the mean."),
        Mistake("loss", lambda t: float(-softplus(t).mean()),
                "that is the saturating (minimax) loss log(1 - D(G(z))). The non-saturating one is "
                "-log D(G(z)) = -log sigmoid(l) = softplus(-l)."),
    ]  # fmt: skip

    def diagnose(output, args, got, want):
        got = np.asarray(got, dtype=np.float64)
        if not np.all(np.isfinite(got)):
            return ("compute the loss without forming sigmoid first: -log sigmoid(l) = softplus(-l) "
                    "= max(-l, 0) + log1p(exp(-|l|)), and the sigmoid itself from exp(-|l|).")  # fmt: skip
        n = args[0].size
        if output == "dlogits" and got.shape == np.shape(want) and _error(got, n * want) < TOLERANCE:
            return "dlogits is N times too large: the loss is a MEAN over the batch, so divide by N = logits.size."
        return None

    return grade("nonsaturating_g_loss", fn, cases, expected, ("loss", "dlogits"), mistakes, diagnose)


# ---- notebook 08: a label's embedding -------------------------------------------------------
def _embedding_assigned(dout, y, num_embeddings):
    """dW[y] = dout (or dW[y] += dout, which NumPy buffers): a repeated label keeps one gradient."""
    dW = np.zeros((num_embeddings, dout.shape[1]))
    dW[y] = dout
    return dW


def _embedding_averaged(dout, y, num_embeddings):
    """Each class's gradients averaged instead of summed."""
    one_hot = (y[:, None] == np.arange(num_embeddings)).astype(np.float64)  # (N, K)
    return (one_hot.T @ dout) / np.maximum(one_hot.sum(0), 1)[:, None]


def check_embedding_backward(fn):
    """fn(dout, y, num_embeddings) -> dW for the Embedding e = W[y] (row y[i] of the table W).

    dout: (N, D) the gradient of the loss with respect to e   y: (N,) int64 labels in 0..K-1
    num_embeddings: K, the table's rows.   dW: (K, D), shaped like W.
    The labels repeat in every case (one class three times) and some classes are absent.
    Expected: central differences of the forward W -> W[y] (exact for any step: it is linear in W).
    """
    rng = _rng()
    cases = [
        (rng.standard_normal((6, 4)), np.array([2, 0, 2, 5, 2, 1]), 7),  # 2 three times; 3, 4, 6 never
        (rng.standard_normal((12, 3)), rng.integers(0, 5, size=12), 5),  # 12 labels of 5 classes: repeats
    ]

    def expected(dout, y, num_embeddings):
        table = np.zeros((num_embeddings, dout.shape[1]))  # its values do not matter: W[y] is linear in W
        return numerical_backward(lambda W: W[y], table, dout, eps=1.0)

    mistakes = [
        Mistake("dW", _embedding_assigned,
                "a label that appears twice in the batch must get BOTH gradients, added. dW[y] = dout keeps only "
                "the last one, and so does dW[y] += dout (NumPy reads all of dW[y] before it writes). "
                "Sum with a matrix product: one_hot(y).T @ dout."),
        Mistake("dW", _embedding_averaged,
                "each row of dW SUMS the gradients of the examples with that label (as Dense's dW sums over the "
                "batch); it does not average them."),
    ]  # fmt: skip

    def diagnose(output, args, got, want):
        dout = args[0]
        if np.shape(got) == dout.shape:
            return ("dW is shaped like the table W, (num_embeddings, embedding_dim), not like dout: "
                    "row i of dout belongs to row y[i] of dW.")  # fmt: skip
        return None

    return grade("embedding_backward", fn, cases, expected, ("dW",), mistakes, diagnose)


# ---- the one entry point ---------------------------------------------------------------------
CHECKERS = {
    "sigmoid_backward": check_sigmoid_backward,
    "tanh_backward": check_tanh_backward,
    "leaky_relu_backward": check_leaky_relu_backward,
    "dense_backward": check_dense_backward,
    "numerical_gradient": check_numerical_gradient,
    "relative_error": check_relative_error,
    "conv2d_backward": check_conv2d_backward,
    "conv_transpose2d_forward": check_conv_transpose2d_forward,
    "batchnorm_backward": check_batchnorm_backward,
    "nonsaturating_g_loss": check_nonsaturating_g_loss,
    "embedding_backward": check_embedding_backward,
}


def check(name, fn):
    """Grade your function ``fn`` for the exercise ``name``; prints the verdict, returns True/False.

    Raises ValueError only for an unknown exercise name.
    """
    if name not in CHECKERS:
        raise ValueError(f"no exercise called {name!r}; the exercises are: {', '.join(CHECKERS)}")
    if not callable(fn):
        print(f"{name}: not yet.\n  pass your function itself, e.g. check({name!r}, my_function); "
              f"got {type(fn).__name__}.")  # fmt: skip
        return False
    return CHECKERS[name](fn)
