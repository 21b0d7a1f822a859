"""One flat buffer per network (minigan/flat.py): the layers keep working through views,
and Adam over the buffers gives the same numbers, to the bit, as Adam one array at a time."""

import io
import types

import numpy as np
import pytest

from minigan import compiled, cores, flat
from minigan.backend import to_numpy
from minigan.gan import GAN
from minigan.layers import Dense, Sequential
from minigan.models import dcgan, mlp_gan
from minigan.optim import SGD, Adam


def small_mlp(seed=0):
    return mlp_gan(latent_dim=8, hidden=16, seed=seed)


def separate_copy(net):
    """The same network with every parameter and gradient in an array of its own."""
    for layer in flat.leaf_layers(net):
        layer.params = {k: p.copy() for k, p in layer.params.items()}
        layer.grads = {k: g.copy() for k, g in layer.grads.items()}
    return net


def test_flatten_keeps_values_and_makes_views():
    G, _ = small_mlp()
    before = {k: p.copy() for k, p in G.params.items()}
    G.layers[0].grads["W"][...] = 3.0  # a gradient already accumulated travels along
    params, grads = flat.flatten(G)
    assert params.shape == grads.shape == (G.num_params(),)
    for k, p in G.params.items():
        np.testing.assert_array_equal(p, before[k])
        assert p.base is params and G.grads[k].base is grads
    assert (G.layers[0].grads["W"] == 3.0).all()
    assert flat.flat_buffer(G.params.values()) is params
    assert flat.flat_buffer(G.grads.values()) is grads
    params[...] = 7.0  # one write reaches every layer
    assert all((p == 7.0).all() for p in G.params.values())


def test_flat_buffer_refuses_what_does_not_tile_it():
    G, _ = small_mlp()
    assert flat.flat_buffer(G.params.values()) is None  # separate arrays
    flat.flatten(G)
    arrays = list(G.params.values())
    assert flat.flat_buffer(arrays[1:]) is None  # a subset
    assert flat.flat_buffer(arrays[::-1]) is None  # another order
    assert flat.flat_buffer([]) is None
    assert flat.flat_buffer([arrays[0][:, :2]]) is None  # a view that is not contiguous


def test_layers_accumulate_gradients_through_the_views():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8)).astype(np.float32)
    dout = rng.standard_normal((5, 4)).astype(np.float32)
    nets = [Sequential(Dense(8, 6, rng=np.random.default_rng(1)), Dense(6, 4, rng=np.random.default_rng(2)))
            for _ in range(2)]  # fmt: skip
    _, grads = flat.flatten(nets[1])
    for net in nets:
        for _ in range(2):  # twice: += must add into the buffer, not replace the view
            net.forward(x)
            net.backward(dout)
    for k in nets[0].grads:
        np.testing.assert_array_equal(nets[0].grads[k], nets[1].grads[k])
    assert np.abs(grads).sum() > 0
    nets[1].zero_grad()
    assert not grads.any()


def test_mixed_dtypes_are_left_alone():
    net = Sequential(Dense(3, 2), Dense(2, 1).astype(np.float64))
    assert flat.flatten(net) == (None, None)
    assert flat.flat_buffer(net.params.values()) is None
    assert flat.flatten(Sequential()) == (None, None)


def adam_runs(xp, dtype, steps=4):
    """(params after Adam over separate arrays, after Adam over flat buffers, the flat optimizer)."""
    results = []
    for flatten in (False, True):
        G, _ = small_mlp()
        G.astype(dtype).to("cpu" if xp is np else "gpu")
        if flatten:
            flat.flatten(G)
        opt = Adam(lr=1e-2, beta1=0.5, beta2=0.9)  # large steps: any difference would show
        rng = np.random.default_rng(5)
        for _ in range(steps):
            for g in G.grads.values():
                g[...] = xp.asarray(rng.standard_normal(g.shape).astype(dtype))
            opt.step(G.params, G.grads)
        results.append({k: to_numpy(p).copy() for k, p in G.params.items()})
    return results[0], results[1], opt


