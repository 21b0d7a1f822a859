"""The adversarial game. One training step is two passes:

(1) train D, G frozen:
    z ~ N(0, I) -> G.forward -> fake                    (G runs forward only: no G.backward)
    [real; fake] -> D.forward -> logits                  (one batch of 2N, real first)
    d_loss -> D.backward(input_grad=False) -> D.grads -> opt_D.step()
(2) train G, D frozen:
    fake -> D.forward -> logits_fake                     (the same fakes, judged by the updated D)
    g_loss -> D.backward(param_grads=False)              (the gradient flows THROUGH D,
           -> G.backward(input_grad=False)                D's own weight gradients are not computed)
           -> G.grads -> opt_G.step()

"Frozen" does not mean "no backward": in pass (2) D's backward runs, because G
can only learn through D's judgement. It means D's weights are not changed
(and here their gradients are not even computed). ``input_grad=False`` skips the
one gradient nobody needs: that of a network's input (real images and noise).

D judges the real and the fake batch in one pass of 2N examples: for the layers
D uses (convolutions, dense, activations, dropout) that is the same as two passes,
but with BatchNorm in D it would mix the two batches' statistics.
"""

import contextlib
import math

import numpy as np

from .backend import both_cores, get_array_module, keep_freed_memory, to_module, to_numpy
from .flat import flatten, leaf_layers
from .layers import Conv2D, ConvTranspose2D
from .losses import OBJECTIVES, WGAN, WGANGP, BCEObjective, clip_weights, get_objective, sigmoid
from .optim import Adam
from .second_order import gradient_penalty

SCHEDULES = ("alternating", "simultaneous")
HISTORY_KEYS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")


