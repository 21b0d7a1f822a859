"""Reference solutions to the course's exercises (see ``minigan.exercises``).

Try each exercise in its notebook first: the checker tells you what is wrong
and gives a hint. Read these afterwards, or when you are truly stuck.

They live beside the notebooks, not in the installed package: the checkers grade
without them, and ``make_notebooks.py --release instructor`` fills them into the
exercise cells (``--release student`` leaves them out).

Every function works on NumPy or CuPy arrays and is written as a learner
would, with nothing but array arithmetic and, for the convolutions,
``im2col``/``col2im`` from ``minigan.layers``.
"""

from minigan.backend import get_array_module
from minigan.layers import col2im


# ---- notebook 02: activations and Dense ---------------------------------------
def sigmoid_backward(dout, y):
    """y = sigmoid(x) was kept by forward.   dy/dx = y * (1 - y).

    dout, y: the same shape (any).  Returns dx, same shape.
    """
    return dout * y * (1 - y)


def tanh_backward(dout, y):
    """y = tanh(x) was kept by forward.   dy/dx = 1 - y^2.

    dout, y: the same shape (any).  Returns dx, same shape.
    """
    return dout * (1 - y * y)


def leaky_relu_backward(dout, x, alpha):
    """y = x if x > 0 else alpha * x.   dy/dx = 1 if x > 0 else alpha.

    dout, x: the same shape (any); alpha: a float.  Returns dx, same shape.
    """
    xp = get_array_module(x)
    return xp.where(x > 0, dout, alpha * dout)


def dense_backward(dout, x, W):
    """y = x @ W + b.

    dout: (N, out)   x: (N, in)   W: (in, out)
    Returns (dx, dW, db):
        dx = dout @ W.T     (N, in)
        dW = x.T @ dout     (in, out)    each example adds its outer product x_n dout_n^T
        db = dout.sum(0)    (out,)       b is added to every example, so its gradient sums over them
    """
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dW, db


# ---- notebook 03: gradient checking --------------------------------------------
def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x.

    f takes no argument and reads x; x is changed IN PLACE one entry at a time
    and restored before moving on.  Returns an array shaped like x:
        grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
    """
    xp = get_array_module(x)
    grad = xp.zeros_like(x)
    flat_x = x.reshape(-1)  # a view: writing flat_x[i] writes x
    flat_grad = grad.reshape(-1)
    for i in range(flat_x.size):
        old = float(flat_x[i])
        flat_x[i] = old + eps
        f_plus = f()
        flat_x[i] = old - eps
        f_minus = f()
        flat_x[i] = old  # put it back!
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max_i |a_i - b_i| / max(|a_i| + |b_i|, 1e-12): 0 for equal arrays, 1 for opposite signs."""
    xp = get_array_module(a)
    return float((xp.abs(a - b) / xp.maximum(xp.abs(a) + xp.abs(b), 1e-12)).max())


# ---- notebook 04: convolutions --------------------------------------------------
def conv2d_backward(dout, cols, W, x_shape, stride, padding):
    """Backward of Conv2D (no bias) whose forward was
        cols = im2col(x, k, stride, padding)                (C_in*k*k, N*ho*wo)
        y    = (W_cols @ cols) as (N, C_out, ho, wo),   W_cols = W.reshape(C_out, C_in*k*k)

    dout: (N, C_out, ho, wo)   cols: (C_in*k*k, N*ho*wo)   W: (C_out, C_in, k, k)
    x_shape: (N, C_in, h, w)
    Returns (dx, dW):
        dy_cols = dout as (C_out, N*ho*wo)     (channels first, the layout of W_cols @ cols)
        dW = dy_cols @ cols.T, reshaped like W
        dx = col2im(W_cols.T @ dy_cols)        (each column's gradient added back onto its patch)
    """
    C_out, k = W.shape[0], W.shape[2]
    W_cols = W.reshape(C_out, -1)  # (C_out, C_in*k*k)
    dy_cols = dout.transpose(1, 0, 2, 3).reshape(C_out, -1)  # (C_out, N*ho*wo)
    dW = (dy_cols @ cols.T).reshape(W.shape)  # (C_out, C_in, k, k)
    dcols = W_cols.T @ dy_cols  # (C_in*k*k, N*ho*wo)
    dx = col2im(dcols, x_shape, k, stride, padding)  # (N, C_in, h, w)
    return dx, dW


