"""Tanh-squashed Gaussian policy head, masked to each task's action dimensions."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from m3po_learning.math import gaussian_log_prob, tanh_log_det
from m3po_learning.nn import mlp

# atanh of actions at exactly +-1 is infinite; recorded actions are clamped this far inside.
_EDGE = 1.0 - 1e-4


class PolicyOutput(NamedTuple):
    """One policy evaluation for a batch of B latents."""

    action: torch.Tensor  # (B, A) squashed sample (or mean), zero where masked
    mean: torch.Tensor  # (B, A) pre-tanh mean
    log_std: torch.Tensor  # (B, A)
    log_prob: torch.Tensor  # (B,) log-probability of `action` over the valid dims
    entropy: torch.Tensor  # (B,) Gaussian entropy over the valid dims (pre-squash estimate)


class TanhGaussianPolicy(nn.Module):
    """pi(a | z, e): MLP -> (mean, log_std); a = tanh(mean + std * eps) on the task's dims."""

    def __init__(
        self,
        in_dim: int,
        hidden: int,
        action_dim: int,
        log_std_min: float,
        log_std_max: float,
        log_std_init: float,
        act: str = "mish",
    ):
        super().__init__()
        self.net = mlp(in_dim, [hidden, hidden], 2 * action_dim, act=act)
        self.action_dim = action_dim
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        # Offset so that a zero raw output gives log_std_init: an exploratory start for the
        # trust-region update, which cannot recover from a collapsed initial std.
        frac = (log_std_init - log_std_min) / (log_std_max - log_std_min)
        self.register_buffer("_std_offset", torch.logit(torch.tensor(frac)), persistent=False)

    def dist_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, in) -> pre-tanh mean (B, A) and log_std (B, A) in [log_std_min, log_std_max]."""
        mean, raw = self.net(x).chunk(2, dim=-1)
        # Smoothly map the raw output into [log_std_min, log_std_max].
        log_std = self.log_std_min + (self.log_std_max - self.log_std_min) * torch.sigmoid(
            raw + self._std_offset.to(raw.dtype)
        )
        return mean, log_std

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> PolicyOutput:
        """x: (B, in); mask: (B, A) float 0/1."""
        mean, log_std = self.dist_params(x)
        if deterministic:
            u = mean
        else:
            noise = torch.randn(
                mean.shape, device=mean.device, dtype=mean.dtype, generator=generator
            )
            u = mean + noise * log_std.exp()
        action = torch.tanh(u) * mask
        lp = ((gaussian_log_prob(u, mean, log_std) - tanh_log_det(u)) * mask).sum(-1)
        entropy = ((0.5 + 0.5 * torch.log(torch.tensor(2 * torch.pi)) + log_std) * mask).sum(-1)
        return PolicyOutput(action, mean, log_std, lp, entropy)

    def log_prob(self, x: torch.Tensor, action: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-probability (B,) of given squashed actions (B, A) under pi(.|x)."""
        mean, log_std = self.dist_params(x)
        a = action.clamp(-_EDGE, _EDGE)
        u = torch.atanh(a)
        return ((gaussian_log_prob(u, mean, log_std) - tanh_log_det(u)) * mask).sum(-1)


def clamped_gaussian_log_prob(
    action: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Log mu(a) of the planner's final sampling Gaussian, over the valid dims; (B,)."""
    a = action.clamp(-_EDGE, _EDGE)
    return (gaussian_log_prob(a, mean, std.log()) * mask).sum(-1)
