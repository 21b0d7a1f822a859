"""The exercise checkers: each one FAILS a blank stub, FAILS a plausible wrong answer
(naming the mistake in its hint), and PASSES the reference solution, which lives in
notebooks/solutions.py and which the checkers never import; the reference solutions
themselves agree with the library's layers and with central differences."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.exercises import CHECKERS, check
from minigan.gradcheck import numerical_gradient, rel_error
from minigan.layers import (
    BatchNorm,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Embedding,
    LeakyReLU,
    Sigmoid,
    Tanh,
    col2im,
    im2col,
)
from minigan.losses import NonSaturating, sigmoid

SOLUTIONS_PATH = Path(__file__).resolve().parents[1] / "notebooks" / "solutions.py"


def _load_solutions():
    """The reference solutions, which live beside the notebooks, not in the package."""
    spec = importlib.util.spec_from_file_location("course_solutions", SOLUTIONS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


solutions = _load_solutions()


def stub(*args, **kwargs):
    raise NotImplementedError


# ---- plausible wrong answers, one or more per exercise -------------------------------
def sigmoid_forgot_one_minus_y(dout, y):
    return dout * y


def tanh_forgot_square(dout, y):
    return dout * (1 - y)


def leaky_relu_slope_one(dout, x, alpha):
    return dout  # slope 1 on the negative side too


def dense_dW_transposed(dout, x, W):
    return dout @ W.T, dout.T @ x, dout.sum(axis=0)


def dense_db_mean(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.mean(axis=0)


def forward_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    f0 = f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        grad[i] = (f() - f0) / eps
        x[i] = old
    return grad


def central_difference_not_restored(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps
        f_plus = f()
        x[i] -= 2 * eps
        f_minus = f()  # forgot to put x[i] back
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error_abs_of_sum(a, b):
    return float((np.abs(a - b) / np.abs(a + b)).max())


def relative_error_no_floor(a, b):
    return float((np.abs(a - b) / (np.abs(a) + np.abs(b))).max())


def conv2d_backward_reshape_only(dout, cols, W, x_shape, stride, padding):
    C_out, k = W.shape[0], W.shape[2]
    dy = dout.reshape(C_out, -1)  # should be dout.transpose(1, 0, 2, 3).reshape(C_out, -1)
    return col2im(W.reshape(C_out, -1).T @ dy, x_shape, k, stride, padding), (dy @ cols.T).reshape(W.shape)


def conv2d_backward_dW_not_reshaped(dout, cols, W, x_shape, stride, padding):
    dx, dW = solutions.conv2d_backward(dout, cols, W, x_shape, stride, padding)
    return dx, dW.reshape(W.shape[0], -1)


def conv_transpose_forgot_output_padding(x, W, stride, padding, output_padding=0):
    return solutions.conv_transpose2d_forward(x, W, stride, padding, 0)


def conv_transpose_reshape_only(x, W, stride, padding, output_padding=0):
    N, C_in, H, _ = x.shape
    C_out, k = W.shape[1], W.shape[2]
    Hout = (H - 1) * stride - 2 * padding + k + output_padding
    cols = W.reshape(C_in, -1).T @ x.reshape(C_in, -1)  # should be x.transpose(1, 0, 2, 3).reshape(C_in, -1)
    return col2im(cols, (N, C_out, Hout, Hout), k, stride, padding)


def batchnorm_without_xhat_term(dout, x_hat, gamma, inv_std):
    dx = gamma * inv_std * (dout - dout.mean(axis=0))  # misses - x_hat * mean(dout * x_hat)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def batchnorm_eval_mode(dout, x_hat, gamma, inv_std):
    return gamma * inv_std * dout, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def nonsaturating_with_saturating_gradient(logits):
    loss, _ = solutions.nonsaturating_g_loss(logits)
    return loss, -sigmoid(logits) / logits.size


def nonsaturating_naive(logits):
    d = 1 / (1 + np.exp(-logits))  # overflows for logits of -1000, then log(0)
    return float(-np.log(d).mean()), (d - 1) / logits.size


def embedding_scatter_with_plain_indexing(dout, y, num_embeddings):
    dW = np.zeros((num_embeddings, dout.shape[1]))
    dW[y] += dout  # a repeated label: NumPy reads dW[y] once, so only the last gradient lands
    return dW


def embedding_shaped_like_dout(dout, y, num_embeddings):
    return dout.copy()


WRONG = [  # (exercise, wrong function, a phrase its hint must contain)
    ("sigmoid_backward", sigmoid_forgot_one_minus_y, "y * (1 - y)"),
    ("tanh_backward", tanh_forgot_square, "square y"),
    ("leaky_relu_backward", leaky_relu_slope_one, "slope is alpha, not 1"),
    ("dense_backward", dense_dW_transposed, "transpose"),
    ("dense_backward", dense_db_mean, "sums dout over the batch"),
    ("numerical_gradient", forward_difference, "central difference"),
    ("numerical_gradient", central_difference_not_restored, "not restored"),
    ("relative_error", relative_error_abs_of_sum, "|a + b|"),
    ("relative_error", relative_error_no_floor, "0 / 0"),
    ("conv2d_backward", conv2d_backward_reshape_only, "transpose(1, 0, 2, 3)"),
    ("conv2d_backward", conv2d_backward_dW_not_reshaped, "reshape"),
    ("conv_transpose2d_forward", conv_transpose_forgot_output_padding, "output_padding"),
    ("conv_transpose2d_forward", conv_transpose_reshape_only, "transpose(1, 0, 2, 3)"),
    ("batchnorm_backward", batchnorm_without_xhat_term, "mean(dout * x_hat)"),
    ("batchnorm_backward", batchnorm_eval_mode, "eval-mode"),
    ("nonsaturating_g_loss", nonsaturating_with_saturating_gradient, "SATURATING gradient"),
    ("nonsaturating_g_loss", nonsaturating_naive, "softplus"),
    ("embedding_backward", embedding_scatter_with_plain_indexing, "BOTH gradients"),
    ("embedding_backward", embedding_shaped_like_dout, "shaped like the table W"),
]


# ---- the checkers ----------------------------------------------------------------------
def test_every_exercise_has_a_wrong_answer_here():
    assert {name for name, _, _ in WRONG} == set(CHECKERS)


@pytest.mark.parametrize("name", list(CHECKERS))
def test_checker_passes_the_reference_solution(name, capsys):
    assert check(name, getattr(solutions, name)) is True
    assert f"{name}: correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(CHECKERS))
def test_checker_fails_the_blank_stub(name, capsys):
    assert check(name, stub) is False
    assert "not implemented yet" in capsys.readouterr().out


def _conv_transpose_zeros(x, W, stride, padding, output_padding=0):
    H = (x.shape[2] - 1) * stride - 2 * padding + W.shape[2] + output_padding
    return np.zeros((x.shape[0], W.shape[1], H, H))


ZERO_STUBS = {  # the other kind of blank stub: the right shapes, all zeros
    "sigmoid_backward": lambda dout, y: np.zeros_like(dout),
    "tanh_backward": lambda dout, y: np.zeros_like(dout),
    "leaky_relu_backward": lambda dout, x, alpha: np.zeros_like(dout),
    "dense_backward": lambda dout, x, W: (np.zeros_like(x), np.zeros_like(W), np.zeros(W.shape[1])),
    "numerical_gradient": lambda f, x, eps=1e-6: np.zeros_like(x),
    "relative_error": lambda a, b: 0.0,
    "conv2d_backward": lambda dout, cols, W, x_shape, stride, padding: (np.zeros(x_shape), np.zeros_like(W)),
    "conv_transpose2d_forward": _conv_transpose_zeros,
    "batchnorm_backward": lambda dout, x_hat, gamma, inv_std: (np.zeros_like(dout), 0 * gamma, 0 * gamma),
    "nonsaturating_g_loss": lambda logits: (0.0, np.zeros_like(logits)),
    "embedding_backward": lambda dout, y, num_embeddings: np.zeros((num_embeddings, dout.shape[1])),
}


@pytest.mark.parametrize("name", list(CHECKERS))
def test_checker_fails_a_stub_returning_zeros(name, capsys):
    assert check(name, ZERO_STUBS[name]) is False
    out = capsys.readouterr().out
    assert "not yet" in out
    if name != "relative_error":  # a plain number has no "all zeros" to point at
        assert "all zeros" in out, out


@pytest.mark.parametrize(("name", "wrong", "phrase"), WRONG, ids=[f"{n}-{w.__name__}" for n, w, _ in WRONG])
def test_checker_fails_a_plausible_wrong_answer_with_a_hint(name, wrong, phrase, capsys):
    assert check(name, wrong) is False
    out = capsys.readouterr().out
    assert "not yet" in out
    assert phrase in out, out


def test_the_package_ships_no_solutions():
    assert importlib.util.find_spec("minigan.solutions") is None


def test_check_grades_with_the_solutions_module_hidden():
    """In a fresh interpreter where importing minigan.solutions (or a top-level
    solutions) fails, every checker still grades: the reference passes, the stub fails."""
    script = f"""
