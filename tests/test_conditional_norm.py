"""ConditionalBatchNorm: BatchNorm whose gain and bias are the label's rows.

Gradients against central differences in float64 on NumPy and CuPy (the strict
stand-in where there is no GPU), in train and eval mode; the forward against a
plain BatchNorm given each class's gamma and beta; the running statistics as
BatchNorm's; bad input refused with the layer, the expected and the given."""

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.gradcheck import check_layer
from minigan.layers import BatchNorm, ConditionalBatchNorm


def device(xp):
    return "cpu" if xp is np else "gpu"


def layer_with_distinct_rows(rng, C=3, K=4):
    layer = ConditionalBatchNorm(C, K)
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, (K, C))
    layer.params["beta"][...] = rng.standard_normal((K, C))
    return layer


@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 2, 2)], ids=["(N, C)", "(N, C, H, W)"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradients_match_central_differences(xp, shape, mode):
    rng = np.random.default_rng(0)
    layer = layer_with_distinct_rows(rng)
    layer.running_mean[...], layer.running_var[...] = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    layer = (layer.eval() if mode == "eval" else layer).to(device(xp))
    y = np.array([0, 3, 3, 1, 0, 2])[: shape[0]]  # repeated labels: their gradients add
    report = check_layer(layer, (xp.asarray(rng.standard_normal(shape)), xp.asarray(y)))
    assert set(report.errors) == {"x1", "gamma", "beta"}
    assert report.ok, str(report)


def test_each_example_is_a_batchnorm_with_its_class_gain_and_bias():
    rng = np.random.default_rng(1)
    layer = layer_with_distinct_rows(rng)
    x = rng.standard_normal((6, 3, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 1, 0])
    out = layer.forward(x, y)
    plain = BatchNorm(3)
    x_hat = plain.forward(x)  # gamma 1, beta 0: the normalised input, batch statistics over all classes
    for i, c in enumerate(y):
        expected = layer.params["gamma"][c][:, None, None] * x_hat[i] + layer.params["beta"][c][:, None, None]
        np.testing.assert_allclose(out[i], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_mean, plain.running_mean, rtol=1e-6)
    np.testing.assert_allclose(layer.running_var, plain.running_var, rtol=1e-6)


def test_a_class_never_in_the_batch_gets_no_gradient(xp):
    layer = ConditionalBatchNorm(3, 4).to(device(xp))
    rng = np.random.default_rng(2)
    layer.forward(xp.asarray(rng.standard_normal((4, 3)).astype(np.float32)), xp.asarray(np.array([0, 1, 1, 0])))
    layer.backward(xp.asarray(rng.standard_normal((4, 3)).astype(np.float32)))
    for key in ("gamma", "beta"):
        g = to_numpy(layer.grads[key])
        assert not g[2:].any() and g[:2].all()


def test_it_starts_as_a_plain_batchnorm():
    layer = ConditionalBatchNorm(5, 10)
    assert layer.params["gamma"].shape == (10, 5) and (layer.params["gamma"] == 1).all()
    assert (layer.params["beta"] == 0).all() and layer.params["beta"].dtype == np.float32


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((4, 2)), np.array([0, 1, 2, 3]), r"expected input of shape \(N, 3\) or \(N, 3, h, w\), got \(4, 2\)"),
        (np.zeros((4, 3)), np.array([0, 1]), r"expected integer labels of shape \(4,\), got int64 \(2,\)"),
        (np.zeros((4, 3)), np.zeros(4), r"expected integer labels of shape \(4,\), got float64"),
    ],
    ids=["channels", "label count", "float labels"],
)
def test_bad_input_is_refused_at_the_door(x, y, message):
    with pytest.raises(ValueError, match=r"ConditionalBatchNorm\(3, 4\): " + message):
        ConditionalBatchNorm(3, 4).forward(x.astype(np.float32), y)
