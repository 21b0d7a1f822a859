"""Checkpoints: one .npz of plain arrays, written atomically, read without pickle.

What a checkpoint holds (keys):
    format                      the string "minigan-checkpoint-v1"
    settings                    the run's settings as a JSON string (model, data, recipe, seed...)
    G.params.<key>, D.params.<key>      every weight ("0.W", "1.gamma", ...)
    G.buffers.<key>, D.buffers.<key>    BatchNorm running statistics
    G.rng.<layer>, D.rng.<layer>        a Dropout's CPU generator (PCG64), uint64[6]
    G.counter_rng.<layer>, ...          a Dropout's GPU generator (CounterRNG): (seed, masks drawn), uint64[2]
    opt_G.<key>, opt_D.<key>    Adam's step count and moments
    rng.noise, rng.data         the noise and data-order generators' states
    rng.labels                  (conditional GANs) the generator of the fakes' labels
    fixed_noise, step, epoch, last_g, history.<name>, spread

Every array is numeric or a plain string, so ``np.load(allow_pickle=False)`` reads
it and no code can hide in the file. Writing goes to a temporary file in the same
folder which is then renamed over the old one: a run killed mid-write leaves the
previous checkpoint intact. Restoring checks every key, shape and dtype against the
model BEFORE changing anything.

Dropout across devices: a run resumed on the device it ran on draws exactly the
masks it would have drawn uninterrupted. A GPU run resumed on the CPU does too (its
CounterRNG runs on NumPy). A CPU run resumed on the GPU cannot: the GPU does not run
PCG64, so its Dropouts go on with a CounterRNG seeded from the saved state, and a
warning says so (see ``backend.dropout_generator_for``).
"""

import json
import os

import numpy as np

from .backend import CounterRNG, device_of, dropout_generator_for, get_array_module, to_device, to_numpy
from .cgan import ConditionalGAN
from .fileio import atomic_write, read_npz
from .gan import HISTORY_KEYS
from .layers import Dropout, Sequential

FORMAT = "minigan-checkpoint-v1"
_MASK64 = (1 << 64) - 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, or does not fit the model."""


# ---- random generator states as plain integer arrays ------------------------------
def rng_to_array(rng):
    """A NumPy PCG64 generator's state as uint64[6] (its two 128-bit numbers split in halves)."""
    st = rng.bit_generator.state
    if st["bit_generator"] != "PCG64":
        raise CheckpointError(f"cannot save a {st['bit_generator']} generator (only PCG64)")
    s, inc = st["state"]["state"], st["state"]["inc"]
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, st["has_uint32"], st["uinteger"]],
                    dtype=np.uint64)  # fmt: skip


def rng_from_array(a, key="a generator state"):
    """The generator saved by ``rng_to_array``, in exactly the same state; CheckpointError
    (naming ``key``) for an array no PCG64 generator could have written."""
    a = np.asarray(a)
    if a.shape != (6,) or a.dtype.kind != "u":
        raise CheckpointError(f"checkpoint's {key!r} is {a.dtype}{a.shape}, a PCG64 state is uint64[6]")
    a = [int(v) for v in a]
    if a[3] % 2 == 0 or a[4] not in (0, 1) or a[5] >= 1 << 32:
        raise CheckpointError(f"checkpoint's {key!r} is not a PCG64 state (its increment must be odd, "
                              f"has_uint32 0 or 1, uinteger < 2**32): got {a}")  # fmt: skip
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (a[0] << 64) | a[1], "inc": (a[2] << 64) | a[3]},
        "has_uint32": a[4],
        "uinteger": a[5],
    }
    return rng


def dropout_layers(net, prefix=""):
    """(path, layer) for every Dropout inside ``net``, e.g. ("2", layer), nested as "3.1"."""
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Dropout):
            yield f"{prefix}{i}", layer
        elif isinstance(layer, Sequential):
            yield from dropout_layers(layer, f"{prefix}{i}.")


