"""The first version's actor: the `ppo_actor` ablation and the model-free baseline's actor.

A clipped-ratio update on the last segment of collected steps (ALGORITHM.md, Policy).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Segment(NamedTuple):
    """The recent on-policy segment: T steps of N environments (one task each)."""

    obs: torch.Tensor  # (T, N, O)
    next_obs: torch.Tensor  # (T, N, O) real next observation (the final one at episode ends)
    action: torch.Tensor  # (T, N, A)
    reward: torch.Tensor  # (T, N)
    terminated: torch.Tensor  # (T, N)
    done: torch.Tensor  # (T, N) terminated or truncated
    log_mu: torch.Tensor  # (T, N)
    task: torch.Tensor  # (N,)

    @classmethod
    def from_arrays(cls, seg: dict, steps: int, task_ids, device) -> Segment:
        """The first `steps` rows of the collector's per-step arrays, as tensors on `device`."""

        def t(x):
            return torch.as_tensor(x[:steps], device=device)

        names = ("obs", "next_obs", "action", "reward", "terminated", "done", "log_mu")
        return cls(*(t(seg[k]) for k in names), torch.as_tensor(task_ids, device=device))


class PPOActorMixin:
    """`M3POAgent.update_policy` for policy.actor=ppo (see agent.py for the state it uses)."""

    @torch.no_grad()
    def value_estimates(self, seg: Segment) -> dict[str, torch.Tensor]:
        """V, GAE advantages, lambda-returns, Q_MF, Q_MB and the bonus on a segment (T, N)."""
        m = self.model
        T, N = seg.reward.shape
        emb = m.embed(seg.task)
        embT = None if emb is None else emb.unsqueeze(0).expand(T, -1, -1)
        z = m.encode(seg.obs, embT)
        z_next = m.encode(seg.next_obs, embT)
        v = m.v_value(z, embT).float()
        v_next = m.v_value(z_next, embT).float()
        gamma = m.discounts[seg.task].unsqueeze(0).expand(T, -1)
        lam = self.cfg.policy.gae_lambda
        not_term = 1.0 - seg.terminated
        not_done = 1.0 - seg.done
        delta = seg.reward + gamma * not_term * v_next - v
        adv = torch.zeros_like(delta)
        running = torch.zeros(N, device=self.device)
        for t in reversed(range(T)):
            running = delta[t] + gamma[t] * lam * not_done[t] * running
            adv[t] = running
        returns = adv + v
        q_mf = seg.reward + gamma * not_term * v_next
        if self.cfg.model.world_model:
            flat = lambda x: None if x is None else x.reshape(T * N, -1)  # noqa: E731
            q_mb = self.q_model_based(
                flat(z),
                flat(seg.action),
                flat(embT),
                seg.task.unsqueeze(0).expand(T, -1).reshape(-1),
                gamma.reshape(-1),
            ).view(T, N)
            eps = (q_mf - q_mb).abs()
            bonus = ((eps - eps.mean()) / (eps.std() + 1e-8)).clamp(
                -self.cfg.explore.clip, self.cfg.explore.clip
            )
        else:
            q_mb = torch.full_like(q_mf, float("nan"))
            eps = torch.zeros_like(q_mf)
            bonus = torch.zeros_like(q_mf)
        return {
            "z": z,
            "v": v,
            "adv": adv,
            "returns": returns,
            "q_mf": q_mf,
            "q_mb": q_mb,
            "epsilon": eps,
            "bonus": bonus,
        }

    def update_policy(self, seg: Segment) -> dict[str, float]:
        """V regression on lambda-returns and the clipped-ratio policy update (ppo actor)."""
        m, pc = self.model, self.cfg.policy
        est = self.value_estimates(seg)
        T, N = seg.reward.shape
        beta = self.beta
        adv = est["adv"] + beta * est["bonus"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        flat = lambda x: x.reshape(T * N, *x.shape[2:])  # noqa: E731
        task = seg.task.unsqueeze(0).expand(T, -1).reshape(-1)
        obs, act, log_mu = flat(seg.obs), flat(seg.action), flat(seg.log_mu)
        adv_f, ret_f, z_f = flat(adv), flat(est["returns"]), flat(est["z"])
        mask = m.mask(task)
        with torch.no_grad():
            emb_all = m.embed(task)
            old_logp = m.pi.log_prob(m._cat(z_f, emb_all), act, mask)
        n = T * N
        mb = min(pc.minibatch_size, n)
        stats = {"pi/loss": 0.0, "pi/entropy": 0.0, "v/loss": 0.0, "pi/clip_frac": 0.0}
        updates, kl, epochs_done = 0, 0.0, 0
        for _ in range(pc.epochs):
            perm = torch.randperm(n, device=self.device)
            for start in range(0, n - mb + 1, mb):
                idx = perm[start : start + mb]
                emb = m.embed(task[idx])
                if self.cfg.model.world_model:
                    z = z_f[idx]  # the policy reads the world model's latent, frozen here
                else:
                    z = m.encode(obs[idx], emb)
                x = m._cat(
                    z, emb.detach() if emb is not None and self.cfg.model.world_model else emb
                )
                logp = m.pi.log_prob(x, act[idx], mask[idx])
                a_mb = adv_f[idx]
                if pc.trust_region:
                    log_ratio = (logp - log_mu[idx]).clamp(-pc.max_ratio_log, pc.max_ratio_log)
                    ratio = log_ratio.exp()
                    surr = torch.min(
                        ratio * a_mb, ratio.clamp(1 - pc.clip_eps, 1 + pc.clip_eps) * a_mb
                    )
                    pi_loss = -surr.mean()
                    stats["pi/clip_frac"] += float(
                        ((ratio - 1).abs() > pc.clip_eps).float().mean()
                    )
                else:
                    pi_loss = -(logp * a_mb).mean()
                out = m.pi(x, mask[idx], generator=self.generator)
                entropy = out.entropy.mean()
                v_logits = m.v(m._cat(z if not self.cfg.model.world_model else z.detach(), emb))
                v_loss = m.two_hot.cross_entropy(v_logits.float(), ret_f[idx]).mean()
                loss = pi_loss - pc.entropy_coef * entropy + self.cfg.optim.v_coef * v_loss
                if pc.mb_coef > 0 and self.cfg.model.world_model:
                    q = m.q_value(z, out.action, emb)
                    self.q_scale.update(q)
                    loss = loss - pc.mb_coef * q.mean() / self.q_scale()
                self.pi_optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(
                    [p for g in self.pi_optim.param_groups for p in g["params"]],
                    self.cfg.optim.grad_clip,
                )
                self.pi_optim.step()
                stats["pi/loss"] += pi_loss.item()
                stats["pi/entropy"] += entropy.item()
                stats["v/loss"] += v_loss.item()
                updates += 1
            epochs_done += 1
            with torch.no_grad():
                new_logp = (
                    m.pi.log_prob(m._cat(z_f, emb_all), act, mask)
                    if self.cfg.model.world_model
                    else m.pi.log_prob(m._cat(m.encode(obs, emb_all), emb_all), act, mask)
                )
                # KL(pi_old || pi_new) estimated on the segment's actions (k3 estimator).
                lr_ = (new_logp - old_logp).clamp(-20, 20)
                kl = float(((lr_.exp() - 1) - lr_).mean())
            if pc.trust_region and kl > pc.target_kl:
                break
        self._act_dirty = True
        for k in stats:
            stats[k] /= max(updates, 1)
        eps = est["epsilon"]
        stats.update(
            {
                "pi/kl": kl,
                "pi/epochs": float(epochs_done),
                "explore/beta": beta,
                "explore/epsilon_mean": float(eps.mean()),
                "explore/epsilon_max": float(eps.max()),
                "explore/bonus_mean": float(est["bonus"].mean()),
                "explore/bonus_std": float(est["bonus"].std()),
                "v/mean": float(est["v"].mean()),
                "q/mf_mean": float(est["q_mf"].mean()),
                "q/mb_mean": float(est["q_mb"].nanmean()) if self.cfg.model.world_model else 0.0,
            }
        )
        return stats
