"""Elementwise activations. They have no parameters; each keeps what its backward needs.

For all of them x and y have any shape, the same shape, and dx = dout * dy/dx.
``multiply(a, b)`` is a * b, shared between a CPU's two cores (backend.multiply);
``leaky_relu(x, alpha)`` gives LeakyReLU's mask, slope s and y = s * x (backend.leaky_relu).
"""

from ..backend import fused, get_array_module, leaky_relu, multiply
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0).   dy/dx = 1 if x > 0 else 0 (we take 0 at the kink x = 0).

    Keeps: the mask x > 0.
    """

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout, param_grads=True):
        return dout * self.mask


class LeakyReLU(Layer):
    """y = x if x > 0 else alpha * x.   dy/dx = 1 if x > 0 else alpha (alpha at x = 0).

    Both passes multiply by the slope s = dy/dx:  y = s * x,  dx = s * dout.
    s is exactly 1 or alpha, in x's dtype; backend.leaky_relu builds the mask, s and
    y = s * x the way each device does fastest.
    Keeps: the mask x > 0 and the slope s (x's dtype).
    """

    def __init__(self, alpha=0.2):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self.check_floating(x)
        self.mask, self.slope, y = leaky_relu(x, self.alpha)  # x > 0;  s = 1 there, else alpha;  y = s * x
        return y

    def backward(self, dout, param_grads=True):
        return multiply(self.slope, dout)  # slope * dout

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


@fused  # one kernel on the GPU (see backend.fused)
def sigmoid(x):
    """1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) for x < 0: only exp(-|x|) <= 1 is formed, so nothing overflows."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """y = sigmoid(x) = 1 / (1 + exp(-x)).   dy/dx = y * (1 - y).

    Keeps: the output y.
    """

    def forward(self, x):
        self.y = sigmoid(x)
        return self.y

    def backward(self, dout, param_grads=True):
        return dout * self.y * (1 - self.y)


class Tanh(Layer):
    """y = tanh(x).   dy/dx = 1 - y^2.

    Keeps: the output y.
    """

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.tanh(x)
        return self.y

    def backward(self, dout, param_grads=True):
        return dout * (1 - self.y * self.y)
