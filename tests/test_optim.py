import io

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.optim import SGD, Adam, L1L2, RMSprop, is_kernel

SHAPES = {"0.W": (3, 4), "0.b": (4,), "2.gamma": (4,)}
# each maker takes the type its hyperparameters are given as (float, or np.float64)
MAKERS = {
    "sgd": lambda f=float: SGD(lr=f(0.1)),
    "sgd-momentum": lambda f=float: SGD(lr=f(0.1), momentum=f(0.9)),
    "adam": lambda f=float: Adam(lr=f(1e-2), beta1=f(0.5), beta2=f(0.999), eps=f(1e-8)),
    "rmsprop": lambda f=float: RMSprop(lr=f(1e-2), alpha=f(0.9), eps=f(1e-8)),
}


def make_problem(seed=0, steps=5, dtype=np.float64, xp=np):
    """Parameters and a fixed sequence of gradients for them, as NumPy/CuPy arrays."""
    rng = np.random.default_rng(seed)
    params = {k: xp.asarray(rng.normal(size=s).astype(dtype)) for k, s in SHAPES.items()}
    grad_seq = [{k: xp.asarray(rng.normal(size=s).astype(dtype)) for k, s in SHAPES.items()} for _ in range(steps)]
    return params, grad_seq


def run(opt, params, grad_seq):
    grads = {k: g.copy() for k, g in grad_seq[0].items()}
    for gs in grad_seq:
        for k in grads:
            grads[k][...] = gs[k]  # layers refill their grads in place
        opt.step(params, grads)


# ---- reference recurrences, written out in float64 -----------------------------
def ref_sgd(p, gs, lr, momentum):
    v = np.zeros_like(p)
    for g in gs:
        v = momentum * v + g
        p = p - lr * v
    return p


def ref_adam(p, gs, lr, beta1, beta2, eps):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)  # the paper's form
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_rmsprop(p, gs, lr, alpha, eps):
    v = np.zeros_like(p)
    for g in gs:
        v = alpha * v + (1 - alpha) * g**2
        p = p - lr * g / (np.sqrt(v) + eps)
    return p


@pytest.mark.parametrize("name", list(MAKERS))
def test_matches_reference_recurrence(name):
    params, grad_seq = make_problem()
    start = {k: p.copy() for k, p in params.items()}
    opt = MAKERS[name]()
    run(opt, params, grad_seq)
    for k in SHAPES:
        gs = [g[k] for g in grad_seq]
        if name == "sgd":
            expected = ref_sgd(start[k], gs, lr=0.1, momentum=0.0)
        elif name == "sgd-momentum":
            expected = ref_sgd(start[k], gs, lr=0.1, momentum=0.9)
        elif name == "adam":
            expected = ref_adam(start[k], gs, lr=1e-2, beta1=0.5, beta2=0.999, eps=1e-8)
        else:
            expected = ref_rmsprop(start[k], gs, lr=1e-2, alpha=0.9, eps=1e-8)
        np.testing.assert_allclose(params[k], expected, rtol=1e-12, atol=1e-14)
    assert int(opt.state_dict()["t"]) == len(grad_seq)


def test_adam_first_step_is_lr_times_sign():
    # with bias correction the first step is lr * g / (|g| + eps): a known sanity check
    p, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, -4.0, 1e-3])
    Adam(lr=0.1).step({"W": p}, {"W": g})
    np.testing.assert_allclose(p, [0.9, -1.9, 2.9], rtol=1e-6)


@pytest.mark.parametrize("name", list(MAKERS))
def test_updates_in_place_and_keeps_float32(xp, name):
    params, grad_seq = make_problem(dtype=np.float32, steps=3, xp=xp)
    before = dict(params)
    opt = MAKERS[name]()
    run(opt, params, grad_seq)
    for k, p in params.items():
        assert p is before[k]  # the layer holding the array sees the update
        assert p.dtype == xp.float32
    for k, a in opt.state_dict().items():
        assert a.dtype == (np.int64 if k == "t" else xp.float32)

    # hyperparameters given as float64 NumPy scalars must not turn the arithmetic into float64
    params64, _ = make_problem(dtype=np.float32, steps=3, xp=xp)
    run(MAKERS[name](np.float64), params64, grad_seq)
    for k in params:
        np.testing.assert_array_equal(to_numpy(params64[k]), to_numpy(params[k]))


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_round_trip_is_bit_exact(name):
    params, grad_seq = make_problem(dtype=np.float32, steps=6)
    opt = MAKERS[name]()
    run(opt, params, grad_seq[:3])
    saved = opt.state_dict()
    saved_params = {k: p.copy() for k, p in params.items()}
    assert saved["t"].shape == () and saved["t"].dtype == np.int64
    assert all(isinstance(a, np.ndarray) for a in saved.values())

    buffer = io.BytesIO()  # through an .npz file, as a checkpoint would
    np.savez(buffer, **saved)
    buffer.seek(0)
    with np.load(buffer) as f:
        loaded = {k: f[k] for k in f.files}

    run(opt, params, grad_seq[3:])
    resumed = MAKERS[name]()
    resumed.load_state_dict(loaded)
    run(resumed, saved_params, grad_seq[3:])
    for k in params:
        np.testing.assert_array_equal(saved_params[k], params[k])
    assert int(resumed.state_dict()["t"]) == 6
    assert all(np.array_equal(a, loaded[k]) for k, a in saved.items())  # saved copies untouched


