"""The GAN objectives, computed from the discriminator's logits.

The discriminator ends in a plain linear unit and returns a logit ``l``; the
probability "this is real" is D = sigmoid(l). The sigmoid lives here, inside
the loss, because the log of a probability is only safe when it is never
rounded to 0 or 1 first. Written naively in float32, for l = -100:

    sigmoid(l) = 1 / (1 + exp(100))     exp(100) overflows to inf  ->  D = 0.0
    log(D)     = log(0.0)               = -inf   (the loss is inf)
    d log(D)/dl = D * (1 - D) / D       = 0 / 0  = nan   (the gradient is nan)

and 1 - sigmoid(l) already rounds to exactly 0.0 in float32 from l = 17 on, so
log(1 - D) is -inf for any confident discriminator. One such logit in a batch
turns every weight into nan after the next step. Instead we never form the
probability and write the logs with softplus(t) = log(1 + exp(t)):

    log sigmoid(l)       = -softplus(-l)
    log(1 - sigmoid(l))  = -softplus(l)
    softplus(t)          = max(t, 0) + log1p(exp(-|t|))

exp(-|t|) lies in (0, 1], so nothing overflows, and log1p keeps the small tail
accurate (log(1 + tiny) would round it away): for l = -100, -log sigmoid(l) = softplus(100) = 100.0 exactly. The
derivatives are sigmoids, computed the same careful way:

    d softplus(l)/dl = sigmoid(l)       d softplus(-l)/dl = sigmoid(l) - 1

Every objective has the same two methods; losses are means over the batch and
gradients are with respect to the logits (same shape, 1/N of the mean included):

    d_loss(logits_real, logits_fake) -> (loss, dlogits_real, dlogits_fake)
    g_loss(logits_fake)              -> (loss, dlogits_fake)

``loss`` is a 0-d array on the logits' device and in their dtype (NumPy's
``.mean()`` gives a scalar, hence the ``xp.asarray`` at each return); the caller
turns it into a Python number when it logs (on a GPU that waits for the GPU).
"""

from .backend import fused, get_array_module
from .layers.activations import sigmoid  # 1 / (1 + exp(-t)), the one stable form (see there)

OBJECTIVES = ("minimax", "non-saturating", "lsgan", "wgan", "wgan-gp", "hinge")


# ---- stable building blocks ---------------------------------------------------
@fused  # one kernel on the GPU (see backend.fused)
def softplus(t):
    """log(1 + exp(t)) = max(t, 0) + log1p(exp(-|t|)), without overflow."""
    xp = get_array_module(t)
    return xp.maximum(t, 0) + xp.log1p(xp.exp(-xp.abs(t)))


