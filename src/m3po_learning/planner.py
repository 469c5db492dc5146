"""Batched MPPI planning in the latent space of the world model, anytime under a deadline."""

from __future__ import annotations

import time
from typing import NamedTuple

import torch

from m3po_learning.config import PlannerConfig


class PlanResult(NamedTuple):
    """What `MPPIPlanner.plan` returns for B environments."""

    action: torch.Tensor  # (B, A) first action to execute (mean, or a sample in training)
    mean: torch.Tensor  # (B, H, A) final sampling mean (warm start for the next call)
    std: torch.Tensor  # (B, H, A) final sampling std
    iterations: int  # MPPI iterations completed (0: budget too short, policy proposal returned)
    elapsed_ms: float  # wall time spent in plan()
    value: torch.Tensor  # (B,) estimated return of the best elite
    center: torch.Tensor  # (B, A) what the exploration noise was added to (elite or mean)


class LatentModel:
    """What MPPI needs from a model.

    WorldModelAdapter and the fused inference model implement it; tests supply analytic ones.
    `rollout_value` has a generic implementation on top of `next`, `reward_value` and
    `terminal_value`; fast models override it.
    """

    def next(self, z, a, emb):
        """Next latent (B, L) from z (B, L), a (B, A), emb (B, E) or None."""
        ...

    def reward_value(self, z, a, emb) -> torch.Tensor:
        """Scalar reward (B,) of taking a (B, A) in z (B, L)."""
        ...

    def terminal_value(self, z, emb, mask, generator=None) -> torch.Tensor:
        """Value (B,) of ending the rollout in z (B, L), e.g. Q(z, pi(z)); mask: (B, A)."""
        ...

    def policy_action(self, z, emb, mask, generator) -> torch.Tensor:
        """Policy sample (B, A) in z (B, L), zero in the dims `mask` (B, A) marks invalid."""
        ...

    def rollout_value(self, z0, emb, mask, actions, gammas, generator=None) -> torch.Tensor:
        """G = sum_t gamma^t R(z_t, a_t) + gamma^H V_term(z_H) for every candidate.

        z0: (B, L); emb: (B, E) or None; mask: (B, A); actions: (B, S, H, A); gammas: (B, H+1).
        Returns (B, S).
        """
        B, S, H, _ = actions.shape
        z = z0.repeat_interleave(S, dim=0)
        e = None if emb is None else emb.repeat_interleave(S, dim=0)
        m = mask.repeat_interleave(S, dim=0)
        g = gammas.repeat_interleave(S, dim=0)
        G = torch.zeros(B * S, device=z0.device)
        for t in range(H):
            a = actions[:, :, t].reshape(B * S, -1)
            G += g[:, t] * self.reward_value(z, a, e).float()
            z = self.next(z, a, e)
        G += g[:, H] * self.terminal_value(z, e, m, generator).float()
        return G.view(B, S)


class WorldModelAdapter(LatentModel):
    """Adapts WorldModel to the planner: decoded scalar rewards and values."""

    def __init__(self, model):
        self.m = model

    def next(self, z, a, emb):
        """WorldModel.next: z (B, L), a (B, A) -> (B, L)."""
        return self.m.next(z, a, emb)

    def reward_value(self, z, a, emb):
        """Decoded reward head, (B,) float32."""
        return self.m.two_hot.decode(self.m.reward_logits(z, a, emb).float())

    def terminal_value(self, z, emb, mask, generator=None):
        """Q(z, pi(z)) with a sampled policy action, (B,) float32."""
        a = self.m.policy(z, emb, mask, generator=generator).action
        return self.m.q_value(z, a, emb, generator=generator).float()

    def policy_action(self, z, emb, mask, generator=None):
        """A sampled policy action, (B, A)."""
        return self.m.policy(z, emb, mask, generator=generator).action


