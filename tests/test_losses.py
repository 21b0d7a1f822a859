import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.losses import (
    LSGAN,
    OBJECTIVES,
    WGAN,
    Hinge,
    Minimax,
    NonSaturating,
    clip_weights,
    get_objective,
    sigmoid,
    softplus,
)


# every objective, plus the BCE ones with one-sided label smoothing
CASES = [(name, 0.0) for name in OBJECTIVES] + [("minimax", 0.1), ("non-saturating", 0.1)]
IDS = [f"{name}-s{s}" for name, s in CASES]


def naive_losses(name, lr, lf, s=0.0):
    """(d_loss, g_loss) written straight from the formulas, in float64 (moderate logits only)."""
    D_r, D_f = 1 / (1 + np.exp(-lr)), 1 / (1 + np.exp(-lf))
    t = 1 - s
    bce_d = -np.mean(t * np.log(D_r) + (1 - t) * np.log(1 - D_r)) - np.mean(np.log(1 - D_f))
    if name == "minimax":
        return bce_d, np.mean(np.log(1 - D_f))
    if name == "non-saturating":
        return bce_d, -np.mean(np.log(D_f))
    if name == "lsgan":
        return 0.5 * np.mean((lr - 1) ** 2) + 0.5 * np.mean(lf**2), 0.5 * np.mean((lf - 1) ** 2)
    if name in ("wgan", "wgan-gp"):  # (the penalty is added by the trainer)
        return np.mean(lf) - np.mean(lr), -np.mean(lf)
    if name == "hinge":
        return np.mean(np.maximum(1 - lr, 0)) + np.mean(np.maximum(1 + lf, 0)), -np.mean(lf)
    raise AssertionError(name)


def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at x (float64), one element at a time."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def random_logits(rng, n, scale):
    """(n, 1) float64 logits with the extremes +-30 included, kept off the hinge kinks at +-1."""
    logits = rng.normal(0, scale, size=(n, 1))
    logits[:2, 0] = [30.0, -30.0]
    near_kink = np.abs(np.abs(logits) - 1) < 1e-3
    logits[near_kink] += 0.01
    return logits


def test_sigmoid_and_softplus_are_stable_at_extremes():
    t = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, sp = sigmoid(t), softplus(t)
    # exp(-100) = 3.72e-44 is a float32 subnormal, exact only to its spacing 1.4e-45
    np.testing.assert_allclose(s, [0, 3.7200760e-44, 9.3576230e-14, 0.5, 1, 1, 1], rtol=1e-6, atol=1.5e-45)
    np.testing.assert_allclose(sp, [0, 3.7200760e-44, 9.3576230e-14, np.log(2), 30, 100, 1000], rtol=1e-6, atol=1.5e-45)
    assert s.dtype == sp.dtype == np.float32


@pytest.mark.parametrize("name,s", CASES, ids=IDS)
def test_gradients_match_finite_differences(name, s):
    rng = np.random.default_rng(0)
    obj = get_objective(name, label_smoothing=s)
    lr, lf = random_logits(rng, 7, 8.0), random_logits(rng, 5, 8.0)

    _, dlr, dlf = obj.d_loss(lr, lf)
    np.testing.assert_allclose(dlr, numerical_grad(lambda x: obj.d_loss(x, lf)[0], lr), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dlf, numerical_grad(lambda x: obj.d_loss(lr, x)[0], lf), rtol=1e-5, atol=1e-8)

    _, dlf = obj.g_loss(lf)
    np.testing.assert_allclose(dlf, numerical_grad(lambda x: obj.g_loss(x)[0], lf), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,s", CASES, ids=IDS)
def test_values_match_naive_formulas(name, s):
    rng = np.random.default_rng(1)
    lr, lf = rng.normal(0, 3, size=(9, 1)), rng.normal(0, 3, size=(6, 1))
    obj = get_objective(name, label_smoothing=s)
    d_ref, g_ref = naive_losses(name, lr, lf, s)
    np.testing.assert_allclose(obj.d_loss(lr, lf)[0], d_ref, rtol=1e-12)
    np.testing.assert_allclose(obj.g_loss(lf)[0], g_ref, rtol=1e-12)


@pytest.mark.parametrize("name,s", CASES, ids=IDS)
def test_float32_finite_and_correct_at_100(name, s):
    lr = np.array([[-100.0], [100.0], [0.5], [-2.0]], dtype=np.float32)
    lf = np.array([[100.0], [-100.0], [-0.5], [3.0]], dtype=np.float32)
    obj = get_objective(name, label_smoothing=s)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        d32, g32 = obj.d_loss(lr, lf), obj.g_loss(lf)
    d64, g64 = obj.d_loss(lr.astype(np.float64), lf.astype(np.float64)), obj.g_loss(lf.astype(np.float64))
    for a32, a64 in zip(d32 + g32, d64 + g64):
        assert np.all(np.isfinite(a32))
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-7)