import importlib.util, sys
sys.modules["minigan.solutions"] = None  # any import of it raises ImportError
sys.modules["solutions"] = None
from minigan.exercises import CHECKERS, check
spec = importlib.util.spec_from_file_location("course_solutions", {str(SOLUTIONS_PATH)!r})
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)
def stub(*args, **kwargs):
    raise NotImplementedError
for name in CHECKERS:
    assert check(name, getattr(reference, name)) is True, name
    assert check(name, stub) is False, name
print("graded", len(CHECKERS))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"graded {len(CHECKERS)}" in result.stdout


# ---- a hint speaks only of an output that is wrong --------------------------------------
def _batchnorm_dgamma_as_mean(*args):
    dx, dgamma, dbeta = solutions.batchnorm_backward(*args)
    return dx, dgamma / args[0].shape[0], dbeta


def _batchnorm_swapped(*args):
    dx, dgamma, dbeta = solutions.batchnorm_backward(*args)
    return dx, dbeta, dgamma


def _batchnorm_dbeta_not_summed(*args):
    dx, dgamma, _ = solutions.batchnorm_backward(*args)
    return dx, dgamma, args[0]  # dout itself, (N, C)


@pytest.mark.parametrize(
    ("wrong", "wrong_outputs", "phrase"),
    [
        (_batchnorm_dgamma_as_mean, ["dgamma"], "a mean instead of a sum"),
        (_batchnorm_swapped, ["dgamma", "dbeta"], "swapped"),
        (_batchnorm_dbeta_not_summed, ["dbeta"], "sum over the batch axis 0"),
    ],
    ids=["dgamma-mean", "dgamma-dbeta-swapped", "dbeta-not-summed"],
)
def test_batchnorm_hint_speaks_only_of_the_wrong_outputs(wrong, wrong_outputs, phrase, capsys):
    """With dx right, nothing may send the learner to change dx (a zero difference is
    'proportional to x_hat' too, which once produced exactly that hint)."""
    assert check("batchnorm_backward", wrong) is False
    out = capsys.readouterr().out
    assert phrase in out, out
    assert "x_hat * mean(dout * x_hat)" not in out, out
    assert "\n  dx " not in out, out
    for name in wrong_outputs:
        assert f"\n  {name} " in out, out
    assert "dx" in out.splitlines()[-1] and "right" in out.splitlines()[-1], out