def saved_dropout_generators(ckpt, name, net):
    """{path: generator or None} for every Dropout in network ``name`` ("G" or "D"), read
    from the checkpoint's ``<name>.rng.<path>`` (PCG64) or ``<name>.counter_rng.<path>``
    (CounterRNG) and checked: CheckpointError for a bad state, for both kinds saved for
    one layer, or for a key that names no Dropout of ``net``. None: no mask drawn yet."""
    paths = [path for path, _ in dropout_layers(net)]
    for kind in ("rng", "counter_rng"):
        prefix = f"{name}.{kind}."
        stray = sorted(k for k in ckpt if k.startswith(prefix) and k[len(prefix) :] not in paths)
        if stray:
            raise CheckpointError(f"checkpoint does not fit this model's {name}: {stray[:5]} name no Dropout layer "
                                  f"(its Dropouts are at {paths})")  # fmt: skip
    saved = {}
    for path in paths:
        pcg, counter = f"{name}.rng.{path}", f"{name}.counter_rng.{path}"
        if pcg in ckpt and counter in ckpt:
            raise CheckpointError(f"checkpoint holds two generators for the Dropout at {name}.{path} "
                                  f"({pcg!r} and {counter!r}): one layer has one")  # fmt: skip
        if pcg in ckpt:
            saved[path] = rng_from_array(ckpt[pcg], pcg)
        elif counter in ckpt:
            try:
                saved[path] = CounterRNG.from_state(ckpt[counter])
            except ValueError as e:
                raise CheckpointError(f"checkpoint's {counter!r}: {e}") from e
        else:
            saved[path] = None
    return saved


# ---- the state of a whole run ---------------------------------------------------
def gan_state(gan, settings):
    """Everything needed to continue ``gan`` exactly, as a dict of NumPy arrays."""
    d = {"format": np.array(FORMAT), "settings": np.array(json.dumps(settings, sort_keys=True))}
    for name, net in (("G", gan.G), ("D", gan.D)):
        d.update({f"{name}.params.{k}": to_numpy(v) for k, v in net.params.items()})
        d.update({f"{name}.buffers.{k}": to_numpy(v) for k, v in net.get_buffers().items()})
        for path, layer in dropout_layers(net):  # (a Dropout that has drawn no mask has no generator yet)
            if isinstance(layer.rng, np.random.Generator):
                d[f"{name}.rng.{path}"] = rng_to_array(layer.rng)
            elif isinstance(layer.rng, CounterRNG):
                d[f"{name}.counter_rng.{path}"] = layer.rng.state()
    for name, opt in (("opt_G", gan.opt_G), ("opt_D", gan.opt_D)):
        d.update({f"{name}.{k}": to_numpy(v) for k, v in opt.state_dict().items()})
    d["rng.noise"], d["rng.data"] = rng_to_array(gan.noise_rng), rng_to_array(gan.data_rng)
    if isinstance(gan, ConditionalGAN):
        d["rng.labels"] = rng_to_array(gan.label_rng)
    d["fixed_noise"] = gan.fixed_noise
    d["step"], d["epoch"] = np.array(gan.step, dtype=np.int64), np.array(gan.epoch, dtype=np.int64)
    d["last_g"] = np.array([gan.last_g["g_loss"], gan.last_g["grad_norm_g"]], dtype=np.float64)
    for k in HISTORY_KEYS:
        d[f"history.{k}"] = np.asarray(gan.history[k], dtype=np.int64 if k in ("step", "epoch") else np.float64)
    d["spread"] = np.asarray(gan.spread, dtype=np.float64).reshape(-1, 2)
    return d


