"""Dropout on the GPU: its masks are a pure function of (seed, mask number, element
index), so one seed gives one set of masks on any GPU, a copy or a checkpoint holds the
whole state, and a resumed run draws the masks the uninterrupted run would have drawn.
(On the strict CuPy stand-in where no GPU is: the bits are then computed by NumPy,
so these tests check the formula and the bookkeeping, never a GPU's speed.)"""

import copy
import warnings

import numpy as np
import pytest

from minigan import backend
from minigan.backend import CounterRNG, gpu_available, keep_mask, to_numpy
from minigan.checkpoint import dropout_layers, load_checkpoint, restore
from minigan.gradcheck import check_layer
from minigan.layers import Dense, Dropout, LeakyReLU, Sequential
from minigan.train import fill_defaults, load_data, make_gan, run

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="CuPy or a CUDA GPU is not available")]
MASK64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


@pytest.fixture
def cp():
    import cupy

    return cupy


# ---- the bits: SplitMix64 of (seed, mask number, element), as the docstring says -------------
def splitmix64(state):
    """Vigna's SplitMix64 as a Python generator of ints (the reference, written out again)."""
    while True:
        state = (state + G) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def mix(z):
    return next(splitmix64((z - G) & MASK64))  # the finaliser alone: one step from z - G lands on z


def reference_bits(seed, d, n):
    """bits(seed, d, i) for i < n: number i of the SplitMix64 stream that starts at k_d,
    k_d = number d of the stream started from mix(seed)."""
    keys = splitmix64(mix(seed))
    for _ in range(d):
        next(keys)
    stream = splitmix64(next(keys))
    return [next(stream) for _ in range(n)]


def test_the_reference_is_splitmix64():
    s = splitmix64(1234567)  # the published first outputs of SplitMix64 seeded with 1234567
    assert [next(s) for _ in range(5)] == [6457827717110365317, 3203168211198807973, 9817491932198370423,
                                           4593380528125082431, 16408922859458223821]  # fmt: skip


@pytest.mark.parametrize("seed", [0, 7, 2**63 + 5])
@pytest.mark.parametrize("p", [0.5, 0.3])
def test_the_masks_are_the_formula_in_the_docstring(cp, seed, p):
    """Element i of mask d is kept iff the top 16 bits of bits(seed, d, i) >= round(p 2^16):
    nothing else (no device state, no GPU parameter) enters, so every GPU draws these masks."""
    rng, x = CounterRNG(seed), cp.ones((6, 50), dtype=cp.float32)
    for d in range(3):
        mask = to_numpy(keep_mask(rng, x, p))
        expected = np.array([b >> 48 >= round(p * 2**16) for b in reference_bits(seed, d, x.size)]).reshape(6, 50)
        np.testing.assert_array_equal(mask, expected, err_msg=f"mask {d}")
    assert rng.draws == 3


def test_the_masks_follow_the_input_layout(cp):
    """Bits go in memory order: a channels-last input's mask is the transposed one."""
    x = cp.ones((3, 4, 5, 6), dtype=cp.float32)
    a = to_numpy(keep_mask(CounterRNG(9), x.transpose(0, 3, 1, 2), 0.5))
    b = to_numpy(keep_mask(CounterRNG(9), x, 0.5))
    np.testing.assert_array_equal(a, b.transpose(0, 3, 1, 2))


def test_the_cpu_draws_the_same_counter_masks(cp):
    """The same function on NumPy: a GPU run continued on the CPU keeps its masks."""
    gpu, cpu = CounterRNG(11), CounterRNG(11)
    for shape in [(7, 9), (2, 3, 4, 5)]:
        np.testing.assert_array_equal(to_numpy(keep_mask(gpu, cp.ones(shape), 0.3)),
                                      keep_mask(cpu, np.ones(shape), 0.3))  # fmt: skip


def test_a_pcg64_generator_cannot_draw_a_gpu_mask(cp):
    with pytest.raises(TypeError, match=r"keep_mask: a Generator cannot draw a mask for a GPU array"):
        keep_mask(np.random.default_rng(0), cp.ones(4), 0.5)


