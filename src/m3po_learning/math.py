"""Model numerics: symlog, two-hot discrete regression, SimNorm, Gaussian log-probs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * log(1 + |x|) (DreamerV3 / TD-MPC2 value squashing)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """Inverse of symlog."""
    return torch.sign(x) * torch.expm1(x.abs())


class TwoHot:
    """Discrete regression over `num_bins` evenly spaced bins in symlog space.

    A scalar y is encoded as probability mass on the two bins around symlog(y), and decoded as
    symexp of the expected bin value; encode -> decode is exact inside [vmin, vmax].
    """

    def __init__(self, num_bins: int = 101, vmin: float = -10.0, vmax: float = 10.0):
        if num_bins < 2:
            raise ValueError(f"TwoHot needs num_bins >= 2, got {num_bins}")
        if not vmin < vmax:
            raise ValueError(f"TwoHot needs vmin < vmax, got vmin={vmin}, vmax={vmax}")
        self.num_bins = num_bins
        self.vmin = vmin
        self.vmax = vmax
        self.bin_size = (vmax - vmin) / (num_bins - 1)
        self._bins: dict[tuple, torch.Tensor] = {}

    def bins(self, like: torch.Tensor) -> torch.Tensor:
        """Bin centres (num_bins,) in symlog space, on `like`'s device and dtype (cached)."""
        key = (like.device, like.dtype)
        if key not in self._bins:
            self._bins[key] = torch.linspace(
                self.vmin, self.vmax, self.num_bins, device=like.device, dtype=like.dtype
            )
        return self._bins[key]

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """y: (...,) -> soft target (..., num_bins)."""
        s = symlog(y).clamp(self.vmin, self.vmax)
        pos = (s - self.vmin) / self.bin_size
        lo = pos.floor().clamp(0, self.num_bins - 1)
        hi = (lo + 1).clamp(max=self.num_bins - 1)
        w_hi = pos - lo
        target = torch.zeros(*y.shape, self.num_bins, device=y.device, dtype=y.dtype)
        target.scatter_(-1, lo.long().unsqueeze(-1), (1.0 - w_hi).unsqueeze(-1))
        target.scatter_add_(-1, hi.long().unsqueeze(-1), w_hi.unsqueeze(-1))
        return target

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """logits: (..., num_bins) -> scalar (...,)."""
        probs = torch.softmax(logits, dim=-1)
        return symexp((probs * self.bins(logits)).sum(-1))

    def decode_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Probabilities (..., num_bins), already softmaxed -> scalar (...,)."""
        return symexp((probs * self.bins(probs)).sum(-1))

    def cross_entropy(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-element cross-entropy of logits (..., num_bins) against two-hot(y); shape (...,)."""
        return -(self.encode(y) * F.log_softmax(logits, dim=-1)).sum(-1)


def simnorm(x: torch.Tensor, group: int = 8) -> torch.Tensor:
    """Simplicial normalisation: softmax within consecutive groups of `group` features."""
    shape = x.shape
    if shape[-1] % group:
        raise ValueError(f"SimNorm: feature size {shape[-1]} is not divisible by group {group}")
    return torch.softmax(x.reshape(*shape[:-1], -1, group), dim=-1).reshape(shape)


_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; mean, exp(log_std)); caller sums over the action dims it wants."""
    return -0.5 * (((x - mean) / log_std.exp()) ** 2 + 2.0 * log_std + _LOG_2PI)


def tanh_log_det(pre_tanh: torch.Tensor) -> torch.Tensor:
    """Log |d tanh(u)/du| elementwise, numerically stable."""
    return 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
