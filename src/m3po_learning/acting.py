"""Acting: planner or policy per environment, per-env warm starts, and who acts in training."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np
import torch

from m3po_learning.config import ExplorationConfig
from m3po_learning.planner import PlanResult
from m3po_learning.policy import clamped_gaussian_log_prob


class ActOutput(NamedTuple):
    """What `act` returns for a batch of B observations."""

    action: np.ndarray  # (B, A) float32 in [-1, 1], zero in masked dims
    log_mu: np.ndarray  # (B,) log-probability of the action under the distribution that drew it
    planned: np.ndarray  # (B,) bool, True where the planner chose the action
    iterations: int  # planner iterations completed (0 when only the policy acted)
    plan_ms: float  # time spent planning


class PlannerSchedule:
    """Who acts in a training episode: the planner, unless the policy has caught up.

    Mode "gap" (default) measures it: per task, the returns of the last `gap_window`
    planner-acted and policy-acted episodes. The planner acts while the policy's mean return
    is more than `gap_tolerance * |planner mean|` below the planner's; once it is not, the
    policy acts. Either way a `probe_frac` share of episodes goes to the other actor, so both
    numbers stay measured. "anneal" draws the planner per step with a share that falls
    linearly to alpha_min (the first version's schedule); "always" / "never" are fixed.
    """

    def __init__(self, cfg: ExplorationConfig, num_tasks: int, world_model: bool, seed: int):
        self.cfg = cfg
        self.enabled = world_model and cfg.planner != "never"
        self.rng = np.random.default_rng(seed + 7)
        w = cfg.gap_window
        self.returns = {
            True: [deque(maxlen=w) for _ in range(num_tasks)],
            False: [deque(maxlen=w) for _ in range(num_tasks)],
        }
        self.progress = 0.0

    def share(self) -> float:
        """The anneal mode's planner probability at the current progress."""
        c = self.cfg
        frac = min(1.0, self.progress / c.alpha_anneal_frac)
        return 1.0 - (1.0 - c.alpha_min) * frac

    def policy_caught_up(self, task: int) -> bool:
        """True when the policy's mean return on `task` is within tolerance of the planner's.

        False until the policy has at least min(3, gap_window) episodes and the planner one.
        """
        plan, pol = self.returns[True][task], self.returns[False][task]
        if len(pol) < min(3, self.cfg.gap_window) or not plan:
            return False
        g_plan, g_pol = float(np.mean(plan)), float(np.mean(pol))
        return g_pol >= g_plan - self.cfg.gap_tolerance * max(abs(g_plan), 1.0)

    def choose(self, tasks: np.ndarray) -> np.ndarray:
        """Planner (True) or policy for a new episode of each of `tasks` (task indices)."""
        tasks = np.asarray(tasks, np.int64)
        if not self.enabled:
            return np.zeros(len(tasks), bool)
        mode = self.cfg.planner
        if mode == "always":
            return np.ones(len(tasks), bool)
        if mode == "anneal":
            return self.rng.random(len(tasks)) < self.share()
        favour_planner = np.array([not self.policy_caught_up(int(t)) for t in tasks])
        probe = self.rng.random(len(tasks)) < self.cfg.probe_frac
        return favour_planner ^ probe

    def per_step(self) -> bool:
        """True when the choice is redrawn every step (anneal), not once per episode."""
        return self.enabled and self.cfg.planner == "anneal"

    def record(self, task: int, planned: bool, episode_return: float) -> None:
        """Add a finished episode's return to the planner's or the policy's window for `task`."""
        self.returns[bool(planned)][task].append(float(episode_return))

    def stats(self) -> dict[str, float]:
        """Mean measured returns over all tasks with data, for the logs."""
        out = {}
        for planned, name in ((True, "planner"), (False, "policy")):
            means = [np.mean(d) for d in self.returns[planned] if d]
            if means:
                out[f"explore/{name}_return"] = float(np.mean(means))
        n = len(self.returns[True])
        out["explore/policy_caught_up"] = float(
            np.mean([self.policy_caught_up(t) for t in range(n)])
        )
        return out


class ActingMixin:
    """`M3POAgent.act` and the per-env warm starts (see agent.py for the state it uses)."""

    def reset_warm_start(self, slot: int | None = None) -> None:
        """Forget the stored plan of `slot`, or of every slot when None (e.g. on env reset)."""
        if slot is None:
            self._prev_mean.clear()
        else:
            self._prev_mean.pop(slot, None)

    def task_ids(self, tasks) -> torch.Tensor:
        """Task names or indices -> (B,) long tensor of indices on the agent's device.

        Raises:
            KeyError: a name this agent was not built with.
        """
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

    def _warm_start(self, slots: list[int], rows: list[int]) -> torch.Tensor | None:
        """(n, H, A) stored plans of the planning rows; zeros where a slot has none."""
        stored = [self._prev_mean.get(slots[i]) for i in rows]
        if all(p is None for p in stored):
            return None
        H, A = self.cfg.planner.horizon, self.action_dim
        ref = next(p for p in stored if p is not None)
        out = torch.zeros(len(rows), H, A, device=self.device, dtype=ref.dtype)
        for j, p in enumerate(stored):
            if p is not None:
                out[j] = p
        return out

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray,
        tasks,
        explore: bool = True,
        use_planner: bool | np.ndarray | None = None,
        deadline: float | None = None,
        slots: list[int] | None = None,
    ) -> ActOutput:
        """obs: (B, O) padded; tasks: B names or indices.

        use_planner: a bool for all rows or a (B,) mask; None plans wherever the agent has a
        world model. Warm starts are kept per slot (default: the row index); a slot whose row
        the policy acted loses its stored plan, so the next plan starts from zeros.
        deadline: `time.perf_counter()` time by which planning must stop (None: unbounded);
        the planner then returns its best plan so far, or the policy's action.
        """
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
        wm_on = self.cfg.model.world_model
        if use_planner is None:
            plan_mask = np.full(B, wm_on)
        elif isinstance(use_planner, bool | np.bool_):
            plan_mask = np.full(B, bool(use_planner) and wm_on)
        else:
            plan_mask = np.asarray(use_planner, bool) & wm_on
            if plan_mask.shape != (B,):
                raise ValueError(f"act(): use_planner mask {plan_mask.shape}, expected ({B},)")
        m = self.act_model()
        dt = next(m.parameters()).dtype
        emb = m.embed(task)
        mask = m.mask(task)
        z = m.encode(obs_t.to(dt), emb)
        pi_out = m.policy(z, emb, mask.to(dt), deterministic=not explore, generator=self.generator)
        action = pi_out.action.float()
        if explore and dt != torch.float32:
            # The ppo actor's ratio needs log mu in full precision.
            x = self.model._cat(z.float(), self.model.embed(task))
            log_mu = self.model.pi.log_prob(x, action, mask)
        else:
            log_mu = pi_out.log_prob.float()
        iterations, plan_ms = 0, 0.0
        if plan_mask.any():
            rows = np.nonzero(plan_mask)[0].tolist()
            idx = torch.as_tensor(rows, device=self.device)
            res: PlanResult = self.planner.plan(
                self.planning_model(),
                z[idx],
                None if emb is None else emb[idx],
                mask[idx],
                m.discounts[task[idx]],
                prev_mean=self._warm_start(slots, rows),
                explore=explore,
                deadline=deadline,
                generator=self.generator,
            )
            iterations, plan_ms = res.iterations, res.elapsed_ms
            if res.iterations > 0:
                a = res.action.float()
                action[idx] = a
                if explore:
                    log_mu[idx] = clamped_gaussian_log_prob(
                        a, res.center.float(), res.std[:, 0].float(), mask[idx]
                    )
                for j, i in enumerate(rows):
                    self._prev_mean[slots[i]] = res.mean[j]
            else:
                plan_mask = np.zeros(B, bool)
        for i in np.nonzero(~plan_mask)[0]:
            self._prev_mean.pop(slots[i], None)  # the policy acted: that plan is stale now
        return ActOutput(
            action.cpu().numpy(), log_mu.float().cpu().numpy(), plan_mask, iterations, plan_ms
        )
