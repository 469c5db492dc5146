"""Offline fine-tuning from rosbags: world model, critics and trust-region policy on bag data.

`finetune_from_bags` is the library entry point (the CLI and the learner node call it);
`finetune_checkpoint` adds loading and atomic saving around it. `OfflineTrainer` is the
sibling of `OnlineTrainer` over `TrainerBase`; the schedule is the config's `finetune`
section. The held-out split is `training.holdout`, new tasks `training.task_growth`.

Choices (documented in docs/rosbag.md):
- Held-out data: every k-th block of 25 transitions of every episode (k = 1/holdout_frac),
  never trained on; the reported world-model loss is computed on every length-H window of
  it, before and after.
- The policy: with the default trust-region actor, every step also moves the policy toward
  higher Q on the bag's latents, each step inside its KL bound (TD-MPC2's offline recipe
  plus the trust region). With policy.actor=ppo: bag actions carry no log mu, so log mu is
  the log-probability of the recorded action under the checkpoint's policy when the data is
  loaded, and the clipped ratio pi_new / pi_checkpoint keeps the updated policy within the
  trust region of the policy it started from, on the states and actions the robot really saw.
- No exploration bonus offline (agent.progress = 1, so beta = 0): there is nothing to explore.
- A new task starts from the nearest existing task embedding, where nearest means the
  embedding under which the world model already fits the new task's bag data best (lowest
  consistency + reward loss on its training windows).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.buffer import ReplayBuffer
from m3po_learning.config import FinetuneConfig
from m3po_learning.datasets import AlignOptions, BagDataset, BagError, Episode, load_bag_dataset
from m3po_learning.overrides import apply_updates
from m3po_learning.ppo_actor import Segment
from m3po_learning.training.base import TrainerBase
from m3po_learning.training.holdout import split_holdout, windows_batch, world_model_loss
from m3po_learning.training.task_growth import add_task
from m3po_learning.types import pad_last

log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    """What a fine-tuning run did and how well the world model fits held-out bag data."""

    agent: M3POAgent  # the fine-tuned agent (a new object when a task was added)
    task: str
    nearest_task: str | None  # the task whose embedding a new task started from
    heldout_before: dict[str, float]  # world-model losses on held-out windows, before
    heldout_after: dict[str, float]  # the same, after
    train_transitions: int
    heldout_transitions: int
    steps: int
    policy_updates: int
    elapsed_s: float
    data_stats: dict = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready summary: counts, held-out losses, timing and the numeric data stats."""
        return {
            "task": self.task,
            "nearest_task": self.nearest_task,
            "heldout_before": self.heldout_before,
            "heldout_after": self.heldout_after,
            "train_transitions": self.train_transitions,
            "heldout_transitions": self.heldout_transitions,
            "steps": self.steps,
            "policy_updates": self.policy_updates,
            "elapsed_s": round(self.elapsed_s, 3),
            "steps_per_s": round(self.steps / max(self.elapsed_s, 1e-9), 2),
            "data": {k: v for k, v in self.data_stats.items() if isinstance(v, int | float)},
        }


@torch.no_grad()
def behaviour_log_prob(agent: M3POAgent, episode: Episode, task_id: int) -> np.ndarray:
    """Log pi_checkpoint(recorded action | recorded obs), (T,): the bag's stand-in for log mu."""
    m = agent.model
    dev = agent.device
    obs = torch.as_tensor(pad_last(episode.obs[:-1], agent.obs_dim), device=dev)
    act = torch.as_tensor(pad_last(episode.action, agent.action_dim), device=dev)
    task = torch.full((len(episode),), task_id, dtype=torch.long, device=dev)
    emb = m.embed(task)
    z = m.encode(obs, emb)
    return m.pi.log_prob(m._cat(z, emb), act, m.mask(task)).float().cpu().numpy()


def _policy_segment(
    agent: M3POAgent,
    episodes: Sequence[Episode],
    log_mu: Sequence[np.ndarray],
    task_id: int,
    T: int,
    N: int,
    rng: np.random.Generator,
) -> Segment | None:
    ok = [i for i, e in enumerate(episodes) if len(e) >= T]
    if not ok:
        return None
    O, A = agent.obs_dim, agent.action_dim
    cols = {k: [] for k in ("obs", "next_obs", "action", "reward", "terminated", "log_mu")}
    for _ in range(N):
        i = ok[int(rng.integers(len(ok)))]
        e = episodes[i]
        s = int(rng.integers(len(e) - T + 1))
        cols["obs"].append(pad_last(e.obs[s : s + T], O))
        cols["next_obs"].append(pad_last(e.obs[s + 1 : s + T + 1], O))
        cols["action"].append(pad_last(e.action[s : s + T], A))
        cols["reward"].append(e.reward[s : s + T])
        cols["terminated"].append(e.terminated[s : s + T])
        cols["log_mu"].append(log_mu[i][s : s + T])
    dev = agent.device
    t = lambda k: torch.as_tensor(np.stack(cols[k], 1), dtype=torch.float32, device=dev)  # noqa: E731
    term = t("terminated")
    return Segment(
        t("obs"),
        t("next_obs"),
        t("action"),
        t("reward"),
        term,
        term.clone(),
        t("log_mu"),
        torch.full((N,), task_id, dtype=torch.long, device=dev),
    )