def convolutional(*nets):
    """Whether any of the networks has a convolution. When the BLAS runs two threads (a
    2-core CPU), ``fit`` trains such networks within ``cores.both_cores``: their
    patch copies and passes are a large share of a step, and halving them pays; an
    MLP's step is nearly all mid-size products, which OpenBLAS's own two threads run
    faster (benchmarks/RESULTS.md, round 7)."""
    return any(isinstance(layer, (Conv2D, ConvTranspose2D)) for net in nets for layer in leaf_layers(net))


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite. Checked on the step's one copy of its statistics,
    so the step was applied to the networks in memory; a checkpoint on disk predates it."""


def grad_norm(net):
    """sqrt(sum of every squared gradient entry) of a network, as a 0-d array on the
    gradients' device (float() it to read it; the training step copies all its
    statistics to the host at once instead).

    One sum per gradient array (vdot(g, g) = sum of g * g, without making g * g).
    """
    grads = list(net.grads.values())
    if not grads:
        return np.float64(0.0)
    xp = get_array_module(grads[0])
    return xp.sqrt(xp.stack([xp.vdot(g, g) for g in grads]).sum())  # stack: (number of arrays,)


class GAN:
    """Two networks and their optimizers, trained against each other.

    generator:     z (N, latent_dim) -> samples
    discriminator: samples -> logits (N, 1)
    objective:     one of losses.OBJECTIVES (default "non-saturating"), or an objective
                   object with settings of its own, e.g. losses.WGANGP(weight=0.1)
    lr, beta1, beta2: Adam for both players (DCGAN recipe: 2e-4, 0.5, 0.999)
    d_steps:       the paper's k: D updates per G update
    schedule:      "alternating" (D, then G against the updated D) or "simultaneous"
                   (both gradients from the same forward pass, then both update)
    label_smoothing: one-sided: real target 1 - s for D (BCE objectives)
    penalty:       optional optim.L1L2 added to both players' kernel gradients
    seed:          fixes the noise, the data order and the fixed sample noise
    """

    def __init__(self, generator, discriminator, latent_dim, objective="non-saturating", lr=2e-4, beta1=0.5,
                 beta2=0.999, d_steps=1, schedule="alternating", label_smoothing=0.0, seed=0, penalty=None,
                 n_fixed=64):  # fmt: skip
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"d_steps must be an integer >= 1, got {d_steps!r}")
        self.G, self.D, self.latent_dim = generator, discriminator, latent_dim
        flatten(self.G), flatten(self.D)  # each network's weights in one buffer: Adam runs over it in one go
        if isinstance(objective, str):
            self.objective = get_objective(objective, label_smoothing)
        elif not (hasattr(objective, "d_loss") and hasattr(objective, "g_loss")):
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)} or an objective object, got {objective!r}"
            )
        elif label_smoothing:
            raise ValueError("label_smoothing goes with an objective's name; an objective object has its own")
        else:
            self.objective = objective
        if isinstance(self.objective, WGANGP) and schedule != "alternating":
            raise ValueError("the wgan-gp objective needs schedule='alternating' (the penalty is a critic step)")
        self.opt_G = Adam(lr, beta1, beta2)
        self.opt_D = Adam(lr, beta1, beta2)
        self.d_steps, self.schedule, self.penalty, self.seed = d_steps, schedule, penalty, seed
        # independent streams for the noise, the data order and the fixed sample noise
        noise_seq, data_seq, fixed_seq = np.random.SeedSequence(seed).spawn(3)
        self.noise_rng = np.random.default_rng(noise_seq)
        self.data_rng = np.random.default_rng(data_seq)
        self.fixed_noise = np.random.default_rng(fixed_seq).standard_normal((n_fixed, latent_dim)).astype(np.float32)
        self.step = 0  # D updates so far
        self.epoch = 0  # epochs completed
        self.last_g = {"g_loss": math.nan, "grad_norm_g": math.nan}
        self.history = {k: [] for k in HISTORY_KEYS}
        self.spread = []  # (step, spread of the fixed-noise samples), logged after each epoch

    # ---- noise -----------------------------------------------------------------
    def noise(self, n, xp=np):
        """z ~ N(0, I), (n, latent_dim) float32, drawn on the CPU (the same numbers on
        every device) and handed to ``xp`` explicitly."""
        return to_module(self.noise_rng.standard_normal((n, self.latent_dim), dtype=np.float32), xp)

    def step_noise(self, real):
        """z for this step and, for WGAN-GP, the penalty's mixing weights alpha ~ U(0, 1),
        (N, 1, ...): both drawn on the CPU (z first) and handed to real's device in ONE
        copy, as the columns of one (N, latent_dim + 1) array."""
        n, xp = real.shape[0], get_array_module(real)
        z = self.noise_rng.standard_normal((n, self.latent_dim), dtype=np.float32)
        if not isinstance(self.objective, WGANGP):
            return to_module(z, xp), None
        alpha = self.noise_rng.uniform(size=(n, 1))  # float64; float32 too where real is
        both = to_module(np.concatenate([z, alpha.astype(np.result_type(np.float32, real.dtype))], axis=1), xp)
        alpha = both[:, -1].reshape((n,) + (1,) * (real.ndim - 1)).astype(real.dtype, copy=False)
        return both[:, :-1].astype(np.float32, copy=False), alpha

    def d_output(self, logits):
        """Mean of what D says (a 0-d device array): a probability for the BCE objectives,
        else the raw score."""
        return (sigmoid(logits) if isinstance(self.objective, BCEObjective) else logits).mean()

    def _update(self, net, opt):
        if self.penalty is not None:
            self.penalty.add_grad(net.params, net.grads)
        opt.step(net.params, net.grads)
        if net is self.D and isinstance(self.objective, WGAN) and not isinstance(self.objective, WGANGP):
            clip_weights(self.D.params, self.objective.clip)  # the critic stays (roughly) 1-Lipschitz

    def to_host(self, stats):
        """The step's statistics as floats, with ONE device-to-host copy: the 0-d device
        arrays are stacked into one small array and copied at once (each float() of a
        device scalar would wait for the GPU). The NaN guard reads that copy, so it runs
        after the step: a diverged step has been applied to the networks in memory."""
        on_device = [k for k, v in stats.items() if not isinstance(v, (float, np.generic))]
        host = {k: float(v) for k, v in stats.items() if k not in on_device}
        if on_device:
            xp = get_array_module(stats[on_device[0]])
            values = to_numpy(xp.stack([stats[k] for k in on_device], dtype=np.float64))  # the one wait
            host.update(zip(on_device, values.tolist()))
        for name in ("d_loss", "g_loss"):
            if name in host and not math.isfinite(host[name]):
                raise TrainingDiverged(f"{name} became {host[name]} at step {self.step}")
        return host

    # ---- one step ----------------------------------------------------------------
    def train_step(self, real):
        """One D update and, every ``d_steps``-th call, one G update.

        real: (N, ...) a batch of real samples, float32, on the networks' device.
        Returns {d_loss, g_loss, d_real, d_fake, grad_norm_d, grad_norm_g} as floats
        (g_loss and grad_norm_g from the latest G update), read from the device once,
        at the end. Raises TrainingDiverged when a loss is NaN or infinite.
        """
        if self.schedule == "simultaneous":
            stats = self._simultaneous_step(real)
        else:
            stats, fake = self.discriminator_pass(real)
            self.step += 1
            if self.step % self.d_steps == 0:  # the paper's k: G moves after every k-th D update
                stats.update(self.generator_pass(fake))
        stats = self.to_host(stats)
        self.last_g = {k: stats.get(k, self.last_g[k]) for k in self.last_g}
        return {**stats, **self.last_g}

    def discriminator_pass(self, real):
        """(1) Train D with G frozen. Returns (stats, fake); only D's weights change.
        stats are 0-d arrays on the device (train_step copies them to the host)."""
        xp = get_array_module(real)
        z, alpha = self.step_noise(real)  # alpha: WGAN-GP's mixing weights, else None
        fake = self.G.forward(z)  # (N, ...); G runs forward only
        logits = self.D.forward(xp.concatenate([real, fake]))  # (2N, 1): real first, then fake
        h = len(logits) // 2  # N, or N/m when D packs m samples into one (PacGAN)
        d_loss, dl_real, dl_fake = self.objective.d_loss(logits[:h], logits[h:])
        stats = {"d_loss": d_loss, "d_real": self.d_output(logits[:h]), "d_fake": self.d_output(logits[h:])}
        self.D.zero_grad()
        self.D.backward(xp.concatenate([dl_real, dl_fake]), input_grad=False)  # fills D.grads; no G.backward
        if alpha is not None:  # WGAN-GP: + lambda E[(||grad D(x_hat)|| - 1)^2], on points in between
            penalty = gradient_penalty(self.D, alpha * real + (1 - alpha) * fake, self.objective.weight)
            stats["d_loss"] = stats["d_loss"] + penalty  # (its gradient is now in D.grads)
        stats["grad_norm_d"] = grad_norm(self.D)
        self._update(self.D, self.opt_D)
        return stats, fake

    def generator_pass(self, fake):
        """(2) Train G with D frozen, on the fakes G made in pass (1) (its forward
        caches still belong to them). Only G's weights change."""
        logits_fake = self.D.forward(fake)  # the same fakes, judged by the updated D
        g_loss, dl = self.objective.g_loss(logits_fake)
        dfake = self.D.backward(dl, param_grads=False)  # THROUGH D: input gradient only
        self.G.zero_grad()
        self.G.backward(dfake, input_grad=False)  # G's weight gradients (dL/dz is not needed)
        stats = {"g_loss": g_loss, "grad_norm_g": grad_norm(self.G)}
        self._update(self.G, self.opt_G)
        return stats

    def _simultaneous_step(self, real):
        """Both players' gradients from ONE forward pass, then both update (the
        classic tutorial's "simultaneous" adversarial optimizer)."""
        xp = get_array_module(real)
        n = real.shape[0]
        z, _ = self.step_noise(real)
        fake = self.G.forward(z)
        logits = self.D.forward(xp.concatenate([real, fake]))  # (2N, 1)
        h = len(logits) // 2  # N, or N/m when D packs m samples into one (PacGAN)
        d_loss, dl_real, dl_fake = self.objective.d_loss(logits[:h], logits[h:])
        g_loss, dg_fake = self.objective.g_loss(logits[h:])
        out = {"d_loss": d_loss, "g_loss": g_loss, "d_real": self.d_output(logits[:h]),
               "d_fake": self.d_output(logits[h:])}  # fmt: skip
        self.D.zero_grad()
        self.D.backward(xp.concatenate([dl_real, dl_fake]), input_grad=False)  # D's gradients
        dx = self.D.backward(xp.concatenate([xp.zeros_like(dl_real), dg_fake]), param_grads=False)
        self.G.zero_grad()
        self.G.backward(dx[n:], input_grad=False)  # G's gradients, through the same (not yet updated) D
        out["grad_norm_d"], out["grad_norm_g"] = grad_norm(self.D), grad_norm(self.G)
        self._update(self.D, self.opt_D)
        self._update(self.G, self.opt_G)
        self.step += 1
        return out

    # ---- sampling ----------------------------------------------------------------
    def sample(self, n=None, z=None, xp=None):
        """Generated samples in eval mode (BatchNorm uses its running statistics, Dropout
        is off), from ``z`` or the fixed noise; the networks go back to training mode.

        The samples are made where G lives (``xp``: its array module unless given) and
        stay there: ``backend.to_numpy`` brings them to the host.
        """
        xp = self.device_module() if xp is None else xp
        z = to_module(self.fixed_noise[:n] if z is None else z, xp)
        self.G.eval()
        try:
            return self.G.forward(z)
        finally:
            self.G.train()

    def device_module(self):
        """The array module (numpy or cupy) of G's parameters: where the GAN runs."""
        return get_array_module(next(iter(self.G.params.values())))

    # ---- the loop ------------------------------------------------------------------
    def epoch_batches(self, n_examples, batch_size):
        """Shuffled index batches for one epoch (the last, incomplete batch is dropped)."""
        order = self.data_rng.permutation(n_examples)
        return [order[i : i + batch_size] for i in range(0, n_examples - batch_size + 1, batch_size)]

    def fit(self, x, epochs, batch_size, on_epoch_end=None, progress=True, y=None):
        """Train until ``epochs`` epochs are done in total (so a resumed run continues).

        x: (N, ...) all training examples, float32, in the generator's output range,
           on the networks' device.
        on_epoch_end(gan): called after each epoch (saving pictures and checkpoints).
        y: (N,) the examples' class labels, for a conditional GAN (cgan.py); each
           batch's labels then go to train_step beside its examples.
        """
        n = x.shape[0]
        if batch_size > n:
            raise ValueError(f"batch size {batch_size} is larger than the data ({n} examples)")
        xp = get_array_module(x)
        from .progress import progress_bar

        if xp is np:
            keep_freed_memory()  # each step's large arrays are reused, not fetched from the kernel again
        with self.training_threads(xp):
            while self.epoch < epochs:
                batches = to_module(np.stack(self.epoch_batches(n, batch_size)), xp)  # (steps, B): one copy an epoch
                bar = progress_bar(batches, desc=f"epoch {self.epoch + 1}/{epochs}", enabled=progress)
                for idx in bar:
                    stats = self.train_step(x[idx]) if y is None else self.train_step(x[idx], y[idx])
                    self.record(stats)
                    bar.set_postfix(d_loss=f"{stats['d_loss']:.3f}", g_loss=f"{stats['g_loss']:.3f}",
                                    d_real=f"{stats['d_real']:.2f}", d_fake=f"{stats['d_fake']:.2f}")  # fmt: skip
                bar.close()
                self.epoch += 1
                if on_epoch_end is not None:
                    on_epoch_end(self)
        return self.history

    def training_threads(self, xp):
        """The context ``fit`` trains in, for data on module ``xp``: ``cores.both_cores``
        for networks with a convolution on the CPU (the BLAS on one thread, products and
        copies on both cores, when the BLAS runs two), else none."""
        if xp is np and convolutional(self.G, self.D):
            return both_cores()
        return contextlib.nullcontext()

    def record(self, stats):
        self.history["step"].append(self.step)
        self.history["epoch"].append(self.epoch)
        for k in HISTORY_KEYS[2:]:
            self.history[k].append(stats[k])

    def to(self, device):
        """Move both networks (and the optimizers' state) to "cpu" or "gpu"."""
        from .backend import to_device

        self.G.to(device)
        self.D.to(device)
        flatten(self.G), flatten(self.D)  # a move to another device makes separate arrays again
        for opt in (self.opt_G, self.opt_D):
            opt.state = {slot: {k: to_device(v, device) for k, v in s.items()} for slot, s in opt.state.items()}
        return self