# ---- statistics: keep rate 1 - p, no visible dependence between elements or draws -------------
N = 1_000_000


@pytest.mark.parametrize("p", [0.3, 0.5, 0.01])
def test_the_keep_rate_is_one_minus_p(cp, p):
    kept = to_numpy(keep_mask(CounterRNG(0), cp.ones(N, dtype=cp.float32), p))
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / N) + 2**-17  # 5 standard errors + rounding


def correlation(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std()))


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_bits_look_independent_across_elements_draws_and_seeds(cp, p):
    """Correlations near 0 (|r| < 5 / sqrt(n)) between neighbours, strided elements,
    consecutive masks, and the same mask number under two seeds."""
    rng = CounterRNG(3)
    x = cp.ones(N, dtype=cp.float32)
    first, second = to_numpy(keep_mask(rng, x, p)), to_numpy(keep_mask(rng, x, p))
    other_seed = to_numpy(keep_mask(CounterRNG(4), x, p))
    limit = 5 / np.sqrt(N)
    pairs = {
        "neighbours": (first[:-1], first[1:]),
        "1024 apart": (first[:-1024], first[1024:]),
        "mask 0 and mask 1": (first, second),
        "seed 3 and seed 4": (first, other_seed),
    }
    for what, (a, b) in pairs.items():
        assert abs(correlation(a, b)) < limit, what
    assert abs(first.mean() - second.mean()) < 2 * 5 * np.sqrt(p * (1 - p) / N)


# ---- the layer on the GPU --------------------------------------------------------------------
def masks(layer, x, n=3):
    return [to_numpy(layer.forward(x)) != 0 for _ in range(n)]


def test_same_seed_same_masks_another_seed_others(cp):
    x = cp.ones((40, 50), dtype=cp.float32)
    a, b, c = masks(Dropout(0.3, seed=5), x), masks(Dropout(0.3, seed=5), x), masks(Dropout(0.3, seed=6), x)
    for i in range(3):
        np.testing.assert_array_equal(a[i], b[i])
    assert (a[0] != a[1]).any()
    assert (a[0] != c[0]).any()


def test_the_layer_holds_a_counter_generator_and_a_copy_continues_it(cp):
    layer = Dropout(0.5, seed=2)
    x = cp.ones((30, 30), dtype=cp.float32)
    layer.forward(x)
    assert layer.rng == CounterRNG(2, draws=1)
    twin = copy.deepcopy(layer)
    np.testing.assert_array_equal(masks(layer, x, 2), masks(twin, x, 2))


def test_a_mask_costs_two_launches_no_wait_and_no_copy(cp, ledger):
    x = cp.ones((64, 64, 14, 14), dtype=cp.float32).transpose(0, 2, 3, 1)  # channels-last, as the DCGAN's
    rng = backend.dropout_generator(0, cp)
    before = ledger.total("launches")
    keep_mask(rng, x, 0.3)
    assert ledger.total("launches") - before == 2, ledger.report("launches")  # the element numbers, one fused kernel
    assert ledger.total("syncs") == 0
    assert ledger.total("h2d") == 0


def test_a_cpu_generator_meeting_a_gpu_input_is_replaced_with_a_warning(cp):
    layer = Dropout(0.3, seed=1)
    layer.forward(np.ones((4, 5), np.float32))  # a PCG64 generator now
    twin = copy.deepcopy(layer)
    with pytest.warns(UserWarning, match=r"Dropout\(p=0.3\): its masks so far came from the CPU's PCG64.*cannot"):
        a = masks(layer, cp.ones((4, 5), dtype=cp.float32), 2)
    assert isinstance(layer.rng, CounterRNG)
    with pytest.warns(UserWarning, match="PCG64"):
        b = masks(twin, cp.ones((4, 5), dtype=cp.float32), 2)
    np.testing.assert_array_equal(a, b)  # seeded from the PCG64 state: reproducible


