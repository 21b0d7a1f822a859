"""Joining two inputs: how a label meets a noise vector or an image.

Both layers take TWO arrays and their backward returns the gradients of both, as
a pair, in the order the inputs came:

    forward(a, b) -> out          backward(dout) -> (da, db)

Concat joins along axis 1 (features of a vector, channels of an image): a label's
embedding next to the noise z in a generator, or a label plane next to an image's
channels in a discriminator. Projection is the term <e, h> of the projection
discriminator (Miyato and Koyama, 2018): the label's embedding e, dotted with the
discriminator's features h.
"""

from ..backend import get_array_module
from .base import Layer


class Concat(Layer):
    """out = [a, b] along axis 1.

    a: (N, Ca, ...) and b: (N, Cb, ...) with the same trailing dimensions
    -> out: (N, Ca + Cb, ...)
    Backward: the gradient is cut where the inputs were joined,
        da = dout[:, :Ca],  db = dout[:, Ca:]
    Keeps: Ca.
    """

    def forward(self, a, b):
        for name, v in (("a", a), ("b", b)):
            if not hasattr(v, "ndim") or v.ndim < 2:
                raise ValueError(f"{self!r}: expected inputs of shape (N, C, ...), got {name} of shape "
                                 f"{getattr(v, 'shape', type(v).__name__)}")  # fmt: skip
        if a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
            raise ValueError(f"{self!r}: expected a (N, Ca, ...) and b (N, Cb, ...) alike but for axis 1, "
                             f"got {a.shape} and {b.shape}")  # fmt: skip
        self.ca = a.shape[1]
        return get_array_module(a).concatenate([a, b], axis=1)

    def backward(self, dout, param_grads=True):
        return dout[:, : self.ca], dout[:, self.ca :]

    def __repr__(self):
        return "Concat()"


class Projection(Layer):
    """out = <h, e> = sum_j h[:, j] * e[:, j], one number per example.

    h: (N, F) features, e: (N, F) a label's embedding  ->  out: (N, 1)
    Backward, with dout of shape (N, 1):
        dh = dout * e,   de = dout * h          (each factor's gradient is the other factor)
    Why: D(x, y) = psi(h) + <embed(y), h> scores how well the features h fit the label y,
    a term the discriminator cannot get from h alone.
    Keeps: h and e.
    """

    def forward(self, h, e):
        if not hasattr(h, "ndim") or h.ndim != 2 or getattr(e, "shape", None) != h.shape:
            raise ValueError(f"{self!r}: expected h and e of the same shape (N, F), got "
                             f"{getattr(h, 'shape', type(h).__name__)} and "
                             f"{getattr(e, 'shape', type(e).__name__)}")  # fmt: skip
        self.h, self.e = h, e
        return (h * e).sum(axis=1, keepdims=True)  # (N, 1)

    def backward(self, dout, param_grads=True):
        return dout * self.e, dout * self.h  # (N, F) each, dout broadcast over F

    def __repr__(self):
        return "Projection()"
