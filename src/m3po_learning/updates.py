"""The off-policy updates of ALGORITHM.md on one replay batch.

World model + Q ensemble (with the exploration bonus as an intrinsic reward), the model-free
critic V, and the trust-region actor.
"""

from __future__ import annotations

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from m3po_learning.types import Batch


def rho_weights(h: int, rho: float, device) -> torch.Tensor:
    """Temporal loss weights rho^t for t = 0..h-1, (h,) float32."""
    return rho ** torch.arange(h, device=device, dtype=torch.float32)


def diag_gaussian_kl(mean0, log_std0, mean1, log_std1, mask) -> torch.Tensor:
    """KL(N0 || N1) of diagonal Gaussians over the valid dims, (B,).

    The tanh squash is a bijection, so this is also the KL of the squashed policies.
    """
    var0, var1 = (2 * log_std0).exp(), (2 * log_std1).exp()
    kl = log_std1 - log_std0 + (var0 + (mean0 - mean1) ** 2) / (2 * var1) - 0.5
    return (kl * mask).sum(-1)


class RunningScale:
    """TD-MPC2's Q scale S: a running (tau) average of the 5-95 percentile range, at least 1."""

    def __init__(self, tau: float):
        self.tau = tau
        self.value = 1.0

    def update(self, q: torch.Tensor) -> None:
        """Move the scale towards the 5-95 percentile range of the values `q` (any shape)."""
        q = q.detach().float().flatten()
        lo, hi = torch.quantile(q, torch.tensor([0.05, 0.95], device=q.device))
        self.value += self.tau * (float(hi - lo) - self.value)

    def __call__(self) -> float:
        """The current scale S, at least 1."""
        return max(self.value, 1.0)


class BonusNormalizer:
    """Per-task scale of epsilon = |Q_MF - Q_MB|: b = clip(eps / RMS_task(eps), 0, c).

    Divided by a running (rate tau) root-mean-square per task, not centred: a transition on
    which model and data agree (eps = 0) gets no bonus, and every task's bonus has the same
    scale whatever its reward scale (D; ALGORITHM.md centres it, which would make agreement
    a penalty).
    """

    def __init__(self, num_tasks: int, tau: float, device):
        self.tau = tau
        self.mean_sq = torch.zeros(num_tasks, device=device)
        self.seen = torch.zeros(num_tasks, dtype=torch.bool, device=device)

    @torch.no_grad()
    def __call__(self, eps: torch.Tensor, task: torch.Tensor, clip: float) -> torch.Tensor:
        """Eps (H, B), task (B,) -> bonus (H, B) in [0, clip]; updates the running scale."""
        T = self.mean_sq.shape[0]
        cnt = torch.bincount(task, minlength=T).float() * eps.shape[0]
        s2 = torch.zeros(T, device=eps.device).index_add_(0, task, (eps.float() ** 2).sum(0))
        present = cnt > 0
        batch_ms = s2[present] / cnt[present]
        rate = torch.where(self.seen[present], self.tau, 1.0)
        self.mean_sq[present] += rate * (batch_ms - self.mean_sq[present])
        self.seen[present] = True
        return (eps / (self.mean_sq[task].sqrt() + 1e-8)).clamp(0.0, clip)