def save_checkpoint(path, gan, settings):
    """Write the run's state to ``path`` (.npz) atomically: temp file, fsync, rename."""
    arrays = gan_state(gan, settings)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_checkpoint(path):
    """Read a checkpoint into a dict of arrays, or raise one clear CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    arrays = read_npz(path, CheckpointError)
    fmt = arrays.get("format")
    if fmt is None or fmt.shape != () or str(fmt) != FORMAT:
        raise CheckpointError(f"{path} is an .npz file but not a minigan checkpoint (no format '{FORMAT}')")
    try:
        arrays["settings"] = json.loads(str(arrays["settings"]))
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the checkpoint's settings are missing or unreadable") from e
    return arrays


def _expect(ckpt, key, shape, kinds="f"):
    a = ckpt.get(key)
    if a is None:
        raise CheckpointError(f"checkpoint lacks {key!r}")
    if a.shape != tuple(shape) or a.dtype.kind not in kinds:
        raise CheckpointError(f"checkpoint's {key!r} is {a.dtype}{a.shape}, the model needs shape {tuple(shape)}")
    return a


def restore(gan, ckpt):
    """Load a checkpoint (from ``load_checkpoint``) into ``gan``, in place.

    Every key and shape is checked first; on any mismatch CheckpointError is raised
    and the model is left exactly as it was.
    """
    nets = (("G", gan.G), ("D", gan.D))
    for name, net in nets:  # 1. check everything
        for kind, arrays in (("params", net.params), ("buffers", net.get_buffers())):
            expected = {f"{name}.{kind}.{k}" for k in arrays}
            found = {k for k in ckpt if k.startswith(f"{name}.{kind}.")}
            if expected != found:
                raise CheckpointError(
                    f"checkpoint does not fit this model's {name}: missing {sorted(expected - found)[:5]}, "
                    f"unexpected {sorted(found - expected)[:5]}"
                )
            for k, v in arrays.items():
                _expect(ckpt, f"{name}.{kind}.{k}", v.shape)
    rng_keys = ("rng.noise", "rng.data") + (("rng.labels",) if isinstance(gan, ConditionalGAN) else ())
    generators = {key: rng_from_array(_expect(ckpt, key, (6,), "u"), key) for key in rng_keys}
    dropout_rngs = {name: saved_dropout_generators(ckpt, name, net) for name, net in nets}
    fixed = ckpt.get("fixed_noise")
    if fixed is None or fixed.ndim != 2 or fixed.shape[1] != gan.latent_dim:
        raise CheckpointError(f"checkpoint's fixed noise does not fit latent_dim {gan.latent_dim}")
    for key in ("step", "epoch"):
        _expect(ckpt, key, (), "iu")
    opt_states = {}
    for name, opt, net in (("opt_G", gan.opt_G, gan.G), ("opt_D", gan.opt_D, gan.D)):
        opt_states[name] = {k[len(name) + 1 :]: v for k, v in ckpt.items() if k.startswith(name + ".")}
        if "t" not in opt_states[name]:
            raise CheckpointError(f"checkpoint lacks the optimizer state {name}.t")
        try:
            opt.check_state_dict(opt_states[name], net.params)
        except ValueError as e:
            raise CheckpointError(f"checkpoint's optimizer state {name} does not fit: {e}") from e

    # 2. change the model
    for name, net in nets:
        for kind, arrays in (("params", net.params), ("buffers", net.get_buffers())):
            for k, v in arrays.items():
                v[...] = get_array_module(v).asarray(ckpt[f"{name}.{kind}.{k}"])  # in place, on v's device
        xp = get_array_module(next(iter(net.params.values())))
        for path, layer in dropout_layers(net):  # on the GPU a saved PCG64 state is replaced, with a warning
            saved, owner = dropout_rngs[name][path], f"{name}.{path} {layer!r}"
            layer.rng = None if saved is None else dropout_generator_for(saved, layer.seed, xp, owner)
    for name, opt, net in (("opt_G", gan.opt_G, gan.G), ("opt_D", gan.opt_D, gan.D)):
        device = device_of(next(iter(net.params.values())))
        opt.load_state_dict({k: to_device(v, device) if k != "t" else v for k, v in opt_states[name].items()})
    gan.noise_rng, gan.data_rng = generators["rng.noise"], generators["rng.data"]
    if isinstance(gan, ConditionalGAN):
        gan.label_rng = generators["rng.labels"]
    gan.fixed_noise = ckpt["fixed_noise"].astype(np.float32)
    gan.step, gan.epoch = int(ckpt["step"]), int(ckpt["epoch"])
    g_loss, gn = (float(v) for v in ckpt.get("last_g", [np.nan, np.nan]))
    gan.last_g = {"g_loss": g_loss, "grad_norm_g": gn}
    gan.history = {k: list(ckpt.get(f"history.{k}", np.zeros(0)).tolist()) for k in HISTORY_KEYS}
    gan.spread = [(int(s), float(v)) for s, v in ckpt.get("spread", np.zeros((0, 2)))]
    return gan