def conv_transpose2d_forward(x, W, stride, padding, output_padding=0):
    """ConvTranspose2D (no bias): the input gradient of a Conv2D, used as a forward pass.

    x: (N, C_in, h, w)   W: (C_in, C_out, k, k)  (PyTorch's layout)
    Returns y: (N, C_out, ho, wo),  ho = (h - 1) * stride - 2 * padding + k + output_padding
        x_cols = x as (C_in, N*h*w)
        cols   = W_cols.T @ x_cols,  W_cols = W.reshape(C_in, C_out*k*k)      (C_out*k*k, N*h*w)
        y      = col2im(cols, (N, C_out, ho, wo), k, stride, padding)
    """
    N, C_in, h, w = x.shape
    C_out, k = W.shape[1], W.shape[2]
    ho = (h - 1) * stride - 2 * padding + k + output_padding
    wo = (w - 1) * stride - 2 * padding + k + output_padding
    x_cols = x.transpose(1, 0, 2, 3).reshape(C_in, -1)  # (C_in, N*h*w)
    cols = W.reshape(C_in, -1).T @ x_cols  # (C_out*k*k, N*h*w)
    return col2im(cols, (N, C_out, ho, wo), k, stride, padding)


# ---- notebook 05: batch normalisation ---------------------------------------------
def batchnorm_backward(dout, x_hat, gamma, inv_std):
    """Backward of BatchNorm in training mode on (N, C) input.

    Forward:  x_hat = (x - mean) * inv_std,  inv_std = 1 / sqrt(var + eps),  y = gamma * x_hat + beta
    dout, x_hat: (N, C)   gamma, inv_std: (C,)
    Returns (dx, dgamma, dbeta), means and sums over the batch axis 0:
        dgamma = sum(dout * x_hat)     dbeta = sum(dout)
        dx = gamma * inv_std * (dout - mean(dout) - x_hat * mean(dout * x_hat))
    mean(dout) comes from the mean depending on x; x_hat * mean(dout * x_hat) from the variance.
    """
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    mean_dout = dout.mean(axis=0)  # (C,)
    mean_dout_xhat = (dout * x_hat).mean(axis=0)  # (C,)
    dx = gamma * inv_std * (dout - mean_dout - x_hat * mean_dout_xhat)
    return dx, dgamma, dbeta


# ---- notebook 06: the generator's loss ---------------------------------------------
def nonsaturating_g_loss(logits_fake):
    """The non-saturating generator loss, from D's logits on fakes, and its gradient.

    logits_fake: (N, 1) (or any shape; the mean runs over every entry)
        loss = -mean(log sigmoid(l)) = mean(softplus(-l))
        dloss/dl = (sigmoid(l) - 1) / N
    softplus(t) = max(t, 0) + log1p(exp(-|t|)) never overflows; sigmoid is formed from exp(-|l|) <= 1.
    Returns (loss as a float, dlogits shaped like logits_fake).
    """
    xp = get_array_module(logits_fake)
    t = logits_fake
    e = xp.exp(-xp.abs(t))  # in (0, 1]: never overflows
    softplus_neg = xp.maximum(-t, 0) + xp.log1p(e)  # softplus(-t) = -log sigmoid(t)
    sig = xp.where(t >= 0, 1 / (1 + e), e / (1 + e))  # sigmoid(t)
    loss = float(softplus_neg.mean())
    dlogits = (sig - 1) / t.size
    return loss, dlogits


# ---- notebook 08: a label's embedding ------------------------------------------------
def embedding_backward(dout, y, num_embeddings):
    """Backward of the Embedding e = W[y]: the gradient of the table W.

    dout: (N, D)   y: (N,) integer labels   num_embeddings: K
    e = one_hot(y) @ W, with one_hot(y) (N, K), so (as for Dense) dW = one_hot(y).T @ dout, (K, D):
    row c sums dout over the examples labelled c, and a class not in the batch gets a row of 0.
    """
    xp = get_array_module(dout)
    one_hot = (y[:, None] == xp.arange(num_embeddings)).astype(dout.dtype)  # (N, K)
    return one_hot.T @ dout
