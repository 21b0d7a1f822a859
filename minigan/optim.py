"""Optimizers (SGD with momentum, Adam, RMSprop) and the L1/L2 weight penalty.

An optimizer reads two dicts with the same keys, as a layer or ``Sequential``
exposes them (``net.params``, ``net.grads``; keys like "0.W", "0.b", "3.gamma"),
and changes every parameter array IN PLACE, so the layer that owns it sees the
new values without being told:

    opt = Adam(lr=2e-4, beta1=0.5)
    opt.step(net.params, net.grads)     # p -= update, for every key

The per-parameter state (Adam's m and v, ...) is created on the first step as
``zeros_like(p)``, so it lives on the parameter's device and in its dtype.
Hyperparameters are kept as Python floats: NumPy lets a Python float take the
array's dtype, so float32 parameters stay float32 (a float64 NumPy scalar as
``lr`` would silently turn each update into float64 work).

``state_dict()`` returns plain arrays ("m.0.W", "v.0.W", ..., and the step count
"t" as a 0-d int64 array), enough to resume bit for bit with ``load_state_dict``.
The update equations follow PyTorch's, so the numbers can be compared.

When a network's parameters and gradients are views into one buffer each
(``flat.flatten``, which ``GAN`` does), Adam updates the whole buffer at once, with
its state in one buffer per slot: the same operations on every element, so the
same numbers to the last bit, in a fraction of the time (benchmarks/optimizer.py).
``state_dict`` keeps the per-parameter keys either way.
"""

import math

import numpy as np

from .backend import get_array_module
from .flat import adam_update, flat_buffer, views_into


