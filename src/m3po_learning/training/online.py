"""Online multi-task training: collect, update world model and policy, evaluate, save, resume."""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import time
from pathlib import Path

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.buffer import ReplayBuffer
from m3po_learning.checkpoint import (
    CheckpointError,
    describe_write_error,
    load_agent,
    recover_interrupted_writes,
    resolve_checkpoint_dir,
)
from m3po_learning.config import Config
from m3po_learning.evaluation import EvaluationStopped, evaluate, normalised_scores
from m3po_learning.logger import MetricsLogger
from m3po_learning.ppo_actor import Segment
from m3po_learning.threads import ThreadGovernor
from m3po_learning.training.base import TrainerBase
from m3po_learning.types import pad_last

log = logging.getLogger(__name__)


class OnlineTrainer(TrainerBase):
    """Online multi-task training: wires env, agent, buffer and logger (it owns no model code).

    Collects with the planner or the policy (`agent.schedule`), updates the world model at
    `train.utd` updates per agent step after a seeding phase, evaluates and saves checkpoints
    into `out_dir`; `restore` resumes from the run's latest checkpoint and replay.
    """

    def __init__(
        self,
        cfg: Config,
        env,
        agent: M3POAgent,
        buffer: ReplayBuffer,
        logger: MetricsLogger,
        out_dir: str | Path,
        progress: bool = True,
    ):
        super().__init__(agent, buffer, out_dir, progress)
        self.cfg = cfg
        self.env = env
        self.logger = logger
        self.tasks = [s.task for s in env.specs]
        self.task_ids = [agent.task_index[t] for t in self.tasks]
        self.step = 0
        self.episodes = 0
        self._update_credit = 0.0
        self._next_eval = cfg.train.eval_every or math.inf
        self._next_ckpt = cfg.train.checkpoint_every or math.inf
        self.last_eval: dict[str, float] = {}
        self.last_success: dict[str, float] = {}  # success rates of the last evaluation
        self.rng = np.random.default_rng(cfg.train.seed)
        self._external: queue.Queue = queue.Queue()
        self.external_steps = 0  # transitions received through add_external_episode
        self._pretrained = False  # the burst of updates when seeding ends has run
        self.threads = None  # a ThreadGovernor (build_trainer sets one) re-checked per segment
        # callable(step, {task: mean}, {task: [episode returns]}) after each evaluation
        self.on_evaluate = None

    # -- schedule -------------------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        """Run to `train.steps` (or until stop_requested); returns the last evaluation.

        The run's logs are closed when training ends, normally or not, so every caller
        (CLI, benches, the learner node) leaves complete metrics.csv / eval.csv files.
        """
        try:
            return self._train()
        finally:
            self.logger.close()

    def seed_steps(self) -> int:
        """Random-action steps over all tasks before updates start.

        train.seed_steps, or for -1 TD-MPC2's max(1000, 5 episodes) per task.
        """
        n = self.cfg.train.seed_steps
        if n >= 0:
            return n
        return sum(max(1000, 5 * s.episode_length) for s in self.env.specs)

    def _train(self) -> dict[str, float]:
        cfg, env, agent = self.cfg.train, self.env, self.agent
        ppo = self.cfg.policy.actor == "ppo"
        N, T = len(self.tasks), cfg.segment_steps
        O, A = agent.obs_dim, agent.action_dim
        masks = agent.model.action_masks[torch.as_tensor(self.task_ids)].cpu().numpy()
        own_streams = np.arange(N)  # the in-process envs; external episodes use N..2N-1
        valid_dims = masks.sum(1)
        seed_steps = self.seed_steps()
        bar = self.progress_bar(cfg.steps, "train", initial=self.step)
        obs = self._pad(env.reset())
        ep_return = np.zeros(N)
        task_ids = np.asarray(self.task_ids)
        planning = agent.schedule.choose(task_ids)  # who acts in each env's current episode
        seg = {
            k: np.zeros((T, N, d), np.float32)
            for k, d in (("obs", O), ("next_obs", O), ("action", A))
        }
        seg.update(
            {k: np.zeros((T, N), np.float32) for k in ("reward", "terminated", "done", "log_mu")}
        )
        t_learn, steps_learn = None, 0  # throughput is measured once updates have started
        recent_returns: dict[str, float] = {}
        while self.step < cfg.steps and not self.stop_requested:
            for t in range(T):
                if self.step < seed_steps:
                    action = self.rng.uniform(-1, 1, (N, A)).astype(np.float32) * masks
                    log_mu = valid_dims * math.log(0.5)  # uniform density on [-1, 1]^A
                    acted_by_planner = np.zeros(N, bool)
                else:
                    if agent.schedule.per_step():
                        planning = agent.schedule.choose(task_ids)
                    out = agent.act(obs, self.task_ids, explore=True, use_planner=planning)
                    action, log_mu = out.action, out.log_mu
                    acted_by_planner = planning
                next_obs, reward, term, trunc, info = env.step(action[:, : env.action_dim])
                next_obs = self._pad(next_obs)
                done = term | trunc
                real_next = next_obs.copy()
                if done.any():
                    real_next[done] = self._pad(info["final_obs"])[done]
                self.buffer.add(obs, action, reward, real_next, term, done, log_mu, own_streams)
                if ppo:
                    for k, v in (
                        ("obs", obs),
                        ("next_obs", real_next),
                        ("action", action),
                        ("reward", reward),
                        ("terminated", term),
                        ("done", done),
                        ("log_mu", log_mu),
                    ):
                        seg[k][t] = v
                ep_return += reward
                for i in np.nonzero(done)[0]:
                    recent_returns[self.tasks[i]] = float(ep_return[i])
                    self.logger.log(self.step, {f"train_return/{self.tasks[i]}": ep_return[i]})
                    if self.step >= seed_steps:
                        agent.schedule.record(task_ids[i], acted_by_planner[i], ep_return[i])
                    ep_return[i] = 0.0
                    agent.reset_warm_start(int(i))
                    self.episodes += 1
                if done.any():
                    new = agent.schedule.choose(task_ids[done])
                    planning = planning.copy()
                    planning[done] = new
                obs = next_obs
                self.step += N
                if bar is not None:
                    bar.update(N)
                if self.step >= seed_steps:
                    if not self._pretrained:
                        self._pretrain(seed_steps)
                    self._update(N)
                agent.progress = min(1.0, self.step / cfg.steps)
                if self.step >= cfg.steps or self.stop_requested:
                    T = t + 1
                    break
            self._drain_external()
            metrics = (
                agent.update_policy(Segment.from_arrays(seg, T, self.task_ids, agent.device))
                if ppo
                else {}
            )
            metrics.update(self.pop_update_metrics())
            metrics.update(agent.schedule.stats())
            if self.threads is not None:
                metrics["perf/torch_threads"] = float(self.threads.check())
            if t_learn is None and self.step >= seed_steps:
                t_learn, steps_learn = time.time(), self.step
            elif t_learn is not None:
                rate = (self.step - steps_learn) / max(time.time() - t_learn, 1e-6)
                metrics["perf/agent_steps_per_s"] = rate
            self.logger.log(self.step, metrics)
            if bar is not None and recent_returns:
                bar.set_postfix(
                    ret=f"{np.mean(list(recent_returns.values())):.1f}",
                    beta=f"{agent.beta:.2f}",
                    plan=f"{planning.mean():.2f}",
                )
            if self.step >= self._next_eval and self.step < cfg.steps:
                self._evaluate()
                self._next_eval += cfg.eval_every
            if self.step >= self._next_ckpt and self.step < cfg.steps:
                self.save()
                self._next_ckpt += cfg.checkpoint_every
        if bar is not None:
            bar.close()
        if cfg.final_eval and not self.stop_requested:  # a stop is answered in seconds
            self._evaluate()
        self.save()
        return self.last_eval

    def _pretrain(self, seed_steps: int) -> None:
        """TD-MPC2's burst when seeding ends: as many updates as seed steps (x utd)."""
        self._pretrained = True
        n = self.cfg.train.pretrain_updates
        n = int(round(seed_steps * self.cfg.train.utd)) if n < 0 else n
        if n == 0 or len(self.buffer) == 0:
            return
        log.info("pretraining: %d updates on %d seed transitions", n, len(self.buffer))
        bar = self.progress_bar(n, "pretrain", unit="update", leave=False)
        for _ in range(n):
            if self.stop_requested:
                break
            self.update_once(self.cfg.optim.batch_size)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()

    def add_external_episode(self, task: str, obs, action, reward, terminated) -> None:
        """Queue an episode from outside the trainer (any thread).

        obs (T+1, O_task), action (T, A_task), reward (T,), terminated (T,). It joins replay
        between segments, so it never races the sampler; shapes are checked here, at the
        caller.
        """
        if task not in self.agent.task_index:
            raise KeyError(f"external episode for unknown task {task!r}; tasks: {self.tasks}")
        spec = self.agent.specs[self.agent.task_index[task]]
        obs, action = np.asarray(obs, np.float32), np.asarray(action, np.float32)
        T = len(action)
        if obs.shape != (T + 1, spec.obs_dim) or action.shape != (T, spec.action_dim):
            raise ValueError(
                f"external episode for {task}: obs {obs.shape} / action {action.shape}, "
                f"expected ({T + 1}, {spec.obs_dim}) / ({T}, {spec.action_dim})"
            )
        if not (np.isfinite(obs).all() and np.isfinite(action).all()):
            raise ValueError(f"external episode for {task} contains NaN/Inf")
        self._external.put(
            (task, obs, action, np.asarray(reward, np.float32), np.asarray(terminated, np.float32))
        )

    def _drain_external(self) -> None:
        n_tasks = len(self.tasks)
        while True:
            try:
                task, obs, action, reward, term = self._external.get_nowait()
            except queue.Empty:
                return
            stream = n_tasks + self.tasks.index(task)
            self.buffer.add_episode(
                stream,
                pad_last(obs, self.agent.obs_dim),
                pad_last(action, self.agent.action_dim),
                reward,
                term,
            )
            self.external_steps += len(action)
            self.logger.log(self.step, {"external/steps": self.external_steps})

    def _update(self, n_new: int) -> None:
        self._update_credit += self.cfg.train.utd * n_new
        while self._update_credit >= 1.0:
            self.update_once(self.cfg.optim.batch_size)
            self._update_credit -= 1.0

    def _pad(self, obs: np.ndarray) -> np.ndarray:
        return pad_last(obs, self.agent.obs_dim)

    def _evaluate(self) -> None:
        cfg = self.cfg.train
        per_episode: dict[str, list[float]] = {}
        success: dict[str, float] = {}
        try:
            self.last_eval = evaluate(
                self.agent,
                self.tasks,
                episodes=cfg.eval_episodes,
                seed=cfg.seed + 10_000,
                use_planner=self.cfg.model.world_model,
                progress=self.progress,
                should_stop=lambda: self.stop_requested,
                per_episode=per_episode,
                success=success,
            )
        except EvaluationStopped as exc:
            log.info("%s: stop requested", exc)
            self.agent.reset_warm_start()
            return
        self.logger.log_eval(self.step, self.last_eval, cfg.eval_episodes)
        self.last_success = success
        scores = normalised_scores(self.last_eval, success)
        extra = {f"eval_success/{t}": v for t, v in success.items()}
        if scores:
            extra["eval/normalised_score"] = sum(scores.values()) / len(scores)
        if extra:
            self.logger.log(self.step, extra)
        self.agent.reset_warm_start()
        if self.on_evaluate is not None:
            self.on_evaluate(self.step, self.last_eval, per_episode)
        table = ", ".join(f"{k}={v:.1f}" for k, v in self.last_eval.items())
        log.info("eval at step %d: %s", self.step, table)

    # -- persistence ----------------------------------------------------------------------------
    def save(self) -> Path:
        """Save replay, then the agent as checkpoints/step_<step> (`latest`); keep three."""
        state = {
            "step": self.step,
            "episodes": self.episodes,
            "update_credit": self._update_credit,
            "next_eval": None if math.isinf(self._next_eval) else self._next_eval,
            "next_ckpt": None if math.isinf(self._next_ckpt) else self._next_ckpt,
            "last_eval": self.last_eval,
        }
        # Replay first: a crash before `latest` moves leaves the older checkpoint current.
        self._save_replay()
        return self.save_to_run_dir(self.step, state, prefix="step", keep=3)

    def _save_replay(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        recover_interrupted_writes(self.out_dir)  # a killed run's temporary replay file
        tmp = self.out_dir / f".replay.tmp-{os.getpid()}.npz"
        try:
            np.savez(tmp, **self.buffer.state_dict())
            os.replace(tmp, self.out_dir / "replay.npz")
        except OSError as exc:  # disk full, quota, read-only: say so, keep what is saved
            tmp.unlink(missing_ok=True)
            raise CheckpointError(
                f"cannot write replay {self.out_dir / 'replay.npz'}: "
                f"{describe_write_error(exc)} (the replay and checkpoints saved before it are "
                "as they were)"
            ) from exc

    def restore(self) -> bool:
        """Resume from out_dir/checkpoints/latest; returns False when there is none."""
        try:
            path = resolve_checkpoint_dir(self.ckpt_dir)
        except (CheckpointError, OSError):  # no checkpoint yet: the normal fresh start
            return False
        loaded = load_agent(path, device=str(self.agent.device), load_optimizer=True)
        if loaded.tasks != self.agent.tasks:
            raise RuntimeError(
                f"cannot resume {path}: it was trained on {loaded.tasks}, not {self.agent.tasks}"
            )
        self.agent.model.load_state_dict(loaded.model.state_dict())
        self.agent.load_optimizer_state(loaded.optimizer_state())
        self.agent.mark_weights_changed()
        st = loaded.checkpoint_meta["trainer_state"]
        self.step = int(st["step"])
        self.episodes = int(st.get("episodes", 0))
        self._update_credit = float(st.get("update_credit", 0.0))
        self._next_eval = st["next_eval"] if st.get("next_eval") is not None else math.inf
        self._next_ckpt = st["next_ckpt"] if st.get("next_ckpt") is not None else math.inf
        self.last_eval = st.get("last_eval", {})
        self._pretrained = self.step >= self.seed_steps()
        self.agent.progress = min(1.0, self.step / self.cfg.train.steps)
        replay = self.out_dir / "replay.npz"
        if replay.is_file():
            with np.load(replay) as z:
                self.buffer.load_state_dict(dict(z))
        log.info("resumed from %s at step %d", path, self.step)
        return True


def build_trainer(
    cfg: Config, out_dir: str | Path | None = None, progress: bool = True, resume: bool = False
) -> OnlineTrainer:
    """Make env, agent, buffer and logger from a config, as `m3po train` does.

    Args:
        cfg: the run's config; its `train.tasks` and `train.robots` name the tasks.
        out_dir: the run directory (default `train.out_dir`).
        progress: show progress bars.
        resume: continue from `out_dir`/checkpoints/latest (and replay) when there is one.
    """
    from m3po_learning.envs import VectorEnv
    from m3po_learning.envs.registry import resolve_tasks

    threads = ThreadGovernor(cfg.train.num_threads)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    out = Path(out_dir or cfg.train.out_dir)
    tasks = resolve_tasks(cfg.train.tasks, robots=cfg.train.robots)
    from m3po_learning.envelope import Envelope

    env = VectorEnv(
        tasks,
        seed=cfg.train.seed,
        randomize=cfg.train.randomize,
        envelope=None if cfg.train.envelope else Envelope.none(),
    )
    agent = M3POAgent(cfg, env.specs, device=cfg.train.device)
    # Streams 0..N-1 hold the in-process envs; N..2N-1 hold episodes that arrive from outside
    # (sim nodes, robots) for the same tasks, so the two never share an episode id.
    buffer = ReplayBuffer(
        2 * len(tasks),
        list(range(len(tasks))) * 2,
        agent.obs_dim,
        agent.action_dim,
        cfg.train.buffer_size,
        cfg.planner.horizon,
        seed=cfg.train.seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    resuming = resume and (out / "checkpoints" / "latest").is_file()
    logger = MetricsLogger(out, tensorboard=cfg.train.tensorboard, append=resuming)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    trainer = OnlineTrainer(cfg, env, agent, buffer, logger, out, progress=progress)
    trainer.threads = threads
    if resuming:
        trainer.restore()
    return trainer