class MPPIPlanner:
    """MPPI (TD-MPC2 flavour) over horizon H for B environments at once.

    Candidate action sequences are N Gaussian samples plus P policy rollouts; each is scored
    G = sum_t gamma^t R(z_t, a_t) + gamma^H Q(z_H, pi(z_H)); the K best update the Gaussian with
    softmax(temperature * G) weights. Given a deadline the planner is anytime: it stops before
    an iteration it could not finish by then and returns the best plan so far. Its one estimate
    of an iteration's cost (`iteration_ms`) rises at once to any slower iteration it measures
    (preemption, a busy core) and falls back slowly, so a deadline is kept without a second
    margin kept elsewhere.
    """

    def __init__(self, cfg: PlannerConfig, action_dim: int, device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.action_dim = action_dim
        self.device = torch.device(device)
        self.iteration_ms = 0.0  # estimate of one iteration's cost, for deadlines (0: unknown)
        self.skip_decay = 0.85  # shrink factor of the estimate each time it stops an iteration
        self.settle = 0.1  # weight of a faster iteration in the estimate (slower ones: 1)

    def _measured(self, it_ms: float) -> None:
        if it_ms >= self.iteration_ms:
            self.iteration_ms = it_ms
        else:
            self.iteration_ms += self.settle * (it_ms - self.iteration_ms)

    def fits(self, deadline: float | None) -> bool:
        """Whether one more iteration can finish by `deadline` (time.perf_counter() seconds).

        A skipped iteration shrinks the estimate, since it only updates when an iteration runs:
        one preempted iteration must not switch planning off for good.
        """
        if deadline is None:
            return True
        if time.perf_counter() + self.iteration_ms * 1e-3 <= deadline:
            return True
        self.iteration_ms *= self.skip_decay
        return False

    @torch.no_grad()
    def plan(
        self,
        model: LatentModel,
        z0: torch.Tensor,
        emb: torch.Tensor | None,
        mask: torch.Tensor,
        discount: torch.Tensor,
        prev_mean: torch.Tensor | None = None,
        explore: bool = False,
        deadline: float | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """z0: (B, L); emb: (B, E) or None; mask: (B, A); discount: (B,); prev_mean: (B, H, A).

        deadline: absolute `time.perf_counter()` time by which planning must be done; None
        plans all iterations. With zero iterations done the policy proposal is returned.
        """
        cfg = self.cfg
        t0 = time.perf_counter()
        B, L = z0.shape
        H, A, N, P = cfg.horizon, self.action_dim, cfg.num_samples, cfg.num_pi_trajs
        S = N + P
        dev, dt = z0.device, z0.dtype
        mask3 = mask[:, None, None, :].to(dt)  # (B, 1, 1, A)

        gammas = discount.to(torch.float32)[:, None] ** torch.arange(H + 1, device=dev)  # (B,H+1)

        # Policy proposals, rolled out once through the latent dynamics.
        pi_actions = torch.empty(B, P, H, A, device=dev, dtype=dt)
        if P:
            z = z0.repeat_interleave(P, dim=0)
            e = None if emb is None else emb.repeat_interleave(P, dim=0)
            m = mask.to(dt).repeat_interleave(P, dim=0)
            for t in range(H):
                a = model.policy_action(z, e, m, generator)
                pi_actions[:, :, t] = a.view(B, P, A)
                if t < H - 1:
                    z = model.next(z, a, e)

        mean = torch.zeros(B, H, A, device=dev, dtype=dt)
        if prev_mean is not None:
            mean[:, :-1] = prev_mean[:, 1:].to(dt)  # warm start: shift by one tick
        std = torch.full((B, H, A), cfg.max_std, device=dev, dtype=dt)
        actions = torch.empty(B, S, H, A, device=dev, dtype=dt)
        if P:
            actions[:, N:] = pi_actions
        best_value = torch.full((B,), float("-inf"), device=dev)
        best_first = pi_actions[:, 0, 0] if P else mean[:, 0].clone()

        iterations = 0
        for _ in range(cfg.iterations):
            if not self.fits(deadline):
                break
            t_it = time.perf_counter()
            noise = torch.randn(B, N, H, A, device=dev, dtype=dt, generator=generator)
            actions[:, :N] = (mean[:, None] + std[:, None] * noise).clamp(-1, 1)
            actions.mul_(mask3)
            value = model.rollout_value(z0, emb, mask.to(dt), actions, gammas, generator)
            value = value.nan_to_num(nan=-1e9)
            elite_val, elite_idx = value.topk(cfg.num_elites, dim=1)  # (B, K)
            elites = actions.gather(1, elite_idx[:, :, None, None].expand(-1, -1, H, A))
            score = torch.exp(cfg.temperature * (elite_val - elite_val[:, :1]))
            score = (score / score.sum(1, keepdim=True)).to(dt)[:, :, None, None]
            mean = (score * elites).sum(1)
            last_score, last_elites = score, elites
            var = (score * (elites - mean[:, None]) ** 2).sum(1)
            std = var.sqrt().clamp(cfg.min_std, cfg.max_std)
            best_value = elite_val[:, 0]
            best_first = elites[:, 0, 0]
            iterations += 1
            self._measured((time.perf_counter() - t_it) * 1e3)

        if iterations == 0:
            # No time for one iteration: fall back to the best proposal we have.
            center = best_first
        elif cfg.final_action == "elite":
            # TD-MPC2: execute one elite drawn by its MPPI weight, not the weighted mean (a
            # mean of two good but different modes can be a bad action).
            w = last_score[:, :, 0, 0].float()
            pick = torch.multinomial(w, 1, generator=generator).squeeze(1)  # (B,)
            center = last_elites[torch.arange(B, device=dev), pick, 0]
        else:
            center = mean[:, 0]
        action = center
        if explore and iterations > 0:
            noise = torch.randn(B, A, device=dev, dtype=dt, generator=generator)
            action = center + std[:, 0] * noise
        action = action.clamp(-1, 1) * mask.to(dt)
        return PlanResult(
            action, mean, std, iterations, (time.perf_counter() - t0) * 1e3, best_value, center
        )