@pytest.fixture(params=["compiled", "numpy"])
def loops(request, monkeypatch):
    """Each test twice on the CPU: with the compiled Adam loop (where numba is installed)
    and with NumPy's passes in blocks. Yields the number of calls of the compiled loop so far."""
    calls = []
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.delenv("MINIGAN_COMPILED", raising=False)
        monkeypatch.setattr(compiled, "_loops", False)  # looked for again
        found = compiled.loops()
        assert found is not None

        def adam(*args):
            calls.append(1)
            return found.adam(*args)

        monkeypatch.setattr(compiled, "_loops", types.SimpleNamespace(**{**vars(found), "adam": adam}))
    else:
        monkeypatch.setattr(compiled, "_loops", None)
    return request.param, calls


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_flat_is_bit_exact(xp, monkeypatch, loops, dtype, threads):
    monkeypatch.setattr(flat, "CPU_BLOCK", 100)  # many blocks, and a split into two halves
    monkeypatch.setattr(cores, "CPU_THREADS", threads)
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)
    separate, flattened, opt = adam_runs(xp, dtype)
    assert flat.flat_buffer(opt.state["m"].values()) is not None  # the fast path ran
    assert bool(loops[1]) == (loops[0] == "compiled" and xp is np)  # the compiled loop, on the CPU only
    for k in separate:
        assert flattened[k].dtype == dtype
        np.testing.assert_array_equal(flattened[k], separate[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta1, beta2", [(0.5, 0.9), (0.9, 0.999)])  # 1 - 0.999 is not exact in float32
def test_adam_update_over_one_buffer_matches_update(monkeypatch, loops, dtype, beta1, beta2):
    monkeypatch.setattr(flat, "CPU_BLOCK", 64)
    rng = np.random.default_rng(0)
    p, g, m = (rng.standard_normal(1000).astype(dtype) for _ in range(3))
    v = np.abs(rng.standard_normal(1000)).astype(dtype)
    g[:4], v[:2], m[:2] = 0, 0, -0.0  # zero gradients; v = 0 (the update is m / eps); signed zeros
    g[5] = np.finfo(dtype).max / 2  # g * g overflows: v = inf, and the update is m / inf = 0 in both
    opt = Adam(lr=1e-2, beta1=beta1, beta2=beta2)
    opt.t = 3
    expected = [a.copy() for a in (p, m, v)]
    opt.state = {"m": {"w": expected[1]}, "v": {"w": expected[2]}}
    with np.errstate(over="ignore"):  # NumPy warns of the overflow; the compiled loop does not
        opt.update("w", expected[0], g)
    assert np.isinf(expected[2][5]) and expected[0][5] == p[5]
    monkeypatch.setattr(cores, "SPLIT_ELEMENTS", 0)
    for threads in (1, 2):
        monkeypatch.setattr(cores, "CPU_THREADS", threads)
        got = [a.copy() for a in (p, m, v)]
        with np.errstate(over="ignore"):
            flat.adam_update(*got[:1], g, *got[1:], 3, 1e-2, beta1, beta2, 1e-8)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))  # bits: signed zeros too
    assert bool(loops[1]) == (loops[0] == "compiled")


@pytest.mark.parametrize("n", [1, 262143, 262144, 660_000, 1_070_000, 4_000_003])
def test_cpu_block_one_thread_keeps_the_cache_sized_block_two_share_equal_halves(monkeypatch, n):
    monkeypatch.setattr(cores, "CPU_THREADS", None)
    assert flat.cpu_block(n) == flat.CPU_BLOCK
    monkeypatch.setattr(cores, "CPU_THREADS", 2)
    block = flat.cpu_block(n)
    if n < cores.SPLIT_ELEMENTS:  # not split: one thread's block
        assert block == flat.CPU_BLOCK
        return
    blocks = -(-n // block)
    assert block <= 2 * flat.CPU_BLOCK and blocks % 2 == 0  # larger blocks, the same number for each core
    assert n - (blocks - 1) * block > 0  # no empty block at the end
    assert block * (blocks // 2) - (n - block * (blocks // 2)) < blocks  # the halves differ by under a block's rounding


def test_flat_state_dict_keeps_its_keys_and_resumes_bit_exact():
    G, _ = small_mlp()
    flat.flatten(G)
    rng = np.random.default_rng(1)
    grad_seq = [[rng.standard_normal(g.shape).astype(np.float32) for g in G.grads.values()] for _ in range(6)]

    def run(opt, grads_list):
        for gs in grads_list:
            for g, new in zip(G.grads.values(), gs, strict=True):
                g[...] = new
            opt.step(G.params, G.grads)

    opt = Adam(lr=1e-2, beta1=0.5)
    run(opt, grad_seq[:3])
    saved = opt.state_dict()
    assert set(saved) == {"t"} | {f"{s}.{k}" for s in ("m", "v") for k in G.params}
    buffer = io.BytesIO()
    np.savez(buffer, **saved)
    buffer.seek(0)
    with np.load(buffer) as f:
        loaded = {k: f[k] for k in f.files}
    at_save = {k: p.copy() for k, p in G.params.items()}
    run(opt, grad_seq[3:])
    after = {k: p.copy() for k, p in G.params.items()}

    for k, p in G.params.items():
        p[...] = at_save[k]
    resumed = Adam(lr=1e-2, beta1=0.5)
    resumed.load_state_dict(loaded)  # separate arrays: packed into one buffer at the next step
    run(resumed, grad_seq[3:])
    assert flat.flat_buffer(resumed.state["v"][k] for k in G.params) is not None
    for k, p in G.params.items():
        np.testing.assert_array_equal(p, after[k])


def test_optimizers_without_a_flat_update_take_one_array_at_a_time():
    G, _ = small_mlp()
    flat.flatten(G)
    reference = separate_copy(small_mlp()[0])
    for net in (G, reference):
        for g in net.grads.values():
            g[...] = 0.5
        SGD(lr=0.1, momentum=0.9).step(net.params, net.grads)
    for k, p in G.params.items():
        np.testing.assert_array_equal(p, reference.params[k])


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_gan_trains_the_same_with_and_without_flat_buffers(model):
    real = np.random.default_rng(0).uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    runs = []
    for flatten in (True, False):
        G, D = dcgan(latent_dim=8, seed=0) if model == "dcgan" else mlp_gan(latent_dim=8, hidden=16, seed=0)
        gan = GAN(G, D, latent_dim=8, seed=0)
        if not flatten:
            separate_copy(G), separate_copy(D)
        assert (flat.flat_buffer(D.params.values()) is not None) == flatten
        history = [gan.train_step(real) for _ in range(3)]
        for opt in (gan.opt_G, gan.opt_D):  # Adam took the flat path exactly when the weights are flat
            assert (flat.flat_buffer(opt.state["m"].values()) is not None) == flatten
        runs.append(
            (history, {f"{tag}.{k}": p.copy() for tag, net in (("G", G), ("D", D)) for k, p in net.params.items()})
        )
    assert runs[0][0] == runs[1][0]
    for k, p in runs[0][1].items():
        np.testing.assert_array_equal(p, runs[1][1][k])