MULTI_OUTPUT = {  # exercise -> its outputs, in order
    "dense_backward": ("dx", "dW", "db"),
    "conv2d_backward": ("dx", "dW"),
    "batchnorm_backward": ("dx", "dgamma", "dbeta"),
    "nonsaturating_g_loss": ("loss", "dlogits"),
}


@pytest.mark.parametrize(
    ("name", "spoiled"),
    [(n, i) for n, outs in MULTI_OUTPUT.items() for i in range(len(outs))],
    ids=[f"{n}-{o}" for n, outs in MULTI_OUTPUT.items() for o in outs],
)
def test_only_the_spoiled_output_is_named(name, spoiled, capsys):
    """The reference with ONE output made wrong (plus 0.5 everywhere): the message names that
    output and calls every other one right."""

    def one_wrong(*args):
        outs = list(getattr(solutions, name)(*args))
        outs[spoiled] = outs[spoiled] + 0.5
        return tuple(outs)

    assert check(name, one_wrong) is False
    out = capsys.readouterr().out
    names = MULTI_OUTPUT[name]
    problem_lines = [line for line in out.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert problem_lines[0].startswith(f"  {names[spoiled]} "), out
    others = [n for n in names if n != spoiled and n != names[spoiled]]
    assert not any(line.startswith(f"  {o} ") for line in problem_lines for o in others), out
    assert all(o in problem_lines[-1] for o in others) and "right" in problem_lines[-1], out


def test_checker_reports_an_exception_instead_of_raising(capsys):
    assert check("dense_backward", lambda dout, x, W: (dout @ W, None, None)) is False
    assert "raised ValueError" in capsys.readouterr().out


def test_checker_refuses_a_function_that_edits_its_input(capsys):
    def in_place(dout, y):
        dout *= y * (1 - y)
        return dout

    assert check("sigmoid_backward", in_place) is False
    assert "in place" in capsys.readouterr().out


def test_check_refuses_something_that_is_not_a_function(capsys):
    assert check("tanh_backward", 42) is False
    assert "pass your function" in capsys.readouterr().out


def test_check_raises_on_an_unknown_exercise():
    with pytest.raises(ValueError, match="no exercise called 'softmax_backward'"):
        check("softmax_backward", stub)


# ---- the reference solutions are right ----------------------------------------------------
def test_activation_solutions_match_the_layers():
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for layer, solution in [(Sigmoid(), solutions.sigmoid_backward), (Tanh(), solutions.tanh_backward)]:
        y = layer.forward(x)
        np.testing.assert_allclose(solution(dout, y), layer.backward(dout), rtol=1e-12)
    layer = LeakyReLU(0.2)
    layer.forward(x)
    np.testing.assert_allclose(solutions.leaky_relu_backward(dout, x, 0.2), layer.backward(dout), rtol=1e-12)


def test_dense_solution_matches_the_layer():
    rng = np.random.default_rng(1)
    layer = Dense(5, 3).astype(np.float64)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer.forward(x)
    dx = layer.backward(dout)
    got = solutions.dense_backward(dout, x, layer.params["W"])
    for a, b in zip(got, (dx, layer.grads["W"], layer.grads["b"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_numerical_gradient_solution_matches_the_library():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4))

    def f():
        return float((w * np.sin(x)).sum())

    np.testing.assert_allclose(solutions.numerical_gradient(f, x), numerical_gradient(f, x), rtol=1e-12)
    np.testing.assert_allclose(solutions.numerical_gradient(f, x), w * np.cos(x), rtol=1e-6, atol=1e-9)


def test_relative_error_solution():
    assert solutions.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert solutions.relative_error(np.array([1.0, 2.0]), np.array([-1.0, 2.0])) == 1.0
    assert solutions.relative_error(np.array([3.0]), np.array([1.0])) == 0.5


def test_conv2d_backward_solution_matches_the_layer():
    rng = np.random.default_rng(3)
    layer = Conv2D(2, 3, 3, stride=2, padding=1, bias=False).astype(np.float64)
    x = rng.standard_normal((2, 2, 7, 7))
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    got_dx, got_dW = solutions.conv2d_backward(dout, layer.cols, layer.params["W"], x.shape, 2, 1)
    np.testing.assert_allclose(got_dx, dx, rtol=1e-12)
    np.testing.assert_allclose(got_dW, layer.grads["W"], rtol=1e-12)


def test_conv2d_backward_solution_against_central_differences():
    rng = np.random.default_rng(4)
    x, W = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))

    def conv(x, W):
        cols = im2col(x, 3, 2, 1)
        return (W.reshape(3, -1) @ cols).reshape(3, 2, 3, 3).transpose(1, 0, 2, 3), cols

    y, cols = conv(x, W)
    dout = rng.standard_normal(y.shape)
    dx, dW = solutions.conv2d_backward(dout, cols, W, x.shape, 2, 1)

    def loss():
        return float((conv(x, W)[0] * dout).sum())

    assert rel_error(dx, numerical_gradient(loss, x)) < 1e-6
    assert rel_error(dW, numerical_gradient(loss, W)) < 1e-6


