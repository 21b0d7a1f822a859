"""The conditional game: G draws the class it is asked for, D judges image AND label.

One step is the GAN's two passes (see ``gan``), with labels alongside:

(1) train D, G frozen:
    z ~ N(0, I), y_fake ~ U{0, ..., K-1} -> G.forward(z, y_fake) -> fake
    [real; fake], [y_real; y_fake] -> D.forward -> logits        (the real batch keeps its own labels)
    d_loss -> D.backward -> D.grads -> opt_D.step()
(2) train G, D frozen:
    fake, y_fake -> D.forward -> g_loss -> D.backward(param_grads=False) -> G.backward -> opt_G.step()

Why this teaches G to obey the label: D sees real images only with their TRUE
labels, and fakes with the labels G was asked to draw. So a fake "7" that looks
like a real 3 is easy for D to catch (no real image labelled 7 looks like that),
and to fool D, G's 7s must look like the real images that come labelled 7.

The labels of the fakes are drawn UNIFORMLY over the K classes (not with the
data's class frequencies): every class gets the same practice, and the bundled
digits are close to uniform anyway (8.6% fives to 11.3% ones). They come from
their own seeded generator (``label_rng``), saved in the checkpoint, so a resumed
run draws exactly the labels the uninterrupted run would have drawn.
"""

import numpy as np

from .backend import get_array_module, to_module
from .gan import GAN, grad_norm
from .layers.embedding import check_label_range
from .losses import WGANGP

LABEL_STREAM = 3  # the GAN's seed spawns streams 0, 1, 2 (noise, data order, fixed noise); labels take the next


class ConditionalGAN(GAN):
    """A GAN whose networks take a label: G(z, y) and D(x, y) (see ``conditional``).

    num_classes: K, the labels are 0..K-1.
    per_class:   samples of each class in the fixed grid: it has K rows (row c asks for
                 class c) of per_class columns, and column j uses the same noise in every
                 row, so a column shows one "style" drawn as each class.
    Other arguments as ``GAN``. The "simultaneous" schedule and the "wgan-gp" objective
    (whose penalty would need D's gradient for a labelled input) are not offered yet.
    """

    def __init__(self, generator, discriminator, latent_dim, num_classes=10, per_class=8, **kwargs):
        if kwargs.get("schedule", "alternating") != "alternating":
            raise ValueError("a conditional GAN trains with schedule='alternating' only")
        super().__init__(generator, discriminator, latent_dim, n_fixed=per_class, **kwargs)
        if isinstance(self.objective, WGANGP):
            raise ValueError("the wgan-gp objective is not available for conditional models: choose another")
        self.num_classes, self.per_class = num_classes, per_class
        self.label_rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(LABEL_STREAM,)))
        self.fixed_noise = np.tile(self.fixed_noise, (num_classes, 1))  # (K * per_class, latent_dim)
        self.fixed_labels = np.repeat(np.arange(num_classes), per_class)  # 0 0 .. 0 1 1 .. 1 ...

    def fake_labels(self, n, xp=np):
        """y ~ uniform over 0..K-1, (n,) int64, drawn on the CPU and handed to ``xp``."""
        return to_module(self.label_rng.integers(0, self.num_classes, size=n), xp)

    # ---- one step ----------------------------------------------------------------
    def train_step(self, real, labels):
        """As ``GAN.train_step``, with ``labels`` (N,) the real batch's classes, on its device."""
        stats, fake, y_fake = self.discriminator_pass(real, labels)
        self.step += 1
        if self.step % self.d_steps == 0:
            stats.update(self.generator_pass(fake, y_fake))
        stats = self.to_host(stats)
        self.last_g = {k: stats.get(k, self.last_g[k]) for k in self.last_g}
        return {**stats, **self.last_g}

    def discriminator_pass(self, real, labels):
        """(1) Train D with G frozen. Returns (stats, fake, y_fake)."""
        xp = get_array_module(real)
        z, _ = self.step_noise(real)
        y_fake = self.fake_labels(len(real), xp)
        fake = self.G.forward(z, y_fake)  # (N, ...); G runs forward only
        logits = self.D.forward(xp.concatenate([real, fake]), xp.concatenate([labels, y_fake]))  # (2N, 1)
        h = len(logits) // 2
        d_loss, dl_real, dl_fake = self.objective.d_loss(logits[:h], logits[h:])
        stats = {"d_loss": d_loss, "d_real": self.d_output(logits[:h]), "d_fake": self.d_output(logits[h:])}
        self.D.zero_grad()
        self.D.backward(xp.concatenate([dl_real, dl_fake]), input_grad=False)
        stats["grad_norm_d"] = grad_norm(self.D)
        self._update(self.D, self.opt_D)
        return stats, fake, y_fake

    def generator_pass(self, fake, y_fake):
        """(2) Train G with D frozen, on the fakes (and their labels) of pass (1)."""
        logits_fake = self.D.forward(fake, y_fake)
        g_loss, dl = self.objective.g_loss(logits_fake)
        dfake, _ = self.D.backward(dl, param_grads=False)  # THROUGH D: the image's gradient only
        self.G.zero_grad()
        self.G.backward(dfake, input_grad=False)
        stats = {"g_loss": g_loss, "grad_norm_g": grad_norm(self.G)}
        self._update(self.G, self.opt_G)
        return stats

    # ---- sampling ----------------------------------------------------------------
    def sample(self, n=None, z=None, labels=None, xp=None):
        """Samples in eval mode of the classes ``labels`` (N,), from ``z`` (N, latent_dim);
        by default the fixed grid: K rows of per_class, row c of class c."""
        xp = self.device_module() if xp is None else xp
        z = to_module(self.fixed_noise[:n] if z is None else z, xp)
        if labels is not None:  # checked here, on the host, once: the layers do not check the range
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iu" or labels.shape != (len(z),):
                raise ValueError(f"sample: expected {len(z)} integer labels, one per noise vector, got "
                                 f"{labels.dtype} labels of shape {labels.shape}")  # fmt: skip
            check_label_range(labels, self.num_classes, "sample")
        y = to_module(self.fixed_labels[:n] if labels is None else labels.astype(np.int64), xp)
        self.G.eval()
        try:
            return self.G.forward(z, y)
        finally:
            self.G.train()

    # ---- the loop ------------------------------------------------------------------
    def fit(self, x, y, epochs, batch_size, on_epoch_end=None, progress=True):
        """As ``GAN.fit``, with y (N,) int64 the examples' labels, on x's device."""
        n = x.shape[0]
        if y is None or y.shape != (n,):
            raise ValueError(f"a conditional GAN needs one label per example: {n} examples, labels "
                             f"{None if y is None else y.shape}")  # fmt: skip
        if getattr(y, "dtype", np.dtype(float)).kind not in "iu":
            raise ValueError(f"fit: labels must be integers, got {y.dtype}")
        check_label_range(y, self.num_classes, "fit")  # once: one wait on a GPU, not one a step
        return super().fit(x, epochs, batch_size, on_epoch_end, progress, y=y)
