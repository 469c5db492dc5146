"""Implicit world model: encoder, latent dynamics, reward, Q ensemble, model-free V, policy."""

from __future__ import annotations

import copy

import torch
from torch import nn

from m3po_learning.config import ModelConfig
from m3po_learning.math import TwoHot
from m3po_learning.nn import EnsembleMLP, SimNorm, mlp, trunc_normal_init, zero_output_layer
from m3po_learning.policy import TanhGaussianPolicy
from m3po_learning.types import EnvSpec


def two_random_heads(num_q: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """Indices of two distinct random ensemble members (drawn from `generator` when given)."""
    dev = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(num_q, generator=generator, device=dev)[:2].to(device)


class WorldModel(nn.Module):
    """All networks of one M3PO agent, conditioned on a learned task embedding.

    Observations are zero-padded to the largest task (O) and actions to the largest action
    space (A); `action_masks[task]` marks the dimensions a task really has.
    """

    def __init__(self, cfg: ModelConfig, specs: list[EnvSpec]):
        super().__init__()
        if not specs:
            raise ValueError("WorldModel needs at least one task spec")
        self.cfg = cfg
        self.num_tasks = len(specs)
        self.obs_dim = max(s.obs_dim for s in specs)
        self.action_dim = max(s.action_dim for s in specs)
        masks = torch.zeros(self.num_tasks, self.action_dim)
        for i, s in enumerate(specs):
            masks[i, : s.action_dim] = 1.0
        self.register_buffer("action_masks", masks)
        self.register_buffer("discounts", torch.tensor([s.discount for s in specs]))
        t = cfg.task_dim
        self.task_emb = nn.Embedding(self.num_tasks, t, max_norm=1.0) if t > 0 else None
        L, M = cfg.latent_dim, cfg.mlp_dim
        act = cfg.activation
        self.encoder = mlp(
            self.obs_dim + t,
            [cfg.enc_dim] * cfg.num_enc_layers,
            L,
            SimNorm(cfg.simnorm_dim),
            act=act,
            out_norm=cfg.out_norm,
        )
        self.dynamics = mlp(
            L + self.action_dim + t,
            [M, M],
            L,
            SimNorm(cfg.simnorm_dim),
            act=act,
            out_norm=cfg.out_norm,
        )
        self.reward = mlp(L + self.action_dim + t, [M, M], cfg.num_bins, act=act)
        self.qs = EnsembleMLP(
            cfg.num_q, L + self.action_dim + t, M, cfg.num_bins, cfg.dropout, act=act
        )
        self.v = mlp(L + t, [M, M], cfg.num_bins, act=act)
        self.pi = TanhGaussianPolicy(
            L + t, M, self.action_dim, cfg.log_std_min, cfg.log_std_max, cfg.log_std_init, act
        )
        if cfg.init == "trunc_normal":
            trunc_normal_init(self)
        for head in (self.reward, self.qs, self.v):
            zero_output_layer(head)
        self.target_qs = copy.deepcopy(self.qs).requires_grad_(False).eval()
        self.two_hot = TwoHot(cfg.num_bins, cfg.vmin, cfg.vmax)

    def train(self, mode: bool = True) -> WorldModel:
        """Target Qs stay in eval mode (no dropout in the TD target), whatever the mode."""
        super().train(mode)
        self.target_qs.eval()
        return self

    # -- conditioning -------------------------------------------------------------------------
    def embed(self, task: torch.Tensor) -> torch.Tensor | None:
        """task: (B,) long -> (B, task_dim) or None when embeddings are off."""
        return None if self.task_emb is None else self.task_emb(task)

    @staticmethod
    def _cat(*xs: torch.Tensor | None) -> torch.Tensor:
        parts = [x for x in xs if x is not None]
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def mask(self, task: torch.Tensor) -> torch.Tensor:
        """task: (B,) long -> (B, A) float mask, 1 on each task's own action dims."""
        return self.action_masks[task]

    # -- networks -----------------------------------------------------------------------------
    def encode(self, obs: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """obs: (B, O) -> z: (B, L)."""
        return self.encoder(self._cat(obs, emb))

    def next(self, z: torch.Tensor, a: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """Latent dynamics: z (B, L), a (B, A) -> next z (B, L)."""
        return self.dynamics(self._cat(z, a, emb))

    def reward_logits(self, z, a, emb) -> torch.Tensor:
        """Two-hot reward logits (B, bins) for z (B, L), a (B, A)."""
        return self.reward(self._cat(z, a, emb))

    def q_logits(self, z, a, emb, target: bool = False) -> torch.Tensor:
        """(K, B, bins) logits of every ensemble member (target network when target=True)."""
        net = self.target_qs if target else self.qs
        return net(self._cat(z, a, emb))

    def q_value(self, z, a, emb, target: bool = False, generator=None) -> torch.Tensor:
        """Mean of two random ensemble members' values (TD-MPC2), (B,)."""
        logits = self.q_logits(z, a, emb, target)
        idx = two_random_heads(self.cfg.num_q, generator, logits.device)
        return self.two_hot.decode(logits[idx]).mean(0)

    def q_min_target(self, z, a, emb, generator=None) -> torch.Tensor:
        """Min over 2 random target heads (the TD target of ALGORITHM.md), (B,)."""
        logits = self.q_logits(z, a, emb, target=True)
        idx = two_random_heads(self.cfg.num_q, generator, logits.device)
        return self.two_hot.decode(logits[idx]).min(0).values

    def v_logits(self, z, emb) -> torch.Tensor:
        """Two-hot logits (B, bins) of the model-free critic V(z)."""
        return self.v(self._cat(z, emb))

    def v_value(self, z, emb) -> torch.Tensor:
        """V(z) decoded to a scalar, (B,)."""
        return self.two_hot.decode(self.v_logits(z, emb))

    def policy(self, z, emb, mask, deterministic=False, generator=None):
        """Policy pi(. | z, e) on the `mask` (B, A) dims, a PolicyOutput (deterministic: mean)."""
        return self.pi(self._cat(z, emb), mask, deterministic, generator)

    @torch.no_grad()
    def soft_update_target(self, tau: float) -> None:
        """Polyak update of the target Q ensemble: target <- target + tau (online - target)."""
        for p, tp in zip(self.qs.parameters(), self.target_qs.parameters(), strict=True):
            tp.lerp_(p, tau)

    def world_model_parameters(self):
        """Parameters trained by the world-model loss (everything but V and pi)."""
        for name, p in self.named_parameters():
            if not name.startswith(("v.", "pi.", "target_qs.")):
                yield name, p
