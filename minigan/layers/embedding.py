"""Embedding: a learned vector for each class label, y -> W[y]."""

import numpy as np

from ..backend import get_array_module, init_rng, values_readable_now
from .base import Layer


def check_label_range(y, num_classes, where):
    """Refuse labels outside 0..num_classes-1 (ValueError naming ``where``, the range
    and the first bad label). Called once at the door (data, fit, sample): reading the
    answer back from a GPU is a wait, which a layer's forward must not do every pass."""
    xp = get_array_module(y)
    bad = xp.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{where}: class labels must lie in 0..{num_classes - 1}, got label {int(y[i])} "
                         f"(at position {i}; {bad.size} out of range)")  # fmt: skip


class Embedding(Layer):
    """e = W[y]: row y of a table, one learned vector per class.

    y: (N,) integer labels in 0..num_embeddings-1   ->   e: (N, embedding_dim)
    W: (num_embeddings, embedding_dim)

    The same as one_hot(y) @ W, where one_hot(y) is (N, num_embeddings) with a 1 at
    column y[i] of row i. So the backward is Dense's, with one_hot(y) as the input:
        dW = one_hot(y).T @ dout     (num_embeddings, embedding_dim)
    Row c of dW sums dout over the examples labelled c: a label seen twice in a
    batch gets both gradients. (A scatter-add, dW[y] += dout, would LOSE one of them
    with plain indexing; np.add.at or cupyx.scatter_add would keep both, but on a GPU
    they add with atomics, in an order that can change from run to run. The one-hot
    product is one ordinary matrix product on either device: the same numbers every run.)
    Labels are not differentiable: backward returns None.

    Initialisation: W ~ N(0, std^2); std = 1 is PyTorch's nn.Embedding. A smaller std
    suits an embedding that is dotted with many features (Projection).
    Keeps: one_hot(y), (N, num_embeddings), in W's dtype.
    """

    def __init__(self, num_embeddings, embedding_dim, std=1.0, rng=None):
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Embedding: {name} must be a whole number >= 1, got {value!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        rng = rng or init_rng()
        self.params["W"] = (std * rng.standard_normal((self.num_embeddings, self.embedding_dim))).astype(np.float32)
        self._init_grads()

    def check_labels(self, y):
        """Refuse labels that are not integers of shape (N,) in 0..num_embeddings-1. On the
        GPU only dtype and shape are checked here (the host knows them without waiting for
        the device); the RANGE of GPU labels is checked once where they come in
        (``check_label_range``: the data, ``fit``, ``sample``), not on every pass."""
        dtype = getattr(y, "dtype", None)
        if dtype is None or dtype.kind not in "iu":
            given = type(y).__name__ if dtype is None else f"{dtype} labels"
            raise TypeError(f"{self!r}: expected integer class labels of shape (N,), got {given}")
        if y.ndim != 1:
            raise ValueError(f"{self!r}: expected integer class labels of shape (N,), got shape {y.shape}")
        if values_readable_now(y):
            check_label_range(y, self.num_embeddings, repr(self))

    def forward(self, y):
        self.check_labels(y)
        xp = get_array_module(y)
        W = self.params["W"]
        self.one_hot = (y[:, None] == xp.arange(self.num_embeddings)).astype(W.dtype)  # (N, num_embeddings)
        return W[y]  # (N, embedding_dim): the rows, picked without a product

    def backward(self, dout, param_grads=True, input_grad=False):
        if param_grads:
            self.grads["W"] += self.one_hot.T @ dout  # (num_embeddings, N) @ (N, dim)
        return None  # integer labels have no gradient

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"