def test_load_state_dict_mismatch_errors():
    params, grad_seq = make_problem(steps=2)
    opt = Adam()
    run(opt, params, grad_seq)
    good = opt.state_dict()

    wrong_shape = dict(good, **{"m.0.W": np.zeros((4, 3)), "v.0.W": np.zeros((4, 3))})
    with pytest.raises(ValueError, match="0.W"):
        opt.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match="unexpected key"):
        Adam().load_state_dict(dict(good, **{"q.0.W": np.zeros((3, 4))}))
    with pytest.raises(ValueError, match="'t'"):
        Adam().load_state_dict({k: a for k, a in good.items() if k != "t"})
    with pytest.raises(ValueError, match="different parameters"):
        Adam().load_state_dict({k: a for k, a in good.items() if k != "v.0.b"})
    with pytest.raises(ValueError, match="holds no"):
        Adam().load_state_dict({"t": np.asarray(2, dtype=np.int64)})
    with pytest.raises(ValueError, match="unexpected key"):
        SGD(lr=0.1).load_state_dict(good)  # no momentum, no state

    fresh = Adam()  # a fresh optimizer learns of the mismatch at its next step
    fresh.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match="0.W"):
        fresh.step(params, grad_seq[0])
    with pytest.raises(ValueError, match="different keys"):
        Adam().step(params, {"0.W": grad_seq[0]["0.W"]})
    with pytest.raises(ValueError, match="state 'm'"):
        opt.step({"0.W": params["0.W"]}, {"0.W": grad_seq[0]["0.W"]})


def test_hyperparameter_validation():
    for make in (
        lambda: SGD(lr=-1.0),
        lambda: SGD(lr=0.1, momentum=-0.5),
        lambda: Adam(beta1=1.0),
        lambda: Adam(beta2=-0.1),
        lambda: Adam(eps=-1.0),
        lambda: RMSprop(alpha=1.5),
        lambda: L1L2(l1=-1e-5),
    ):
        with pytest.raises(ValueError):
            make()


def test_sgd_without_momentum_keeps_no_state():
    params, grad_seq = make_problem(steps=2)
    opt = SGD(lr=0.1)
    run(opt, params, grad_seq)
    assert list(opt.state_dict()) == ["t"]


# ---- L1L2 ------------------------------------------------------------------------
def test_is_kernel():
    assert is_kernel("W") and is_kernel("0.W") and is_kernel("enc.3.W")
    assert not is_kernel("0.b") and not is_kernel("3.gamma") and not is_kernel("0.Wx")


def l1l2_problem():
    rng = np.random.default_rng(3)
    W = rng.uniform(0.1, 1.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))  # away from the kink at 0
    W2 = rng.uniform(0.1, 1.0, size=(2, 2, 3, 3)) * rng.choice([-1.0, 1.0], size=(2, 2, 3, 3))
    return {"0.W": W, "0.b": rng.normal(size=4), "1.W": W2, "2.gamma": rng.normal(size=2)}


def test_l1l2_loss_and_gradient():
    params = l1l2_problem()
    pen = L1L2(l1=1e-2, l2=3e-2)
    kernels = [params["0.W"], params["1.W"]]
    expected = sum(1e-2 * np.abs(W).sum() + 3e-2 * (W**2).sum() for W in kernels)
    loss = pen.loss(params)
    assert isinstance(loss, np.ndarray) and loss.ndim == 0
    np.testing.assert_allclose(loss, expected, rtol=1e-12)

    grads = {k: np.full_like(p, 0.5) for k, p in params.items()}
    pen.add_grad(params, grads)
    for k, p in params.items():
        if not is_kernel(k):
            np.testing.assert_array_equal(grads[k], 0.5)  # biases and gamma are not penalised
            continue
        numerical = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + 1e-6
            plus = float(pen.loss(params))
            p[i] = old - 1e-6
            minus = float(pen.loss(params))
            p[i] = old
            numerical[i] = (plus - minus) / 2e-6
        np.testing.assert_allclose(grads[k] - 0.5, numerical, rtol=1e-6, atol=1e-9)  # added, not replaced


def test_l1l2_nothing_to_add():
    params = l1l2_problem()
    assert L1L2().loss(params) == 0.0
    assert L1L2(1e-5, 1e-5).loss({"0.b": params["0.b"]}) == 0.0


def test_l1l2_float32_on_device(xp):
    params = {k: xp.asarray(p.astype(np.float32)) for k, p in l1l2_problem().items()}
    grads = {k: xp.zeros_like(p) for k, p in params.items()}
    dW = grads["0.W"]
    pen = L1L2(1e-5, 1e-5)
    loss = pen.loss(params)
    pen.add_grad(params, grads)
    assert isinstance(loss, xp.ndarray) and loss.dtype == xp.float32
    assert grads["0.W"] is dW and dW.dtype == xp.float32
    W = to_numpy(params["0.W"])
    np.testing.assert_allclose(to_numpy(dW), 1e-5 * np.sign(W) + 2e-5 * W, rtol=1e-6)


# ---- the same numbers as PyTorch, where it is installed -------------------------
@pytest.mark.parametrize("name", list(MAKERS))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    params, grad_seq = make_problem()
    tparams = [torch.tensor(params[k], requires_grad=True) for k in SHAPES]
    if name == "sgd":
        topt = torch.optim.SGD(tparams, lr=0.1)
    elif name == "sgd-momentum":
        topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    elif name == "adam":
        topt = torch.optim.Adam(tparams, lr=1e-2, betas=(0.5, 0.999), eps=1e-8)
    else:
        topt = torch.optim.RMSprop(tparams, lr=1e-2, alpha=0.9, eps=1e-8)
    for gs in grad_seq:
        for tp, k in zip(tparams, SHAPES):
            tp.grad = torch.tensor(gs[k])
        topt.step()
    run(MAKERS[name](), params, grad_seq)
    for tp, k in zip(tparams, SHAPES):
        np.testing.assert_allclose(params[k], tp.detach().numpy(), rtol=1e-10, atol=1e-12)