# ---- binary cross-entropy objectives -----------------------------------------
class BCEObjective:
    """The discriminator's loss shared by the original GAN objectives.

    d_loss = -mean(t * log D(x) + (1 - t) * log(1 - D(x))) - mean(log(1 - D(G(z))))
           =  mean(t * softplus(-l_r) + (1 - t) * softplus(l_r)) + mean(softplus(l_f))

    with D = sigmoid(l) and real target t = 1 - label_smoothing (fakes keep 0).
    Gradients:  d/dl_r = (sigmoid(l_r) - t) / N_r,   d/dl_f = sigmoid(l_f) / N_f.

    One-sided label smoothing (Salimans et al. 2016): a target of 0.9 instead
    of 1 stops D from pushing real logits to infinity; the fake target and the
    generator's loss are left alone.
    """

    name = None

    def __init__(self, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def d_loss(self, logits_real, logits_fake):
        xp = get_array_module(logits_real)
        t = 1.0 - self.label_smoothing  # the real target, 1 without smoothing
        real = t * softplus(-logits_real) + (1 - t) * softplus(logits_real)  # BCE against t
        loss = real.mean() + softplus(logits_fake).mean()
        dlogits_real = (sigmoid(logits_real) - t) / logits_real.size
        dlogits_fake = sigmoid(logits_fake) / logits_fake.size
        return xp.asarray(loss), dlogits_real, dlogits_fake

    def __repr__(self):
        return f"{type(self).__name__}(label_smoothing={self.label_smoothing})"


class Minimax(BCEObjective):
    """The original minimax game (Goodfellow et al. 2014), as written in the paper.

    D maximises log D(x) + log(1 - D(G(z)))   (d_loss is its negative, see BCEObjective)
    G minimises g_loss = mean(log(1 - D(G(z)))) = -mean(softplus(l_f))
    Gradient:   d/dl_f = -sigmoid(l_f) / N

    It saturates: early in training the fakes are poor, D rejects them with
    confidence, D(G(z)) = sigmoid(l_f) -> 0, and so does G's gradient
    -sigmoid(l_f) / N. The generator learns slowest exactly when it is worst;
    compare NonSaturating, whose gradient is sigmoid(l_f) - 1 -> -1 there.
    """

    name = "minimax"

    def g_loss(self, logits_fake):
        xp = get_array_module(logits_fake)
        loss = -softplus(logits_fake).mean()
        dlogits_fake = -sigmoid(logits_fake) / logits_fake.size
        return xp.asarray(loss), dlogits_fake


class NonSaturating(BCEObjective):
    """The non-saturating game, the default (Goodfellow et al. 2014, section 3).

    d_loss as in BCEObjective. G maximises log D(G(z)) instead: the fakes are
    labelled "real" and G minimises the BCE against that label:

        g_loss = -mean(log D(G(z))) = mean(softplus(-l_f))
        d/dl_f = (sigmoid(l_f) - 1) / N      (-> -1/N when D rejects the fakes)
    """

    name = "non-saturating"

    def g_loss(self, logits_fake):
        xp = get_array_module(logits_fake)
        loss = softplus(-logits_fake).mean()
        dlogits_fake = (sigmoid(logits_fake) - 1) / logits_fake.size
        return xp.asarray(loss), dlogits_fake


# ---- objectives on the raw output ----------------------------------------------
class LSGAN:
    """Least squares GAN (Mao et al. 2017) with targets a = 0 (fake), b = c = 1 (real).

    d_loss = 0.5 * mean((l_r - 1)^2) + 0.5 * mean(l_f^2)
        d/dl_r = (l_r - 1) / N_r,   d/dl_f = l_f / N_f
    g_loss = 0.5 * mean((l_f - 1)^2)
        d/dl_f = (l_f - 1) / N
    The output is used raw: no sigmoid.
    """

    name = "lsgan"

    def d_loss(self, logits_real, logits_fake):
        xp = get_array_module(logits_real)
        loss = 0.5 * ((logits_real - 1) ** 2).mean() + 0.5 * (logits_fake**2).mean()
        dlogits_real = (logits_real - 1) / logits_real.size
        dlogits_fake = logits_fake / logits_fake.size
        return xp.asarray(loss), dlogits_real, dlogits_fake

    def g_loss(self, logits_fake):
        xp = get_array_module(logits_fake)
        loss = 0.5 * ((logits_fake - 1) ** 2).mean()
        dlogits_fake = (logits_fake - 1) / logits_fake.size
        return xp.asarray(loss), dlogits_fake

    def __repr__(self):
        return "LSGAN()"


class WGAN:
    """Wasserstein GAN (Arjovsky et al. 2017): D is a critic giving scores, not probabilities.

    d_loss = mean(l_f) - mean(l_r)      d/dl_r = -1 / N_r,   d/dl_f = 1 / N_f
    g_loss = -mean(l_f)                 d/dl_f = -1 / N

    The critic must stay (roughly) 1-Lipschitz. The original recipe clips every
    critic weight to [-clip, clip] after each critic step; the trainer does
    that with ``clip_weights(D.params, objective.clip)``.
    """

    name = "wgan"

    def __init__(self, clip=0.01):
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.clip = clip

    def d_loss(self, logits_real, logits_fake):
        xp = get_array_module(logits_real)
        loss = logits_fake.mean() - logits_real.mean()
        dlogits_real = xp.full_like(logits_real, -1.0 / logits_real.size)
        dlogits_fake = xp.full_like(logits_fake, 1.0 / logits_fake.size)
        return xp.asarray(loss), dlogits_real, dlogits_fake

    def g_loss(self, logits_fake):
        xp = get_array_module(logits_fake)
        loss = -logits_fake.mean()
        return xp.asarray(loss), xp.full_like(logits_fake, -1.0 / logits_fake.size)

    def __repr__(self):
        return f"WGAN(clip={self.clip})"


class WGANGP(WGAN):
    """WGAN with gradient penalty (Gulrajani et al. 2017): the same critic and generator
    losses as WGAN, but the critic is kept 1-Lipschitz softly, by adding

        lambda * mean_n (||grad_x D(x_hat_n)||_2 - 1)^2,   x_hat = alpha x + (1 - alpha) G(z)

    (alpha ~ U[0, 1] per sample) instead of clipping its weights. The trainer adds
    this term with ``second_order.gradient_penalty(D, x_hat, objective.weight)``.
    Paper defaults: lambda = 10, 5 critic steps per generator step, Adam(1e-4, 0.5, 0.9).
    """

    name = "wgan-gp"

    def __init__(self, weight=10.0):
        if not weight >= 0:
            raise ValueError(f"the gradient penalty weight must be >= 0, got {weight}")
        self.weight = weight

    def __repr__(self):
        return f"WGANGP(weight={self.weight})"


class Hinge:
    """Hinge loss (Lim & Ye 2017; used by SAGAN and BigGAN).

    d_loss = mean(relu(1 - l_r)) + mean(relu(1 + l_f))
        d/dl_r = -[l_r < 1] / N_r,   d/dl_f = [l_f > -1] / N_f
    g_loss = -mean(l_f)
        d/dl_f = -1 / N
    D stops caring about a sample once it is beyond the margin (l_r >= 1, l_f <= -1).
    """

    name = "hinge"

    def d_loss(self, logits_real, logits_fake):
        xp = get_array_module(logits_real)
        loss = xp.maximum(1 - logits_real, 0).mean() + xp.maximum(1 + logits_fake, 0).mean()
        dlogits_real = -(logits_real < 1).astype(logits_real.dtype) / logits_real.size
        dlogits_fake = (logits_fake > -1).astype(logits_fake.dtype) / logits_fake.size
        return xp.asarray(loss), dlogits_real, dlogits_fake

    def g_loss(self, logits_fake):
        xp = get_array_module(logits_fake)
        loss = -logits_fake.mean()
        return xp.asarray(loss), xp.full_like(logits_fake, -1.0 / logits_fake.size)

    def __repr__(self):
        return "Hinge()"


def clip_weights(params, c):
    """Clip every array in ``params`` to [-c, c] in place (WGAN's critic after each step)."""
    if not c > 0:
        raise ValueError(f"clip value must be > 0, got {c}")
    for p in params.values():
        get_array_module(p).clip(p, -c, c, out=p)


def get_objective(name, label_smoothing=0.0):
    """The objective called ``name`` (one of OBJECTIVES)."""
    if label_smoothing != 0 and name in ("lsgan", "wgan", "wgan-gp", "hinge"):
        raise ValueError(
            f"label_smoothing applies to the BCE objectives only (minimax, non-saturating), not {name!r}"
        )
    if name == "minimax":
        return Minimax(label_smoothing)
    elif name == "non-saturating":
        return NonSaturating(label_smoothing)
    elif name == "lsgan":
        return LSGAN()
    elif name == "wgan":
        return WGAN()
    elif name == "wgan-gp":
        return WGANGP()
    elif name == "hinge":
        return Hinge()
    raise ValueError(f"unknown objective {name!r}: expected one of {', '.join(OBJECTIVES)}")