def test_conv_transpose2d_solution_matches_the_layer():
    rng = np.random.default_rng(5)
    layer = ConvTranspose2D(3, 2, 5, stride=2, padding=2, output_padding=1, bias=False).astype(np.float64)
    x = rng.standard_normal((2, 3, 4, 4))
    got = solutions.conv_transpose2d_forward(x, layer.params["W"], 2, 2, 1)
    np.testing.assert_allclose(got, layer.forward(x), rtol=1e-12)


def test_batchnorm_backward_solution_matches_the_layer_and_central_differences():
    rng = np.random.default_rng(6)
    layer = BatchNorm(3).astype(np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, 3)
    x, dout = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    layer.forward(x)
    dx = layer.backward(dout)
    got = solutions.batchnorm_backward(dout, layer.x_hat, layer.params["gamma"], layer.inv_std.reshape(-1))
    for a, b in zip(got, (dx, layer.grads["gamma"], layer.grads["beta"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10)

    gamma = layer.params["gamma"]

    def loss():
        x_hat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
        return float(((gamma * x_hat) * dout).sum())

    assert rel_error(got[0], numerical_gradient(loss, x)) < 1e-6


def test_embedding_solution_matches_the_layer_with_repeated_labels():
    rng = np.random.default_rng(7)
    layer = Embedding(5, 3).astype(np.float64)
    y = np.array([4, 1, 4, 4, 0, 1, 2])  # 4 three times, 1 twice, 3 never
    dout = rng.standard_normal((7, 3))
    layer.forward(y)
    layer.backward(dout)
    got = solutions.embedding_backward(dout, y, 5)
    np.testing.assert_allclose(got, layer.grads["W"], rtol=1e-12)
    np.testing.assert_allclose(got[4], dout[[0, 2, 3]].sum(0), rtol=1e-12)  # the three gradients, added
    assert not got[3].any()


def test_nonsaturating_solution_matches_the_library_even_at_extreme_logits():
    logits = np.array([[-1000.0], [-30.0], [-1.0], [0.0], [2.0], [1000.0]])
    loss, dlogits = solutions.nonsaturating_g_loss(logits)
    want_loss, want_d = NonSaturating().g_loss(logits)
    assert loss == pytest.approx(float(want_loss), rel=1e-12)
    np.testing.assert_allclose(dlogits, want_d, rtol=1e-12)
    assert np.isfinite(loss)


# ---- the documented way to add an exercise works as written ---------------------------------
def _readme_exercise():
    """The code blocks of notebooks/README.md's "Adding an exercise" section, run in one namespace."""
    text = (SOLUTIONS_PATH.parent / "README.md").read_text()
    section = text.split("### Adding an exercise", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1] for b in section.split("```python")[1:]]
    blocks = [b.split("```", 1)[0] for b in blocks]
    assert len(blocks) == 2, "the section shows the checker, then the notebook cell"
    namespace = {}
    exec(blocks[0], namespace)  # noqa: S102  (the documented code itself) defines check_elu_backward
    return namespace, blocks[1]


def test_readme_exercise_fails_the_stub_and_passes_a_right_answer(capsys):
    namespace, notebook_cell = _readme_exercise()
    exec(notebook_cell, namespace)  # noqa: S102  the stub, checked
    assert "elu_backward: not yet" in capsys.readouterr().out

    def elu_backward(dout, x, alpha):
        return dout * np.where(x > 0, 1.0, alpha * np.exp(x))

    assert namespace["check_elu_backward"](elu_backward) is True
    assert "elu_backward: correct!" in capsys.readouterr().out


def test_readme_exercise_names_its_mistakes(capsys):
    namespace, _ = _readme_exercise()
    check_elu_backward = namespace["check_elu_backward"]

    assert check_elu_backward(lambda dout, x, alpha: np.where(x > 0, dout, alpha * dout)) is False
    out = capsys.readouterr().out
    assert "dx is off" in out and "Hint: below 0 the slope of alpha * (exp(x) - 1) is alpha * exp(x)" in out, out

    assert check_elu_backward(lambda dout, x, alpha: np.where(x > 0, 1.0, alpha * np.exp(x))) is False
    assert "the chain rule" in capsys.readouterr().out

    assert check_elu_backward(lambda dout, x, alpha: -dout * np.where(x > 0, 1.0, alpha * np.exp(x))) is False
    out = capsys.readouterr().out
    assert "wrong sign" in out and "Hint" not in out, out
