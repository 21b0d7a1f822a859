"""The gradient checker must catch subtly wrong backwards, and pass the right ones.

A checker that passes everything proves nothing, so each test below plants one
classic mistake in an otherwise correct layer and expects check_layer to fail.
"""

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.gradcheck import (
    GradReport,
    builtin_cases,
    check_builtin,
    check_layer,
    format_table,
    numerical_gradient,
    rel_error,
)
from minigan.layers import BatchNorm, Dense, Dropout, LeakyReLU, Sequential


def device(xp):
    return "cpu" if xp is np else "gpu"


def inputs(xp, shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return xp.asarray(x + 0.1 * np.sign(x))  # away from the kink at 0


# ---- layers with one planted mistake each ---------------------------------------------
class BatchNormMissingTerm(BatchNorm):
    """dx without the - x_hat * mean(dout * x_hat) term (the variance's dependence on x)."""

    def backward(self, dout, param_grads=True):
        if param_grads:
            self.grads["gamma"] += (dout * self.x_hat).sum(axis=self.axes)
            self.grads["beta"] += dout.sum(axis=self.axes)
        scale = self.params["gamma"].reshape(self.inv_std.shape) * self.inv_std
        return scale * (dout - dout.mean(axis=self.axes, keepdims=True))


class DenseTransposedGrad(Dense):
    """dW = dout.T @ x: the right shape for a square layer, the wrong values."""

    def backward(self, dout, param_grads=True):
        self.grads["W"] += dout.T @ self.x
        self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T


class DenseMeanGrad(Dense):
    """dW divided by the batch size: a loss's mean folded in twice."""

    def backward(self, dout, param_grads=True):
        self.grads["W"] += self.x.T @ dout / len(dout)
        self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T


class DenseNoBiasGrad(Dense):
    """Forgets db entirely."""

    def backward(self, dout, param_grads=True):
        self.grads["W"] += self.x.T @ dout
        return dout @ self.params["W"].T


class LeakyReLUWrongSlope(LeakyReLU):
    """Uses a fixed 0.01 for negative inputs in backward, whatever alpha the forward used."""

    def backward(self, dout, param_grads=True):
        return dout * (self.mask + 0.01 * ~self.mask)


def randomized(layer, seed=0):
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    return layer


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 2, 3)], ids=["(N, C)", "(N, C, H, W)"])
def test_rejects_batchnorm_without_the_variance_term(xp, shape):
    bn = randomized(BatchNormMissingTerm(3)).to(device(xp))
    report = check_layer(bn, inputs(xp, shape))
    assert not report.ok
    assert report.errors["x"] > 1e-2  # a wrong formula, not rounding noise
    assert report.errors["gamma"] < 1e-6 and report.errors["beta"] < 1e-6  # the mistake is in dx only
    assert "NO" in str(report)


def test_an_all_ones_upstream_gradient_would_miss_the_batchnorm_bug():
    """Why the checker draws a RANDOM upstream gradient.

    With dout = 1 every term that involves the batch statistics vanishes
    (mean(dout * x_hat) = mean(x_hat) = 0 and dout - mean(dout) = 0), so the
    buggy and the correct backward both return 0, and so does the numerical
    gradient of sum(y), which does not change when x moves: the bug is invisible."""
    x = inputs(np, (8, 3))
    for Layer in (BatchNorm, BatchNormMissingTerm):
        bn = randomized(Layer(3)).astype(np.float64)
        y = bn.forward(x)
        ones = np.ones_like(y)
        dx = bn.backward(ones)
        numeric = numerical_gradient(lambda: float((bn.forward(x) * ones).sum()), x)
        assert rel_error(dx, numeric) < 1e-6  # passes: the all-ones check cannot tell them apart

    # the same buggy layer against a random upstream gradient
    assert not check_layer(randomized(BatchNormMissingTerm(3)), x).ok


@pytest.mark.parametrize(
    "layer, wrong",
    [(DenseTransposedGrad(4, 4), "W"), (DenseMeanGrad(4, 3), "W"), (DenseNoBiasGrad(4, 3), "b")],
    ids=["dW transposed", "dW divided by N", "db missing"],
)
def test_rejects_wrong_dense_parameter_gradients(xp, layer, wrong):
    report = check_layer(randomized(layer).to(device(xp)), inputs(xp, (5, 4)))
    assert not report.ok
    assert report.errors[wrong] > 1e-2
    assert report.errors["x"] < 1e-6