def test_confident_discriminator_gives_exact_bce_in_float32():
    # D rejects every fake with logit -100: log D(G(z)) = -100, not -inf
    lf = np.full((4, 1), -100.0, dtype=np.float32)
    loss, dlf = NonSaturating().g_loss(lf)
    assert loss == 100.0
    np.testing.assert_array_equal(dlf, np.full((4, 1), -0.25, dtype=np.float32))


def test_minimax_saturates_where_non_saturating_does_not():
    lf = np.full((4, 1), -12.0)  # D is sure the fakes are fake
    _, d_minimax = Minimax().g_loss(lf)
    _, d_nonsat = NonSaturating().g_loss(lf)
    assert np.all(np.abs(d_minimax) < 2e-6)  # -sigmoid(-12) / 4
    np.testing.assert_allclose(d_nonsat, -0.25, rtol=1e-4)


@pytest.mark.parametrize("name,s", CASES, ids=IDS)
def test_dtype_device_and_shapes_kept(xp, name, s):
    obj = get_objective(name, label_smoothing=s)
    lr = xp.asarray(np.linspace(-3, 3, 8, dtype=np.float32).reshape(8, 1))
    lf = xp.asarray(np.linspace(-2, 4, 6, dtype=np.float32).reshape(6, 1))
    loss, dlr, dlf = obj.d_loss(lr, lf)
    g, dlf_g = obj.g_loss(lf)
    for a in (loss, g):
        assert isinstance(a, xp.ndarray) and a.ndim == 0 and a.dtype == xp.float32
    for a, like in ((dlr, lr), (dlf, lf), (dlf_g, lf)):
        assert isinstance(a, xp.ndarray) and a.dtype == xp.float32 and a.shape == like.shape


@pytest.mark.parametrize("name", ["minimax", "non-saturating"])
def test_label_smoothing_changes_only_the_real_term(name):
    rng = np.random.default_rng(2)
    lr, lf = rng.normal(0, 3, size=(8, 1)), rng.normal(0, 3, size=(8, 1))
    plain, smooth = get_objective(name), get_objective(name, label_smoothing=0.1)
    loss0, dlr0, dlf0 = plain.d_loss(lr, lf)
    loss1, dlr1, dlf1 = smooth.d_loss(lr, lf)

    D_r, D_f = 1 / (1 + np.exp(-lr)), 1 / (1 + np.exp(-lf))
    real_bce = -np.mean(0.9 * np.log(D_r) + 0.1 * np.log(1 - D_r))  # target 0.9
    fake_bce = -np.mean(np.log(1 - D_f))  # target 0, unchanged
    np.testing.assert_allclose(loss1, real_bce + fake_bce, rtol=1e-12)
    np.testing.assert_allclose(loss0 - loss1, -np.mean(np.log(D_r)) - real_bce, rtol=1e-10)
    np.testing.assert_allclose(dlr1, (D_r - 0.9) / 8, rtol=1e-12)
    np.testing.assert_array_equal(dlf1, dlf0)
    assert not np.allclose(dlr1, dlr0)

    g0, dg0 = plain.g_loss(lf)
    g1, dg1 = smooth.g_loss(lf)
    assert g0 == g1
    np.testing.assert_array_equal(dg0, dg1)


def test_factory_names_and_errors():
    assert isinstance(get_objective("minimax"), Minimax)
    assert isinstance(get_objective("non-saturating"), NonSaturating)
    assert isinstance(get_objective("lsgan"), LSGAN)
    assert isinstance(get_objective("wgan"), WGAN)
    assert isinstance(get_objective("hinge"), Hinge)
    assert get_objective("wgan").clip == 0.01
    assert get_objective("minimax", label_smoothing=0.1).label_smoothing == 0.1

    with pytest.raises(ValueError) as err:
        get_objective("vanilla")
    for name in OBJECTIVES:
        assert name in str(err.value)
    for name in ("lsgan", "wgan", "wgan-gp", "hinge"):
        with pytest.raises(ValueError, match="BCE objectives only"):
            get_objective(name, label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        get_objective("non-saturating", label_smoothing=1.0)


def test_clip_weights_in_place(xp):
    W = xp.asarray(np.array([[-0.5, 0.005], [0.02, -0.01]], dtype=np.float32))
    b = xp.asarray(np.array([0.3, -0.001], dtype=np.float32))
    params = {"0.W": W, "0.b": b}
    clip_weights(params, 0.01)
    assert params["0.W"] is W and params["0.b"] is b and W.dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(W), np.array([[-0.01, 0.005], [0.01, -0.01]], dtype=np.float32))
    np.testing.assert_array_equal(to_numpy(b), np.array([0.01, -0.001], dtype=np.float32))
    with pytest.raises(ValueError):
        clip_weights(params, 0.0)
