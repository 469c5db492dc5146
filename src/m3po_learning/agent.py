"""The M3PO agent: acting (planner or policy) and the three updates of ALGORITHM.md."""

from __future__ import annotations

import copy
import logging
import time
from typing import NamedTuple

import numpy as np
import torch

from m3po_learning.config import Config
from m3po_learning.fused_model import FusedLatentModel
from m3po_learning.planner import MPPIPlanner, PlanResult
from m3po_learning.policy import clamped_gaussian_log_prob
from m3po_learning.types import Batch, EnvSpec
from m3po_learning.world_model import WorldModel

log = logging.getLogger(__name__)


class ActOutput(NamedTuple):
    action: np.ndarray  # (B, A) float32 in [-1, 1], zero in masked dims
    log_mu: np.ndarray  # (B,) log-probability of the action under the distribution that drew it
    planned: np.ndarray  # (B,) bool, True where the planner chose the action
    iterations: int  # planner iterations completed (0 when only the policy acted)
    plan_ms: float  # time spent planning


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} requested but CUDA is not available")
    return torch.device(name)


def _cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matmul units (Intel AMX-BF16 or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _rho_weights(h: int, rho: float, device) -> torch.Tensor:
    return rho ** torch.arange(h, device=device, dtype=torch.float32)


class M3POAgent:
    """One agent for many tasks. Train-time state lives here; networks live in WorldModel."""

    def __init__(self, cfg: Config, specs: list[EnvSpec], device: str | torch.device = "auto"):
        self.cfg = cfg
        self.specs = list(specs)
        self.tasks = [s.task for s in specs]
        self.task_index = {t: i for i, t in enumerate(self.tasks)}
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = WorldModel(cfg.model, self.specs).to(self.device)
        self.obs_dim, self.action_dim = self.model.obs_dim, self.model.action_dim
        self.planner = MPPIPlanner(cfg.planner, self.action_dim, self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.train.seed)
        self.np_rng = np.random.default_rng(cfg.train.seed)  # planner-or-policy draws
        self.act_dtype = self._pick_act_dtype(cfg.planner.dtype)
        # bf16 autocast in updates only where bf16 matmuls are native (fp32 master weights).
        self.amp_bf16 = cfg.optim.amp_bf16 and self._pick_act_dtype("auto") == torch.bfloat16
        self._act_model: WorldModel | None = None
        self._fused: FusedLatentModel | None = None
        self._act_dirty = True
        self._prev_mean: dict[int, torch.Tensor] = {}  # warm starts, keyed by env slot
        self.progress = 0.0  # fraction of training done, drives annealing
        self.q_scale = 1.0  # running scale S of Q for the optional model-based policy term
        self._build_optimizers()

    # -- set-up ---------------------------------------------------------------------------------
    def _pick_act_dtype(self, name: str) -> torch.dtype:
        if name == "float32":
            return torch.float32
        if name == "bfloat16":
            return torch.bfloat16
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if _cpu_has_bf16() else torch.float32

    def _build_optimizers(self) -> None:
        m, o = self.model, self.cfg.optim
        enc = [p for n, p in m.world_model_parameters() if n.startswith("encoder.")]
        rest = [p for n, p in m.world_model_parameters() if not n.startswith("encoder.")]
        self.wm_optim = torch.optim.Adam(
            [{"params": enc, "lr": o.lr * o.enc_lr_scale}, {"params": rest, "lr": o.lr}],
            lr=o.lr,
            foreach=True,
        )
        mf_params = list(m.pi.parameters()) + list(m.v.parameters())
        if not self.cfg.model.world_model:
            # Model-free baseline: the encoder and task embedding learn from the actor-critic loss.
            mf_params += list(m.encoder.parameters())
            if m.task_emb is not None:
                mf_params += list(m.task_emb.parameters())
        self.pi_optim = torch.optim.Adam(mf_params, lr=self.cfg.policy.lr, foreach=True)

    @property
    def beta(self) -> float:
        e = self.cfg.explore
        return e.beta0 * max(0.0, 1.0 - self.progress / e.anneal_frac)

    @property
    def planner_share(self) -> float:
        e = self.cfg.explore
        if not self.cfg.model.world_model:
            return 0.0
        frac = min(1.0, self.progress / e.alpha_anneal_frac)
        return 1.0 - (1.0 - e.alpha_min) * frac

    def act_model(self) -> WorldModel:
        """Inference copy of the model in the acting precision, refreshed after updates."""
        self._refresh_inference()
        return self.model if self._act_model is None else self._act_model

    def planning_model(self) -> FusedLatentModel:
        """The fused, planning-only view of the acting model."""
        self._refresh_inference()
        return self._fused

    def _refresh_inference(self) -> None:
        if not self._act_dirty and self._fused is not None:
            return
        if self.act_dtype != torch.float32:
            if self._act_model is None:
                self._act_model = copy.deepcopy(self.model).to(self.act_dtype).eval()
                self._act_model.requires_grad_(False)
            else:
                with torch.no_grad():
                    for dst, src in zip(
                        self._act_model.parameters(), self.model.parameters(), strict=True
                    ):
                        dst.copy_(src)
        if self._fused is None:
            self._fused = FusedLatentModel(self.model, self.act_dtype)
        else:
            self._fused.refresh()
        self._act_dirty = False

    def reset_warm_start(self, slot: int | None = None) -> None:
        if slot is None:
            self._prev_mean.clear()
        else:
            self._prev_mean.pop(slot, None)

    # -- acting ---------------------------------------------------------------------------------
    def task_ids(self, tasks) -> torch.Tensor:
        ids = []
        for t in tasks:
            if isinstance(t, str):
                if t not in self.task_index:
                    raise KeyError(f"unknown task {t!r}; this agent knows {self.tasks}")
                ids.append(self.task_index[t])
            else:
                ids.append(int(t))
        return torch.as_tensor(ids, device=self.device, dtype=torch.long)

    def pad_obs(self, obs: np.ndarray, task: str | int) -> np.ndarray:
        """Zero-pad one task's observation (obs_dim,) to the padded size, checking its shape."""
        spec = self.specs[task if isinstance(task, int) else self.task_index[task]]
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (spec.obs_dim,):
            raise ValueError(
                f"observation for task {spec.task!r} has shape {obs.shape}, "
                f"expected ({spec.obs_dim},)"
            )
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"observation for task {spec.task!r} contains NaN/Inf: {obs}")
        out = np.zeros(self.obs_dim, dtype=np.float32)
        out[: spec.obs_dim] = obs
        return out

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        tasks,
        explore: bool = True,
        use_planner: bool | np.ndarray | None = None,
        budget_ms: float | None = None,
        slots: list[int] | None = None,
    ) -> ActOutput:
        """obs: (B, O) padded; tasks: B names or indices.

        use_planner None: each env plans with probability `planner_share` (training); a bool
        forces it for all. Warm starts are kept per slot (default: row index).
        """
        t_start = time.perf_counter()
        obs_t = torch.as_tensor(np.asarray(obs, np.float32), device=self.device)
        if obs_t.dim() != 2 or obs_t.shape[1] != self.obs_dim:
            raise ValueError(
                f"act(): obs shape {tuple(obs_t.shape)}, expected (B, {self.obs_dim})"
            )
        B = obs_t.shape[0]
        task = self.task_ids(tasks)
        if task.shape[0] != B:
            raise ValueError(f"act(): {B} observations but {task.shape[0]} tasks")
        slots = list(range(B)) if slots is None else slots
        if use_planner is None:
            share = self.planner_share
            plan_mask = self.np_rng.random(B) < share if share > 0 else np.zeros(B, bool)
        elif isinstance(use_planner, bool | np.bool_):
            plan_mask = np.full(B, bool(use_planner) and self.cfg.model.world_model)
        else:
            plan_mask = np.asarray(use_planner, bool) & self.cfg.model.world_model
        m = self.act_model()
        dt = next(m.parameters()).dtype
        emb = m.embed(task)
        mask = m.mask(task)
        z = m.encode(obs_t.to(dt), emb)
        pi_out = m.policy(z, emb, mask.to(dt), deterministic=not explore, generator=self.generator)
        action = pi_out.action.float()
        if explore and dt != torch.float32:
            # The trust-region ratio needs log mu in full precision.
            x = self.model._cat(z.float(), self.model.embed(task))
            log_mu = self.model.pi.log_prob(x, action, mask)
        else:
            log_mu = pi_out.log_prob.float()
        iterations, plan_ms = 0, 0.0
        if plan_mask.any():
            idx = torch.as_tensor(np.nonzero(plan_mask)[0], device=self.device)
            prev = [self._prev_mean.get(slots[i]) for i in idx.tolist()]
            prev_mean = None
            if all(p is not None for p in prev):
                prev_mean = torch.stack(prev)
            res: PlanResult = self.planner.plan(
                self.planning_model(),
                z[idx],
                None if emb is None else emb[idx],
                mask[idx],
                m.discounts[task[idx]],
                prev_mean=prev_mean,
                explore=explore,
                budget_ms=budget_ms,
                generator=self.generator,
                t_start=t_start,
            )
            iterations, plan_ms = res.iterations, res.elapsed_ms
            if res.iterations > 0:
                a = res.action.float()
                action[idx] = a
                log_mu[idx] = (
                    clamped_gaussian_log_prob(
                        a, res.mean[:, 0].float(), res.std[:, 0].float(), mask[idx]
                    )
                    if explore
                    else log_mu[idx]
                )
                for j, i in enumerate(idx.tolist()):
                    self._prev_mean[slots[i]] = res.mean[j]
            else:
                plan_mask = np.zeros(B, bool)
        return ActOutput(
            action.cpu().numpy(), log_mu.float().cpu().numpy(), plan_mask, iterations, plan_ms
        )

    # -- world model + Q ensemble ---------------------------------------------------------------
    def world_model_losses(self, batch: Batch, generator=None) -> dict[str, torch.Tensor]:
        """Consistency, reward and Q losses of ALGORITHM.md on a batch (H, B), and their
        weighted `total`; differentiable. `generator` seeds the policy / target-head draws."""
        m, o = self.model, self.cfg.optim
        H, B = batch.action.shape[:2]
        emb = m.embed(batch.task)
        embH = None if emb is None else emb.unsqueeze(0).expand(H, -1, -1)
        flat = lambda x: None if x is None else x.reshape(H * B, -1)  # noqa: E731
        with torch.no_grad():
            next_z = m.encode(batch.obs[1:], embH)  # (H, B, L) targets
            mask = m.mask(batch.task).unsqueeze(0).expand(H, -1, -1)
            pi_next = m.policy(flat(next_z), flat(embH), flat(mask), generator=generator).action
            q_next = m.q_min_target(flat(next_z), pi_next, flat(embH), generator).view(H, B)
            gamma = m.discounts[batch.task].unsqueeze(0)
            td = batch.reward + gamma * (1.0 - batch.terminated) * q_next.float()
        z = m.encode(batch.obs[0], emb)
        zs = [z]
        for t in range(H):
            z = m.next(z, batch.action[t], emb)
            zs.append(z)
        zs_t = torch.stack(zs[1:])  # (H, B, L) predicted next latents
        w = _rho_weights(H, o.rho, self.device)
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
        }

    def update_world_model(self, batch: Batch) -> dict[str, float]:
        """One gradient step of the consistency / reward / Q losses on a replay batch."""
        if not self.cfg.model.world_model:
            return {}
        m, o = self.model, self.cfg.optim
        m.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp_bf16):
            losses = self.world_model_losses(batch)
        self.wm_optim.zero_grad(set_to_none=True)
        losses["total"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for _, p in m.world_model_parameters()], o.grad_clip
        )
        self.wm_optim.step()
        m.soft_update_target(o.tau)
        m.eval()
        self._act_dirty = True
        out = {f"wm/{k}": v.item() for k, v in losses.items()}
        out["wm/grad_norm"] = grad_norm.item()
        return out

    # -- model-free critic, bonus, trust-region policy ------------------------------------------
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
            q_mb = self._q_model_based(z, seg.action, embT, seg.task, gamma)
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

    def _q_model_based(self, z, action, embT, task, gamma) -> torch.Tensor:
        """Q_MB = R(z,a) + gamma V(d(z,a)); (D) k-step: go on under pi, Q-ensemble at the end."""
        m = self.model
        k = self.cfg.explore.qmb_rollout
        q = m.two_hot.decode(m.reward_logits(z, action, embT).float())
        zn = m.next(z, action, embT)
        if k == 1:
            return q + gamma * m.v_value(zn, embT).float()
        mask = m.mask(task).unsqueeze(0).expand(z.shape[0], -1, -1)
        disc = gamma.clone()
        for _ in range(k - 1):
            a = m.policy(zn, embT, mask).action
            q = q + disc * m.two_hot.decode(m.reward_logits(zn, a, embT).float())
            zn = m.next(zn, a, embT)
            disc = disc * gamma
        a = m.policy(zn, embT, mask).action
        return q + disc * m.q_value(zn, a, embT).float()

    def update_policy(self, seg: Segment) -> dict[str, float]:
        """V regression on lambda-returns and the clipped trust-region policy update."""
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
                    self.q_scale = 0.99 * self.q_scale + 0.01 * float(q.detach().abs().mean())
                    loss = loss - pc.mb_coef * q.mean() / max(self.q_scale, 1e-3)
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
                "explore/alpha": self.planner_share,
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

    # -- state for checkpoints ------------------------------------------------------------------
    def optimizer_state(self) -> dict:
        return {"wm": self.wm_optim.state_dict(), "pi": self.pi_optim.state_dict()}

    def load_optimizer_state(self, state: dict) -> None:
        self.wm_optim.load_state_dict(state["wm"])
        self.pi_optim.load_state_dict(state["pi"])

    def mark_weights_changed(self) -> None:
        self._act_dirty = True