class Optimizer:
    """What every optimizer shares: the step count ``t``, lazy state, state_dict.

    ``slots`` names the state kept per parameter (Adam: ("m", "v")); the state is
    ``self.state[slot][param key] -> array``. A subclass writes ``update(key, p, g)``,
    which changes ``p`` in place.
    """

    def __init__(self, lr, slots):
        _check_range("lr", lr, low=0.0)
        self.lr = float(lr)
        self.slots = slots
        self.t = 0  # steps taken so far
        self.state = {slot: {} for slot in slots}
        self._check_against_params = False  # set by load_state_dict, checked at the next step
        self._flat_seen = None  # see _step_flat

    def step(self, params, grads):
        """Update every array in ``params`` in place from the same key in ``grads``."""
        if params.keys() != grads.keys():
            raise ValueError(f"{self!r}: params and grads have different keys: {sorted(params)} vs {sorted(grads)}")
        self._check_state(params)
        for key, p in params.items():
            if grads[key].shape != p.shape:
                raise ValueError(f"{self!r}: grad {key!r} has shape {grads[key].shape}, its parameter {p.shape}")
        self.t += 1
        if not self._step_flat(params, grads):
            for key, p in params.items():
                self.update(key, p, grads[key])

    def update(self, key, p, g):
        raise NotImplementedError

    # ---- the fast path: one buffer per network (see flat.py) -------------------------
    update_flat = None  # a subclass that can update whole buffers at once: update_flat(p, g, *slots)

    def _step_flat(self, params, grads):
        """Update all parameters in one go when they, and their gradients, are views into
        one buffer each (``flat.flatten``); the state then lives in one buffer per slot too.
        Returns False, having done nothing, when that is not so."""
        if self.update_flat is None or not params:
            return False
        arrays = self._flat_arrays(params, grads)
        seen = self._flat_seen  # the arrays and buffers of the last step that took this path
        if seen is not None and len(seen[0]) == len(arrays) and all(a is b for a, b in zip(arrays, seen[0])):
            buffers = seen[1]  # the very same arrays: no need to check their layout again
        else:
            p = flat_buffer(params.values())
            g = None if p is None else flat_buffer(grads[key] for key in params)
            if g is None:
                self._flat_seen = None
                return False
            buffers = (p, g, *(self._flat_slot(slot, params, p) for slot in self.slots))
            self._flat_seen = (self._flat_arrays(params, grads), buffers)
        self.update_flat(*buffers)
        return True

    def _flat_arrays(self, params, grads):
        """Every array a step reads or writes, in one order: parameters, gradients, state."""
        state = (self.state[slot].get(key) for slot in self.slots for key in params)
        return (*params.values(), *(grads[key] for key in params), *state)

    def _flat_slot(self, slot, params, p):
        """State ``slot`` as one buffer laid out like ``p``; ``self.state[slot]`` holds views into it.

        Made on the first step (zeros), or when the state's arrays are separate (after
        ``load_state_dict`` or a move to another device): then their values are copied in.
        """
        arrays = self.state[slot]
        if arrays:
            buffer = flat_buffer(arrays[key] for key in params)
            if buffer is not None:
                return buffer
        buffer = get_array_module(p).zeros_like(p)
        views = views_into(buffer, params)
        for key, a in arrays.items():
            views[key][...] = a
        self.state[slot] = views
        return buffer

    def _slot(self, slot, key, p):
        """State array ``slot`` of parameter ``key``, created as zeros on first use."""
        arrays = self.state[slot]
        if key not in arrays:
            arrays[key] = get_array_module(p).zeros_like(p)
        return arrays[key]

    def _check_state(self, params):
        """Refuse to continue with state that belongs to other parameters."""
        for slot, arrays in self.state.items():
            if arrays and arrays.keys() != params.keys():
                raise ValueError(
                    f"{self!r}: state {slot!r} is for parameters {sorted(arrays)}, "
                    f"but step() was given {sorted(params)}"
                )
        if self._check_against_params:  # once, after load_state_dict
            for slot, arrays in self.state.items():
                for key, a in arrays.items():
                    p = params[key]
                    if a.shape != p.shape or a.dtype != p.dtype:
                        raise ValueError(
                            f"{self!r}: loaded state '{slot}.{key}' is {a.dtype}{a.shape}, "
                            f"the parameter is {p.dtype}{p.shape}"
                        )
                    if get_array_module(a) is not get_array_module(p):
                        raise ValueError(
                            f"{self!r}: loaded state '{slot}.{key}' is on another device than its "
                            "parameter; move the state dict's arrays before load_state_dict"
                        )
            self._check_against_params = False

    def state_dict(self):
        """Copies of the state as plain arrays: "t" and "<slot>.<param key>"."""
        d = {"t": np.asarray(self.t, dtype=np.int64)}
        for slot, arrays in self.state.items():
            for key, a in arrays.items():
                d[f"{slot}.{key}"] = a.copy()
        return d

    def load_state_dict(self, d):
        """Replace the state by (copies of) the arrays in ``d``, as made by ``state_dict``.

        The arrays are used where they are: move them to the parameters' device first.
        """
        state, t = self.check_state_dict(d)
        self.state, self.t = {slot: {k: get_array_module(a).array(a, copy=True) for k, a in arrays.items()}
                              for slot, arrays in state.items()}, t  # fmt: skip
        self._check_against_params = True

    def check_state_dict(self, d, params=None):
        """Raise ValueError if ``d`` is no state this optimizer could load; changes nothing.

        Given ``params`` ({key: array}), the state must also fit them key for key and shape
        for shape. Returns (state {slot: {key: array}}, t), the arrays not yet copied.
        """
        t = d.get("t")
        if t is None or getattr(t, "ndim", None) != 0 or t.dtype.kind not in "iu":
            raise ValueError(f"{self!r}: state dict needs 't', a 0-d integer array; got {t!r}")
        state = {slot: {} for slot in self.slots}
        for name, a in d.items():
            if name == "t":
                continue
            slot, _, key = name.partition(".")
            if slot not in state or not key:
                raise ValueError(
                    f"{self!r}: unexpected key {name!r} in state dict; expected 't' and "
                    f"'<slot>.<param key>' with slot in {self.slots}"
                )
            if getattr(a, "dtype", np.dtype(object)).kind != "f":
                raise ValueError(f"{self!r}: state {name!r} must be a float array, got {getattr(a, 'dtype', type(a))}")
            state[slot][key] = a
        _check_slots_agree(self, state, int(t))
        for slot, arrays in self.state.items():  # state already here: the new one must match it
            if arrays and _shapes(arrays) != _shapes(state[slot]):
                raise ValueError(
                    f"{self!r}: state dict does not match the existing state of slot {slot!r}: "
                    f"{_shapes(state[slot])} vs {_shapes(arrays)}"
                )
        if params is not None:
            expected = {key: tuple(p.shape) for key, p in params.items()}
            for slot, arrays in state.items():
                if arrays and _shapes(arrays) != expected:
                    raise ValueError(f"{self!r}: state {slot!r} is for parameters {_shapes(arrays)}, "
                                     f"the model's are {expected}")  # fmt: skip
        return state, int(t)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent with (PyTorch-style) momentum.

        v = momentum * v + g        (v starts at 0; no state when momentum = 0)
        p = p - lr * v
    """

    def __init__(self, lr, momentum=0.0):
        _check_range("momentum", momentum, low=0.0)
        super().__init__(lr, slots=("v",) if momentum else ())
        self.momentum = float(momentum)

    def update(self, key, p, g):
        if self.momentum:
            v = self._slot("v", key, p)
            v *= self.momentum
            v += g
            p -= self.lr * v
        else:
            p -= self.lr * g

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum})"


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected as PyTorch computes it.

        m = beta1 * m + (1 - beta1) * g              (m, v start at 0; t counts steps from 1)
        v = beta2 * v + (1 - beta2) * g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The DCGAN recipe uses lr = 2e-4, beta1 = 0.5.
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        _check_range("beta1", beta1, low=0.0, high=1.0)
        _check_range("beta2", beta2, low=0.0, high=1.0)
        _check_range("eps", eps, low=0.0)
        super().__init__(lr, slots=("m", "v"))
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def update(self, key, p, g):
        xp = get_array_module(p)
        m, v = self._slot("m", key, p), self._slot("v", key, p)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        step_size = self.lr / (1 - self.beta1**self.t)  # Python floats: keep p's dtype
        bias_correction2_sqrt = math.sqrt(1 - self.beta2**self.t)
        # p -= step_size * (m / (sqrt(v) / bias_correction2_sqrt + eps)), built in ONE new array
        update = xp.sqrt(v)
        update /= bias_correction2_sqrt
        update += self.eps
        xp.divide(m, update, out=update)
        update *= step_size
        p -= update

    def update_flat(self, p, g, m, v):
        """``update`` over whole buffers at once, block by block (flat.py): the same numbers."""
        adam_update(p, g, m, v, self.t, self.lr, self.beta1, self.beta2, self.eps)

    def __repr__(self):
        return f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e) as PyTorch's default: no momentum, not centered.

        v = alpha * v + (1 - alpha) * g^2            (v starts at 0)
        p = p - lr * g / (sqrt(v) + eps)

    The original WGAN recipe uses RMSprop with lr = 5e-5.
    """

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8):
        _check_range("alpha", alpha, low=0.0, high=1.0)
        _check_range("eps", eps, low=0.0)
        super().__init__(lr, slots=("v",))
        self.alpha, self.eps = float(alpha), float(eps)

    def update(self, key, p, g):
        xp = get_array_module(p)
        v = self._slot("v", key, p)
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p -= self.lr * (g / (xp.sqrt(v) + self.eps))

    def __repr__(self):
        return f"RMSprop(lr={self.lr}, alpha={self.alpha}, eps={self.eps})"