def test_check_layer_makes_no_generator_per_forward_pass(cp, monkeypatch):
    made = []

    def counting(seed, xp=np):
        made.append(seed)
        return make(seed, xp)

    make = backend.dropout_generator
    monkeypatch.setattr(backend, "dropout_generator", counting)
    net = Sequential(Dense(4, 6), LeakyReLU(0.2), Dropout(0.3, seed=1), Dense(6, 5), Dropout(0.5, seed=2)).to("gpu")
    x = cp.asarray(np.random.default_rng(0).standard_normal((3, 4)))
    assert check_layer(net, x).ok  # about 2 * (12 + 54) forward passes
    assert sorted(made) == [1, 2]  # one generator for each Dropout, made once


# ---- resuming a GPU run ----------------------------------------------------------------------
SETTINGS = dict(model="mlp", dataset="mnist", data_dir=None, subset=128, epochs=2, batch_size=32, lr=None,
                beta1=None, latent_dim=None, objective="non-saturating", d_steps=1, schedule="alternating",
                label_smoothing=0.0, seed=0, device="gpu")  # fmt: skip


def settings(**kw):
    return fill_defaults({**SETTINGS, **kw})


def test_a_gpu_run_resumed_on_the_gpu_is_the_uninterrupted_run(straight_and_resumed):
    """2 epochs straight == 1 epoch, stop, resume to 2: every array of the checkpoint, bit for bit
    (weights, Adam, the masks' counters: the Dropouts drew what they would have drawn)."""
    s = settings()
    a, _ = straight_and_resumed(s)
    dropouts = [path for path, _ in dropout_layers(make_gan(s, load_data(s)).D)]
    assert len(dropouts) == 2
    assert not any(".rng." in k for k in a if k[0] in "GD")
    for path in dropouts:
        assert a[f"D.counter_rng.{path}"][1] > 0  # masks were drawn (and saved)


def gpu_checkpoint(tmp_path, **kw):
    s = settings(epochs=1, **kw)
    run(s, str(tmp_path / "gpu"), progress=False)
    return s, load_checkpoint(str(tmp_path / "gpu" / "checkpoint.npz"))


def test_a_gpu_run_resumed_on_the_cpu_draws_the_gpus_next_masks(cp, tmp_path):
    s, ckpt = gpu_checkpoint(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the CPU continues a CounterRNG exactly
        on_gpu = restore(make_gan(s, load_data(s)), ckpt)
        on_cpu = restore(make_gan({**s, "device": "cpu"}, load_data(s)), ckpt)
    pairs = list(zip(dropout_layers(on_gpu.D), dropout_layers(on_cpu.D), strict=True))
    assert pairs
    for (path, g), (_, c) in pairs:
        assert g.rng == c.rng == CounterRNG.from_state(ckpt[f"D.counter_rng.{path}"])
        np.testing.assert_array_equal(masks(g, cp.ones((32, 256), dtype=cp.float32)),
                                      masks(c, np.ones((32, 256), np.float32)))  # fmt: skip


def test_a_cpu_run_resumed_on_the_gpu_says_its_masks_cannot_continue(cp, tmp_path):
    s = settings(device="cpu", epochs=1)
    run(s, str(tmp_path / "cpu"), progress=False)
    ckpt = load_checkpoint(str(tmp_path / "cpu" / "checkpoint.npz"))
    paths = [path for path, _ in dropout_layers(make_gan(s, load_data(s)).D)]
    assert all(f"D.rng.{path}" in ckpt for path in paths)
    gans = []
    for _ in range(2):
        with pytest.warns(UserWarning, match="GPU cannot continue") as caught:
            gans.append(restore(make_gan({**s, "device": "gpu"}, load_data(s)), ckpt))
        said = [str(w.message) for w in caught]
        assert len(said) == len(paths)
        for path, message in zip(paths, said, strict=True):  # one warning a layer, naming it
            assert message.startswith(f"D.{path} Dropout(p=0.3): its masks so far came from the CPU's PCG64 "
                                      "generator, which the GPU cannot continue")  # fmt: skip
    a, b = (dict(dropout_layers(g.D)) for g in gans)
    x = cp.ones((32, 256), dtype=cp.float32)
    for path in a:
        assert isinstance(a[path].rng, CounterRNG)
        assert a[path].rng == b[path].rng
        np.testing.assert_array_equal(masks(a[path], x), masks(b[path], x))  # the same checkpoint: the same masks