class UpdateMixin:
    """`M3POAgent.update` and its parts (see agent.py for the state it uses)."""

    # -- two value estimates and the bonus ------------------------------------------------------
    @torch.no_grad()
    def q_model_based(self, z, action, emb, task, gamma) -> torch.Tensor:
        """Q_MB = R(z,a) + gamma V(d(z,a)); (D) k-step: on under pi, the Q-ensemble at the end.

        z (n, L), action (n, A), emb (n, E) or None, task (n,), gamma (n,) -> (n,).
        """
        m = self.model
        k = self.cfg.explore.qmb_rollout
        q = m.two_hot.decode(m.reward_logits(z, action, emb).float())
        zn = m.next(z, action, emb)
        if k == 1:
            return q + gamma * m.v_value(zn, emb).float()
        mask = m.mask(task)
        disc = gamma.clone()
        for _ in range(k - 1):
            a = m.policy(zn, emb, mask, generator=self.generator).action
            q = q + disc * m.two_hot.decode(m.reward_logits(zn, a, emb).float())
            zn = m.next(zn, a, emb)
            disc = disc * gamma
        a = m.policy(zn, emb, mask, generator=self.generator).action
        return q + disc * m.q_value(zn, a, emb, generator=self.generator).float()

    @torch.no_grad()
    def value_gap(self, batch: Batch, z: torch.Tensor, next_z: torch.Tensor) -> dict:
        """Q_MF, Q_MB, epsilon and the bonus on every replay transition of the batch.

        z, next_z: (H, B, L) encodings of s_t and s_{t+1}. Q_MF uses the real r and s'.
        """
        m = self.model
        H, B = batch.reward.shape
        emb = m.embed(batch.task)
        embH = None if emb is None else emb.unsqueeze(0).expand(H, -1, -1).reshape(H * B, -1)
        gamma = m.discounts[batch.task].unsqueeze(0).expand(H, -1)
        v_next = m.v_value(next_z.reshape(H * B, -1), embH).float().view(H, B)
        q_mf = batch.reward + gamma * (1.0 - batch.terminated) * v_next
        q_mb = self.q_model_based(
            z.reshape(H * B, -1),
            batch.action.reshape(H * B, -1),
            embH,
            batch.task.unsqueeze(0).expand(H, -1).reshape(-1),
            gamma.reshape(-1),
        ).view(H, B)
        eps = (q_mf - q_mb).abs()
        bonus = self.bonus_norm(eps, batch.task, self.cfg.explore.clip)
        return {"q_mf": q_mf, "q_mb": q_mb, "epsilon": eps, "bonus": bonus, "v_next": v_next}

    # -- world model + Q ensemble + V -----------------------------------------------------------
    def world_model_losses(
        self,
        batch: Batch,
        generator=None,
        intrinsic: torch.Tensor | None = None,
        next_z: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Consistency, reward and Q losses of ALGORITHM.md on a batch (H, B).

        Also their weighted `total`, and the latents `zs` (H+1, B, L) rolled out from h(s_0);
        all differentiable.

        The Q target is r + intrinsic + gamma * min_2 Q_target(z', pi(z')); `intrinsic`
        (H, B) is the annealed exploration bonus (None: no bonus); `next_z` (H, B, L) the
        encodings h(s_1..s_H) when the caller already has them.
        """
        m, o = self.model, self.cfg.optim
        H, B = batch.action.shape[:2]
        emb = m.embed(batch.task)
        embH = None if emb is None else emb.unsqueeze(0).expand(H, -1, -1)
        flat = lambda x: None if x is None else x.reshape(H * B, -1)  # noqa: E731
        with torch.no_grad():
            if next_z is None:
                next_z = m.encode(batch.obs[1:], embH)  # (H, B, L) targets
            mask = m.mask(batch.task).unsqueeze(0).expand(H, -1, -1)
            pi_next = m.policy(flat(next_z), flat(embH), flat(mask), generator=generator).action
            q_next = m.q_min_target(flat(next_z), pi_next, flat(embH), generator).view(H, B)
            gamma = m.discounts[batch.task].unsqueeze(0)
            reward = batch.reward if intrinsic is None else batch.reward + intrinsic
            td = reward + gamma * (1.0 - batch.terminated) * q_next.float()
        z = m.encode(batch.obs[0], emb)
        zs = [z]
        for t in range(H):
            z = m.next(z, batch.action[t], emb)
            zs.append(z)
        zs_t = torch.stack(zs[1:])  # (H, B, L) predicted next latents
        w = rho_weights(H, o.rho, self.device)
        consistency = (((zs_t.float() - next_z.float()) ** 2).mean((1, 2)) * w).sum() / H
        z_in = torch.stack(zs[:-1]).reshape(H * B, -1)
        a_in = batch.action.reshape(H * B, -1)
        e_in = flat(embH)
        r_logits = m.reward_logits(z_in, a_in, e_in).float()
        reward_loss = (
            m.two_hot.cross_entropy(r_logits, batch.reward.reshape(-1)).view(H, B).mean(1) * w
        ).sum() / H
        q_logits = m.q_logits(z_in, a_in, e_in).float()  # (K, H*B, bins)
        q_ce = m.two_hot.cross_entropy(q_logits, td.reshape(1, -1).expand(m.cfg.num_q, -1))
        value_loss = (q_ce.view(-1, H, B).mean((0, 2)) * w).sum() / H
        total = (
            o.consistency_coef * consistency
            + o.reward_coef * reward_loss
            + o.value_coef * value_loss
        )
        return {
            "consistency": consistency,
            "reward_loss": reward_loss,
            "value_loss": value_loss,
            "total": total,
            "zs": torch.stack(zs),
            "td_target": td,
        }

    def v_targets(self, batch: Batch, v_next: torch.Tensor) -> torch.Tensor:
        """Lambda-returns of the real rewards along each sub-trajectory, (H, B).

        Bootstrapped with V(h(s_{t+1})) (ALGORITHM.md: V is trained on real rewards only).
        """
        lam = self.cfg.policy.gae_lambda
        H = batch.reward.shape[0]
        gamma = self.model.discounts[batch.task]
        not_term = 1.0 - batch.terminated
        ret = torch.empty_like(batch.reward)
        g = v_next[-1]
        for t in reversed(range(H)):
            boot = v_next[t] if t == H - 1 else (1 - lam) * v_next[t] + lam * g
            g = batch.reward[t] + gamma * not_term[t] * boot
            ret[t] = g
        return ret

    def update_world_model(self, batch: Batch) -> dict[str, float]:
        """One gradient step of world model + Q (bonus in the target) + V on a replay batch."""
        if not self.cfg.model.world_model:
            return {}
        m, o = self.model, self.cfg.optim
        m.train()
        H, B = batch.reward.shape
        stats: dict[str, float] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp_bf16):
            with torch.no_grad():
                emb = m.embed(batch.task)
                embH1 = None if emb is None else emb.unsqueeze(0).expand(H + 1, -1, -1)
                z_all = m.encode(batch.obs, embH1).float()  # (H+1, B, L)
                gap = self.value_gap(batch, z_all[:-1], z_all[1:])
            beta = self.beta
            intrinsic = beta * gap["bonus"] if beta > 0 else None
            losses = self.world_model_losses(batch, intrinsic=intrinsic, next_z=z_all[1:])
            total = losses["total"]
            if self.v_optim is not None:  # the ppo actor trains V on its segments instead
                embH = None if emb is None else emb.detach().unsqueeze(0).expand(H, -1, -1)
                v_logits = m.v_logits(z_all[:-1], embH).float()
                v_target = self.v_targets(batch, gap["v_next"])
                w = rho_weights(H, o.rho, self.device)
                v_loss = (m.two_hot.cross_entropy(v_logits, v_target).mean(1) * w).sum() / H
                total = total + o.v_coef * v_loss
                stats["v/loss"] = v_loss.item()
        self.wm_optim.zero_grad(set_to_none=True)
        if self.v_optim is not None:
            self.v_optim.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for _, p in m.world_model_parameters()], o.grad_clip
        )
        self.wm_optim.step()
        if self.v_optim is not None:
            torch.nn.utils.clip_grad_norm_(m.v.parameters(), o.grad_clip)
            self.v_optim.step()
        m.soft_update_target(o.tau)
        m.eval()
        self._act_dirty = True
        self._last_zs = losses["zs"].detach().float()
        for k in ("consistency", "reward_loss", "value_loss", "total"):
            stats[f"wm/{k}"] = losses[k].item()
        stats["wm/grad_norm"] = grad_norm.item()
        stats.update(
            {
                "explore/beta": beta,
                "explore/epsilon_mean": float(gap["epsilon"].mean()),
                "explore/epsilon_max": float(gap["epsilon"].max()),
                "explore/bonus_std": float(gap["bonus"].std()),
                "q/mf_mean": float(gap["q_mf"].mean()),
                "q/mb_mean": float(gap["q_mb"].mean()),
            }
        )
        return stats

    # -- trust-region actor ---------------------------------------------------------------------
    def update_actor(self, zs: torch.Tensor, task: torch.Tensor) -> dict[str, float]:
        """Maximise Q(z, pi(z)) / S + c * entropy on latents zs (T, B, L), weights rho^t.

        Then hold KL(pi_old || pi) <= target_kl by backtracking the step (a projection onto
        the trust region along the step direction).
        """
        m, pc = self.model, self.cfg.policy
        T, B, _ = zs.shape
        z = zs.detach().float().reshape(T * B, -1)
        emb = m.embed(task)
        e = None if emb is None else emb.detach().unsqueeze(0).expand(T, -1, -1).reshape(T * B, -1)
        x = m._cat(z, e)
        mask = m.mask(task).unsqueeze(0).expand(T, -1, -1).reshape(T * B, -1)
        m.train()
        m.qs.requires_grad_(False)  # the actor's gradient reaches the action, not Q
        try:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp_bf16):
                out = m.pi(x, mask, generator=self.generator)
                q = m.q_value(z, out.action, e, generator=self.generator)
            q = q.float().view(T, B)
            self.q_scale.update(q[0])
            entropy = -out.log_prob.float().view(T, B)
            w = rho_weights(T, self.cfg.optim.rho, self.device)
            objective = q / self.q_scale() + pc.actor_entropy_coef * entropy
            loss = -(objective.mean(1) * w).sum() / w.sum()
            self.pi_optim.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            m.qs.requires_grad_(True)
        params = list(m.pi.parameters())
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        with torch.no_grad():  # pi_old in full precision (the forward above may run in bf16)
            old_mean, old_log_std = (t.float() for t in m.pi.dist_params(x))
        theta_old = parameters_to_vector(params).detach().clone()
        self.pi_optim.step()
        kl, backtracks = self._policy_kl(x, mask, old_mean, old_log_std), 0
        if pc.trust_region and kl > pc.target_kl:
            step = parameters_to_vector(params).detach() - theta_old
            for backtracks in range(1, pc.backtrack_steps + 1):
                vector_to_parameters(theta_old + step * 0.5**backtracks, params)
                kl = self._policy_kl(x, mask, old_mean, old_log_std)
                if kl <= pc.target_kl:
                    break
            else:
                vector_to_parameters(theta_old, params)  # no step stays inside: keep pi_old
                kl, backtracks = 0.0, pc.backtrack_steps + 1
        m.eval()
        self._act_dirty = True
        return {
            "pi/loss": loss.item(),
            "pi/q": float(q.detach().mean()),
            "pi/q_scale": self.q_scale(),
            "pi/entropy": float(entropy.detach().mean()),
            "pi/kl": kl,
            "pi/backtracks": float(backtracks),
            "pi/grad_norm": grad_norm.item(),
            "pi/std": float((old_log_std.exp() * mask).sum() / mask.sum()),
        }

    @torch.no_grad()
    def _policy_kl(self, x, mask, old_mean, old_log_std) -> float:
        mean, log_std = self.model.pi.dist_params(x)
        return float(
            diag_gaussian_kl(old_mean, old_log_std, mean.float(), log_std.float(), mask).mean()
        )

    def update(self, batch: Batch) -> dict[str, float]:
        """One full update step on a replay batch.

        World model, Q, V, and (trust_region actor) the policy on the same batch's rolled-out
        latents.
        """
        stats = self.update_world_model(batch)
        if self.cfg.policy.actor == "trust_region" and self.cfg.model.world_model:
            stats.update(self.update_actor(self._last_zs, batch.task))
        return stats