# ---- weight penalty -----------------------------------------------------------
def is_kernel(key):
    """True for a weight matrix or filter bank: key "W" or one ending in ".W"."""
    return key.split(".")[-1] == "W"


class L1L2:
    """The Keras kernel regulariser: penalty = l1 * sum|W| + l2 * sum W^2.

        d penalty / dW = l1 * sign(W) + 2 * l2 * W      (sign(0) = 0: a subgradient)

    Only kernels (keys "W" or "*.W") are penalised, not biases nor BatchNorm's
    gamma/beta, as in the classic Keras GAN recipe
    ``Dense(..., kernel_regularizer=L1L2(1e-5, 1e-5))``. Add ``loss(params)`` to
    the reported loss and call ``add_grad(params, grads)`` after backward and
    before the optimizer step.
    """

    def __init__(self, l1=0.0, l2=0.0):
        _check_range("l1", l1, low=0.0)
        _check_range("l2", l2, low=0.0)
        self.l1, self.l2 = float(l1), float(l2)

    def loss(self, params):
        """The penalty over all kernels: a 0-d array, or 0.0 when there is nothing to add."""
        total = None
        for key, W in params.items():
            if not is_kernel(key) or not (self.l1 or self.l2):
                continue
            xp = get_array_module(W)
            term = self.l1 * xp.abs(W).sum() + self.l2 * (W * W).sum()
            total = term if total is None else total + term
        return 0.0 if total is None else xp.asarray(total)

    def add_grad(self, params, grads):
        """Add the penalty's gradient into ``grads`` in place, kernels only."""
        for key, W in params.items():
            if not is_kernel(key):
                continue
            dW = grads[key]
            if self.l1:
                dW += self.l1 * get_array_module(W).sign(W)
            if self.l2:
                dW += (2 * self.l2) * W

    def __repr__(self):
        return f"L1L2(l1={self.l1}, l2={self.l2})"


# ---- checks -------------------------------------------------------------------
def _check_range(name, value, low, high=None):
    """ValueError unless low <= value (< high, when given)."""
    ok = value >= low and (high is None or value < high)
    if not ok:
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def _shapes(arrays):
    return {key: tuple(a.shape) for key, a in arrays.items()}


def _check_slots_agree(opt, state, t):
    """Every slot must cover the same parameters with the same shapes; a started run needs its state."""
    shapes = [_shapes(arrays) for arrays in state.values()]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"{opt!r}: state dict slots {opt.slots} cover different parameters or shapes")
    if t < 0:
        raise ValueError(f"{opt!r}: step count t must be >= 0, got {t}")
    if shapes and t > 0 and not shapes[0]:
        raise ValueError(f"{opt!r}: state dict says {t} steps were taken but holds no {opt.slots} arrays")
