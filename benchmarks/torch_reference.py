"""The same GAN training step in PyTorch, to time minigan against it side by side.

PyTorch is never a dependency of minigan: ``train_step.py`` imports this file only
when ``import torch`` works.

translate(net, in_shape) builds the PyTorch network of a minigan ``Sequential``,
layer by layer, with the same weights (so "the same architecture" is not a
second, hand-copied description that could drift). TorchGAN.train_step mirrors
``minigan.gan.GAN.train_step`` with the default non-saturating objective and Adam:

(1) z -> G -> fake;  [real; fake.detach()] -> D -> logits (2N, 1);  d_loss.backward();  Adam on D
(2) fake -> D (frozen: requires_grad False, so no D weight gradients) -> g_loss.backward()
    through D into G (G's graph from pass 1 is reused);  Adam on G
and returns the same numbers (losses, mean D outputs, gradient norms) as Python floats.
"""

import torch
import torch.nn.functional as F
from torch import nn

from minigan.layers import (
    BatchNorm,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sigmoid,
    Tanh,
)


def _param(a):
    return nn.Parameter(torch.from_numpy(a.copy()))


def translate(net, in_shape):
    """The PyTorch nn.Sequential of minigan Sequential ``net`` whose input is (N, *in_shape)."""
    modules, shape = [], tuple(in_shape)  # shape: one example's shape at this point
    for layer in net.layers:
        if isinstance(layer, Dense):
            m = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias)
            m.weight = _param(layer.params["W"].T)  # minigan keeps W as (in, out)
            shape = (layer.out_features,)
        elif isinstance(layer, Conv2D):
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.k, layer.stride, layer.padding, bias=layer.bias)
            m.weight = _param(layer.params["W"])
            shape = layer.output_shape((1, *shape))[1:]
        elif isinstance(layer, ConvTranspose2D):
            m = nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.k, layer.stride, layer.padding,
                                   layer.output_padding, bias=layer.bias)  # fmt: skip
            m.weight = _param(layer.params["W"])
            shape = layer.output_shape((1, *shape))[1:]
        elif isinstance(layer, BatchNorm):
            kind = nn.BatchNorm1d if len(shape) == 1 else nn.BatchNorm2d
            m = kind(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        elif isinstance(layer, LeakyReLU):
            m = nn.LeakyReLU(layer.alpha)
        elif isinstance(layer, ReLU):
            m = nn.ReLU()
        elif isinstance(layer, Tanh):
            m = nn.Tanh()
        elif isinstance(layer, Sigmoid):
            m = nn.Sigmoid()
        elif isinstance(layer, Dropout):
            m = nn.Dropout(layer.p)
        elif isinstance(layer, Flatten):
            m = nn.Flatten()
            shape = (int(torch.tensor(shape).prod()),)
        elif isinstance(layer, Reshape):
            m = nn.Unflatten(1, layer.shape)
            shape = layer.shape
        else:
            raise TypeError(f"no PyTorch translation for {layer!r}")
        if "b" in layer.params:
            m.bias = _param(layer.params["b"])
        modules.append(m)
    return nn.Sequential(*modules)


def _grad_norm(module):
    return float(torch.sqrt(sum((p.grad * p.grad).sum() for p in module.parameters())))


class TorchGAN:
    """G and D as PyTorch modules with the DCGAN optimizer, Adam(2e-4, 0.5, 0.999)."""

    def __init__(self, G, D, latent_dim, sample_shape, device="cpu", lr=2e-4, beta1=0.5, beta2=0.999):
        self.device, self.latent_dim = device, latent_dim
        self.G = translate(G, (latent_dim,)).to(device)
        self.D = translate(D, sample_shape).to(device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr, betas=(beta1, beta2))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr, betas=(beta1, beta2))

    def train_step(self, real):
        n = real.shape[0]
        # (1) train D, G frozen: the fakes are detached from G's graph for D's loss
        fake = self.G(torch.randn(n, self.latent_dim, device=self.device))
        logits = self.D(torch.cat([real, fake.detach()]))  # (2N, 1)
        d_loss = F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()  # BCE with logits
        self.opt_D.zero_grad(set_to_none=False)
        d_loss.backward()
        stats = {"d_loss": d_loss.item(), "d_real": torch.sigmoid(logits[:n]).mean().item(),
                 "d_fake": torch.sigmoid(logits[n:]).mean().item(), "grad_norm_d": _grad_norm(self.D)}  # fmt: skip
        self.opt_D.step()
        # (2) train G, D frozen: the gradient flows through D, D's weight gradients are not computed
        self.D.requires_grad_(False)
        g_loss = F.softplus(-self.D(fake)).mean()  # non-saturating: -log D(G(z))
        self.opt_G.zero_grad(set_to_none=False)
        g_loss.backward()
        self.D.requires_grad_(True)
        stats.update(g_loss=g_loss.item(), grad_norm_g=_grad_norm(self.G))
        self.opt_G.step()
        return stats
