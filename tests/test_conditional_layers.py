"""The layers that bring a class label in: Embedding, Concat, Projection.

Gradients against central differences in float64, on NumPy and on CuPy (the
``xp`` fixture: the strict stand-in where there is no GPU); the one-hot backward
against a plain loop; bad labels refused with the layer, the expected and the given.
"""

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.gradcheck import check_layer
from minigan.layers import Concat, Embedding, Projection
from minigan.layers.embedding import check_label_range


def device(xp):
    return "cpu" if xp is np else "gpu"


def floats(xp, rng, shape):
    return xp.asarray(rng.standard_normal(shape))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_embedding_gradient_matches_central_differences(xp, dtype):
    layer = Embedding(5, 3).to(device(xp))
    y = xp.asarray(np.array([0, 4, 2, 2, 4, 4, 1], dtype=dtype))  # repeated labels: their gradients add
    report = check_layer(layer, y)
    assert set(report.errors) == {"W"}  # labels have no gradient
    assert report.ok, str(report)


def test_embedding_forward_picks_rows_and_backward_sums_them(xp):
    layer = Embedding(4, 2).to(device(xp))
    W = to_numpy(layer.params["W"]).copy()
    y = np.array([3, 1, 3, 0])
    e = layer.forward(xp.asarray(y))
    np.testing.assert_array_equal(to_numpy(e), W[y])
    dout = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert layer.backward(xp.asarray(dout)) is None
    expected = np.zeros_like(W)
    for i, label in enumerate(y):  # the loop the one-hot product replaces
        expected[label] += dout[i]
    np.testing.assert_allclose(to_numpy(layer.grads["W"]), expected)
    layer.forward(xp.asarray(y))
    layer.backward(xp.asarray(dout), param_grads=False)  # a frozen embedding adds nothing
    np.testing.assert_allclose(to_numpy(layer.grads["W"]), expected)


@pytest.mark.parametrize(
    "labels, error, message",
    [
        (np.array([1.0, 2.0]), TypeError, "float64 labels"),
        (np.array([[1], [2]]), ValueError, r"of shape \(N,\), got shape \(2, 1\)"),
    ],
    ids=["float", "wrong shape"],
)
def test_embedding_refuses_bad_labels(xp, labels, error, message):
    with pytest.raises(error, match=message):
        Embedding(10, 4).to(device(xp)).forward(xp.asarray(labels))


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 10, 3]), r"fit: class labels must lie in 0..9, got label 10 \(at position 1; 1 out of range\)"),
        (np.array([-1, 2, -3]), r"fit: class labels must lie in 0..9, got label -1 \(at position 0; 2 out of range\)"),
    ],
    ids=["too large", "negative"],
)
def test_label_range_is_checked_at_the_door(xp, labels, message):
    with pytest.raises(ValueError, match=message):
        check_label_range(xp.asarray(labels), 10, "fit")
    check_label_range(xp.asarray(np.arange(10)), 10, "fit")  # all ten classes pass


def test_embedding_forward_and_backward_never_wait_for_the_device(ledger):
    """The range check left the layer (it read a boolean back on every pass): a pass is wait-free."""
    import cupy

    layer = Embedding(10, 4).to("gpu")
    y = cupy.asarray(np.array([0, 9, 3]))
    waits = ledger.total("syncs")
    layer.backward(layer.forward(y))
    assert ledger.total("syncs") == waits, ledger.report("syncs")


@pytest.mark.parametrize("bad", [10, -1], ids=["too large", "negative"])
def test_layers_with_labels_check_their_range_on_the_cpu(bad):
    """On the CPU reading the labels costs no wait, so the layer itself names a bad label:
    without it, NumPy would raise a bare IndexError for 10 and silently wrap -1 to row 9."""
    from minigan.layers import ConditionalBatchNorm

    y = np.array([0, bad, 3])
    with pytest.raises(ValueError, match=rf"Embedding\(10, 4\): class labels must lie in 0..9, got label {bad}"):
        Embedding(10, 4).forward(y)
    with pytest.raises(ValueError, match=rf"ConditionalBatchNorm\(2, 10\): .* got label {bad}"):
        ConditionalBatchNorm(2, 10).forward(np.ones((3, 2), np.float32), y)


def test_embedding_refuses_a_list():
    with pytest.raises(TypeError, match=r"Embedding\(10, 4\): expected integer class labels .* got list"):
        Embedding(10, 4).forward([1, 2])


@pytest.mark.parametrize("args", [(0, 3), (3, 0), (2.5, 3)])
def test_embedding_refuses_bad_sizes(args):
    with pytest.raises(ValueError, match="Embedding: .* must be a whole number >= 1"):
        Embedding(*args)


@pytest.mark.parametrize("shapes", [((4, 3), (4, 2)), ((2, 1, 3, 3), (2, 2, 3, 3))], ids=["features", "channels"])
def test_concat_gradients_and_values(xp, shapes):
    rng = np.random.default_rng(0)
    a, b = (floats(xp, rng, s) for s in shapes)
    out = Concat().forward(a, b)
    np.testing.assert_array_equal(to_numpy(out), np.concatenate([to_numpy(a), to_numpy(b)], axis=1))
    report = check_layer(Concat(), (a, b))
    assert set(report.errors) == {"x1", "x2"}
    assert report.ok, str(report)


def test_concat_refuses_inputs_that_differ_beyond_axis_1(xp):
    with pytest.raises(ValueError, match=r"Concat\(\): expected a \(N, Ca, ...\) and b \(N, Cb, ...\) alike but "
                       r"for axis 1, got \(2, 1, 3, 3\) and \(2, 1, 4, 4\)"):  # fmt: skip
        Concat().forward(xp.zeros((2, 1, 3, 3)), xp.zeros((2, 1, 4, 4)))


def test_projection_is_a_row_wise_dot_product_with_exact_gradients(xp):
    rng = np.random.default_rng(1)
    h, e = floats(xp, rng, (4, 5)), floats(xp, rng, (4, 5))
    out = Projection().forward(h, e)
    assert out.shape == (4, 1)
    np.testing.assert_allclose(to_numpy(out)[:, 0], np.einsum("nf,nf->n", to_numpy(h), to_numpy(e)))
    report = check_layer(Projection(), (h, e))
    assert set(report.errors) == {"x1", "x2"}
    assert report.ok, str(report)


def test_projection_refuses_mismatched_shapes(xp):
    with pytest.raises(ValueError, match=r"Projection\(\): expected h and e of the same shape \(N, F\), got "
                       r"\(4, 5\) and \(4, 3\)"):  # fmt: skip
        Projection().forward(xp.zeros((4, 5)), xp.zeros((4, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_keeps_its_dtype(xp, dtype):
    layer = Embedding(3, 2).astype(dtype).to(device(xp))
    e = layer.forward(xp.asarray(np.array([0, 2])))
    layer.backward(xp.ones_like(e))
    assert e.dtype == dtype and layer.grads["W"].dtype == dtype