class OfflineTrainer(TrainerBase):
    """Fine-tunes an agent on fixed episodes of one task (TD-MPC2's offline trainer).

    Every step updates world model, critics and (trust-region actor) the policy on a replay
    sample of the episodes; with policy.actor=ppo, every `policy_every` steps also runs the
    clipped-ratio update on windows of them, with the checkpoint policy's log-probabilities
    of the recorded actions as log mu.
    """

    def __init__(
        self,
        agent: M3POAgent,
        episodes: Sequence[Episode],
        task_id: int,
        config: FinetuneConfig,
        progress: bool = True,
    ):
        H = agent.cfg.planner.horizon
        n = sum(len(e) for e in episodes)
        buffer = ReplayBuffer(
            1, [task_id], agent.obs_dim, agent.action_dim, n + H + 1, H, seed=config.seed
        )
        super().__init__(agent, buffer, progress=progress)
        self.episodes = list(episodes)
        self.task_id = task_id
        self.config = config
        self.log_mu = [behaviour_log_prob(agent, e, task_id) for e in self.episodes]
        for e, lm in zip(self.episodes, self.log_mu, strict=True):
            buffer.add_episode(
                0,
                pad_last(e.obs, agent.obs_dim),
                pad_last(e.action, agent.action_dim),
                e.reward,
                e.terminated,
                lm,
            )
        self.policy_updates = 0
        self.last_metrics: dict[str, float] = {}

    def train(self, desc: str = "finetune") -> dict[str, float]:
        """Run `config.steps` steps; returns the metrics of the last updates."""
        agent, c = self.agent, self.config
        rng = np.random.default_rng(c.seed)
        old_progress = agent.progress
        agent.progress = 1.0  # offline: no exploration bonus (beta anneals to 0 at progress 1)
        batch_size = c.batch_size or agent.cfg.optim.batch_size
        T = min(c.policy_window_steps, max(len(e) for e in self.episodes))
        ppo = agent.cfg.policy.actor == "ppo"
        metrics = self.last_metrics
        bar = self.progress_bar(c.steps, desc)
        try:
            for step in range(1, c.steps + 1):
                if self.stop_requested:
                    break
                # world model, Q, V and (trust_region actor) the policy, on the bag's replay
                metrics.update(self.update_once(batch_size))
                if not ppo:
                    self.policy_updates += 1  # the trust-region actor stepped in agent.update
                if ppo and c.policy_every and step % c.policy_every == 0:
                    seg = _policy_segment(
                        agent, self.episodes, self.log_mu, self.task_id, T, c.policy_windows, rng
                    )
                    if seg is not None:
                        metrics.update(agent.update_policy(seg))
                        self.policy_updates += 1
                if bar is not None:
                    bar.update(1)
                    if step % 25 == 0:
                        bar.set_postfix(wm=f"{metrics.get('wm/total', math.nan):.3f}")
        finally:
            agent.progress = old_progress
            if bar is not None:
                bar.close()
        return metrics