def test_rejects_leaky_relu_with_the_wrong_slope(xp):
    report = check_layer(LeakyReLUWrongSlope(0.2), inputs(xp, (4, 5)))
    assert not report.ok and report.errors["x"] > 1e-2


def test_rejects_a_mistake_deep_inside_a_sequential(xp):
    net = Sequential(Dense(4, 5), LeakyReLUWrongSlope(0.2), Dense(5, 2)).astype(np.float64).to(device(xp))
    report = check_layer(net, inputs(xp, (3, 4)))
    assert not report.ok
    assert report.errors["0.W"] > 1e-2  # the wrong slope reaches every gradient before it
    assert report.errors["2.W"] < 1e-6  # and none after it


# ---- the correct layers pass ----------------------------------------------------------
def test_passes_every_builtin_layer():
    results = check_builtin()
    names = {name for name, _, _ in results}
    assert names == {case[0] for case in builtin_cases()}
    for name, mode, report in results:
        assert report.ok, f"{name} ({mode}):\n{report}"


def test_report_lists_the_input_and_every_parameter():
    report = check_layer(Dense(3, 2), inputs(np, (4, 3)))
    assert isinstance(report, GradReport)
    assert set(report.errors) == {"x", "W", "b"}
    assert report.max_error == max(report.errors.values())
    assert report.ok and report.max_error < 1e-6
    table = format_table([("Dense", "train", report)])
    assert table.splitlines()[0].split() == ["layer", "mode", "grad", "max", "rel", "error", "ok"]
    assert len(table.splitlines()) == 4 and table.count("yes") == 3


# ---- the checker leaves the layer as it found it ------------------------------------------
def test_leaves_running_statistics_and_dtype_unchanged(xp):
    bn = randomized(BatchNorm(3)).to(device(xp))  # float32, as trained
    bn.forward(inputs(xp, (6, 3), seed=1).astype(np.float32))  # running stats away from 0 and 1
    before = {k: to_numpy(v).copy() for k, v in bn.get_buffers().items()}
    params = {k: to_numpy(v).copy() for k, v in bn.params.items()}

    assert check_layer(bn, inputs(xp, (6, 3), seed=2)).ok
    for k, v in bn.get_buffers().items():
        np.testing.assert_array_equal(to_numpy(v), before[k])
        assert v.dtype == np.float32
    for k, v in bn.params.items():
        np.testing.assert_array_equal(to_numpy(v), params[k])
        assert v.dtype == np.float32 and bn.grads[k].dtype == np.float32
        assert not to_numpy(bn.grads[k]).any()
    assert bn.training


def test_leaves_a_used_dropout_generator_where_it_was(xp):
    """check_layer runs on copies, so the next mask is the one it would have been anyway."""
    x = xp.ones((6, 7))
    used, untouched = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    used.forward(x)
    untouched.forward(x)
    assert check_layer(used, inputs(xp, (6, 7))).ok
    np.testing.assert_array_equal(to_numpy(used.forward(x)), to_numpy(untouched.forward(x)))


# ---- numerical_gradient and rel_error on their own ------------------------------------------
def test_numerical_gradient_of_a_cubic(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    x_before = to_numpy(x).copy()
    grad = numerical_gradient(lambda: float((x**3).sum()), x)
    np.testing.assert_allclose(to_numpy(grad), 3 * x_before**2, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(to_numpy(x), x_before)  # every entry restored


def test_numerical_gradient_refuses_a_non_contiguous_array():
    x = np.ones((3, 4)).T
    with pytest.raises(ValueError, match="C-contiguous"):
        numerical_gradient(lambda: float(x.sum()), x)


def test_rel_error_is_relative_except_near_zero():
    assert rel_error(np.array([1.0]), np.array([1.0 + 1e-9])) < 1e-6
    assert rel_error(np.array([1.0]), np.array([1.1])) > 1e-2
    assert rel_error(np.array([1e-12]), np.array([-1e-12])) < 1e-6  # both ~0: rounding noise, not a bug
    assert rel_error(np.array([1e-3]), np.array([-1e-3])) > 1e-2  # small but opposite: a bug
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(3), np.zeros(4))
