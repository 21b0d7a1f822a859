"""Inverted dropout."""

from ..backend import dropout_generator_for, fused, get_array_module, keep_mask, masked_and_scaled, new_seed
from .base import Layer


@fused  # one kernel on the GPU (see backend.fused)
def dropped_and_scaled(t, mask, scale):
    """t * mask * scale: the dropped units zeroed first, then the kept ones scaled."""
    return t * mask * scale


class Dropout(Layer):
    """Training: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p).   Eval: y = x.

    ``p`` is the probability to DROP a unit (as in PyTorch and Keras). Scaling the
    kept units by 1/(1-p) while training keeps E[y] = x, so eval needs no change.
    dx = dout * mask / (1 - p) (the same mask); in eval mode dx = dout.

    x: any shape. Keeps: the mask (bool, shaped like x) and the scale 1/(1-p) in x's dtype.
    The mask comes from the layer's own generator ``rng``, seeded from ``seed`` (or, when
    None, from the init generator, see ``backend.manual_seed``), so a seed fixes every
    mask on a given device; ``rng`` is plain host state (NumPy's PCG64 for a run begun on
    the CPU, a counter-based generator for one begun on the GPU, which it keeps if it is
    resumed on the CPU: see ``backend.dropout_generator_for``), copied exactly with the
    layer and saved in checkpoints.
    """

    def __init__(self, p, seed=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the probability to drop and must be in [0, 1), got {p}")
        self.p = p
        self.seed = new_seed() if seed is None else seed
        self.rng = None  # made at the first mask, for the input's device

    def forward(self, x):
        self.check_floating(x)
        if not self.training or self.p == 0:
            self.mask = None
            return x
        self.rng = dropout_generator_for(self.rng, self.seed, get_array_module(x), owner=self)
        self.mask = keep_mask(self.rng, x, self.p)  # True = keep
        self.scale = x.dtype.type(1 / (1 - self.p))
        return self.apply_mask(x)

    def apply_mask(self, t):
        """t * mask / (1 - p) for t of x's shape (the forward's x, or a gradient); t itself
        when the last forward dropped nothing (eval mode, or p = 0)."""
        if self.mask is None:
            return t
        return masked_and_scaled(t, self.mask, self.scale, dropped_and_scaled)  # dropped_and_scaled, made fast

    def backward(self, dout, param_grads=True):
        return self.apply_mask(dout)

    def __repr__(self):
        return f"Dropout(p={self.p})"