def finetune_on_dataset(
    agent: M3POAgent,
    dataset: BagDataset,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune `agent` on an already-loaded BagDataset (see `finetune_from_bags`).

    `config` defaults to the agent's `cfg.finetune` section.
    """
    c = config or agent.cfg.finetune
    t_start = time.perf_counter()
    task = dataset.task
    H = agent.cfg.planner.horizon
    train, held = split_holdout(dataset.episodes, c.holdout_frac, H, c.holdout_block)
    train = [e for e in train if len(e) >= H]
    if not train:
        raise BagError(
            f"bags for {task!r} hold no episode of at least {H} transitions (the world-model "
            f"horizon); episode lengths: {[len(e) for e in dataset.episodes]}"
        )
    nearest = None
    if task not in agent.task_index:
        agent, nearest = add_task(agent, task, train, H)
    tid = agent.task_index[task]
    spec = agent.specs[tid]
    if spec.joint_names and dataset.episodes[0].action.shape[1] != spec.action_dim:
        raise BagError(
            f"bag actions have {dataset.episodes[0].action.shape[1]} joints, "
            f"the checkpoint's {task!r} drives {spec.action_dim}"
        )
    torch.manual_seed(c.seed)
    eval_batch = windows_batch(agent, held, tid, H, c.max_eval_windows)
    before = world_model_loss(agent, eval_batch) if eval_batch is not None else {}
    if eval_batch is None:
        log.warning(
            "no held-out windows (episodes too short for holdout_frac=%s); the "
            "world-model loss is not reported",
            c.holdout_frac,
        )
    trainer = OfflineTrainer(agent, train, tid, c, progress=progress)
    metrics = trainer.train(desc=f"finetune {task}")
    after = world_model_loss(agent, eval_batch) if eval_batch is not None else {}
    return FinetuneResult(
        agent=agent,
        task=task,
        nearest_task=nearest,
        heldout_before=before,
        heldout_after=after,
        train_transitions=sum(len(e) for e in train),
        heldout_transitions=sum(len(e) for e in held),
        steps=c.steps,
        policy_updates=trainer.policy_updates,
        elapsed_s=time.perf_counter() - t_start,
        data_stats=dict(dataset.stats),
        last_metrics=metrics,
    )


def finetune_from_bags(
    agent: M3POAgent,
    bag_paths: Sequence[str | Path],
    task: str,
    steps: int | None = None,
    config: FinetuneConfig | None = None,
    topic_map=None,
    align: AlignOptions | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Read `bag_paths` (bags or directories of bags) and fine-tune `agent` on `task` in place.

    The learner node calls this on the bags in a watched directory, then saves
    `result.agent` with `save_run_checkpoint`. A task the agent does not know is added first
    (see `add_task`), so `result.agent` may be a new object. `config` defaults to the agent's
    `cfg.finetune` section; `steps` overrides its step count.
    """
    c = config or agent.cfg.finetune
    if steps is not None:
        c = replace(c, steps=steps)
    spec_joints = None
    if task in agent.task_index:
        spec_joints = agent.specs[agent.task_index[task]].joint_names or None
    dataset = load_bag_dataset(
        bag_paths,
        task,
        topic_map=topic_map,
        options=align,
        joint_names=spec_joints,
        progress=progress,
        skip_bad=True,  # one bad bag in a folder does not cost the others (as the learner)
    )  # its warnings are logged as they happen, once each
    return finetune_on_dataset(agent, dataset, c, progress=progress)


def finetune_checkpoint(
    checkpoint: str | Path,
    bag_paths: Sequence[str | Path],
    task: str,
    out_dir: str | Path,
    config: FinetuneConfig | Mapping | None = None,
    overrides: Sequence[str] = (),
    topic_map=None,
    align: AlignOptions | None = None,
    device: str = "auto",
    progress: bool = True,
) -> tuple[FinetuneResult, Path]:
    """Load a checkpoint, fine-tune it from bags, save to `out_dir`/checkpoints (atomically).

    `out_dir` becomes a run directory (`checkpoints/<name>` plus `latest`), which every
    command and node that takes a checkpoint accepts. Existing checkpoints are kept.

    Args:
        checkpoint: checkpoint directory, or run directory (uses checkpoints/latest).
        bag_paths: bags (directories or .mcap/.db3 files) or directories of bags.
        task: the task the bags show; one the checkpoint lacks starts from the nearest task
            embedding.
        out_dir: run directory the fine-tuned checkpoint is written to.
        config: the schedule: a FinetuneConfig; or a mapping of `finetune` keys applied to
            the checkpoint's section (validated, errors name "finetune.<key>"); or None for
            the checkpoint's section (after `overrides`).
        overrides: runtime KEY=VALUE overrides of the checkpoint's config (`finetune.*` too).
        topic_map: a TopicMap, a YAML path or name, or None for config/topics/default.yaml.
        align: tick alignment and episode splitting (default AlignOptions()).
        device: "auto", "cpu" or "cuda[:N]" for the loaded agent.
        progress: show progress bars.

    Returns:
        The fine-tuning result and the path of the new checkpoint.
    """
    from m3po_learning.checkpoint import load_agent, save_run_checkpoint

    agent = load_agent(
        checkpoint, device=device, overrides=list(overrides) or None, load_optimizer=True
    )
    if isinstance(config, FinetuneConfig):
        c = config
    else:
        c = apply_updates(agent.cfg.finetune, dict(config or {}), "finetune")
    base_step = int(agent.checkpoint_meta.get("step", 0))
    source = str(agent.checkpoint_path)
    result = finetune_from_bags(
        agent, bag_paths, task, config=c, topic_map=topic_map, align=align, progress=progress
    )
    state = dict(agent.checkpoint_meta.get("trainer_state", {}) or {})
    state["finetune"] = {
        **result.summary(),
        "source_checkpoint": source,
        "bags": [str(p) for p in bag_paths],
        "config": asdict(c),
    }
    step = base_step + result.steps
    path = save_run_checkpoint(out_dir, result.agent, step, state, prefix="finetune", unique=True)
    return result, path
