"""Offline fine-tuning from rosbags: world model, critics and trust-region policy on bag data.

`finetune_from_bags` is the library entry point (the CLI and the learner node call it);
`finetune_checkpoint` adds loading and atomic saving around it.

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

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.buffer import ReplayBuffer
from m3po_learning.datasets import AlignOptions, BagDataset, BagError, Episode, load_bag_dataset
from m3po_learning.ppo_actor import Segment
from m3po_learning.types import Batch, pad_last

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    """Schedule of an offline fine-tuning run."""

    steps: int = 500  # world-model (and Q) gradient steps
    batch_size: int = 0  # sub-trajectories per step; 0 = the checkpoint's optim.batch_size
    policy_every: int = 25  # world-model steps between trust-region policy updates; 0 = never
    policy_windows: int = 16  # sub-trajectories (N) per policy segment
    policy_window_steps: int = 32  # steps (T) per policy sub-trajectory
    holdout_frac: float = 0.2  # fraction of each episode held out (in blocks) for evaluation
    holdout_block: int = 25  # transitions per held-out block
    max_eval_windows: int = 4096  # held-out windows evaluated (evenly spaced when more)
    seed: int = 0  # sampling seed

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"finetune steps={self.steps} must be >= 0")
        if not 0.0 <= self.holdout_frac < 1.0:
            raise ValueError(f"holdout_frac={self.holdout_frac} must be in [0, 1)")
        for name in (
            "batch_size",
            "policy_every",
            "policy_windows",
            "policy_window_steps",
            "max_eval_windows",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"finetune {name}={getattr(self, name)} must be >= 0")


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


# -- data -------------------------------------------------------------------------------------
def _piece(e: Episode, a: int, b: int) -> Episode:
    """Transitions a..b-1 of `e` (observations a..b)."""
    return Episode(
        e.obs[a : b + 1],
        e.action[a:b],
        e.reward[a:b],
        e.terminated[a:b],
        e.time_s[a : b + 1],
        e.bag,
    )


def split_holdout(
    episodes: Sequence[Episode], frac: float, min_len: int, block: int = 25
) -> tuple[list[Episode], list[Episode]]:
    """Hold out every k-th block of `block` transitions (k = 1/frac) of every episode.

    Blocked hold-out (as in blocked cross-validation of time series): held-out windows never
    overlap training windows, yet they cover the same episodes, goals and states as the
    training data, so the loss measures fit to *this* robot's data rather than extrapolation
    to the end of each episode. Pieces shorter than `min_len` are dropped from the hold-out
    and given to training.
    """
    if frac <= 0:
        return list(episodes), []
    every = max(2, int(round(1.0 / frac)))
    train, held = [], []
    for e in episodes:
        T = len(e)
        a = 0
        for j, s in enumerate(range(0, T, block)):
            b = min(s + block, T)
            if j % every == every // 2 and b - s >= min_len:
                if s > a:
                    train.append(_piece(e, a, s))
                held.append(_piece(e, s, b))
                a = b
        if T > a:
            train.append(_piece(e, a, T))
    return train, held


def windows_batch(
    agent: M3POAgent, episodes: Sequence[Episode], task_id: int, horizon: int, limit: int = 0
) -> Batch | None:
    """Every length-`horizon` window of `episodes` as one Batch (evenly thinned to `limit`)."""
    starts = [(i, s) for i, e in enumerate(episodes) for s in range(len(e) - horizon + 1)]
    if not starts:
        return None
    if limit and len(starts) > limit:
        pick = np.linspace(0, len(starts) - 1, limit).round().astype(int)
        starts = [starts[i] for i in pick]
    O, A = agent.obs_dim, agent.action_dim
    obs = np.stack([pad_last(episodes[i].obs[s : s + horizon + 1], O) for i, s in starts], 1)
    act = np.stack([pad_last(episodes[i].action[s : s + horizon], A) for i, s in starts], 1)
    rew = np.stack([episodes[i].reward[s : s + horizon] for i, s in starts], 1)
    term = np.stack([episodes[i].terminated[s : s + horizon] for i, s in starts], 1)
    dev = agent.device
    t = lambda x: torch.as_tensor(x, dtype=torch.float32, device=dev)  # noqa: E731
    B = len(starts)
    return Batch(
        t(obs),
        t(act),
        t(rew),
        t(term),
        torch.full((B,), task_id, dtype=torch.long, device=dev),
        t(np.zeros_like(rew)),
    )


@torch.no_grad()
def world_model_loss(
    agent: M3POAgent, batch: Batch, chunk: int = 1024, seed: int = 0
) -> dict[str, float]:
    """The world-model losses of `agent.update_world_model` on `batch`, without a step.

    Returns consistency, reward and Q (value) losses, their weighted sum `total`, and
    `fit` = consistency_coef * consistency + reward_coef * reward: how well the model
    predicts the data itself (the Q term chases a bootstrapped target and is reported apart).
    Deterministic: dropout off, the policy/target-head draws seeded.
    """
    m, o = agent.model, agent.cfg.optim
    was_training = m.training
    m.eval()
    sums = {"consistency": 0.0, "reward_loss": 0.0, "value_loss": 0.0}
    n_total = batch.action.shape[1]
    generator = torch.Generator(device=agent.device).manual_seed(seed)
    with torch.no_grad():
        for lo in range(0, n_total, chunk):
            sl = slice(lo, min(lo + chunk, n_total))
            part = Batch(
                batch.obs[:, sl],
                batch.action[:, sl],
                batch.reward[:, sl],
                batch.terminated[:, sl],
                batch.task[sl],
                batch.log_mu[:, sl],
            )
            losses = agent.world_model_losses(part, generator=generator)
            B = part.action.shape[1]
            for k in sums:
                sums[k] += float(losses[k]) * B
    if was_training:
        m.train()
    out = {k: v / n_total for k, v in sums.items()}
    out["fit"] = o.consistency_coef * out["consistency"] + o.reward_coef * out["reward_loss"]
    out["total"] = out["fit"] + o.value_coef * out["value_loss"]
    out["windows"] = float(n_total)
    return out


@torch.no_grad()
def behaviour_log_prob(agent: M3POAgent, episode: Episode, task_id: int) -> np.ndarray:
    """log pi_checkpoint(recorded action | recorded obs), (T,): the bag's stand-in for log mu."""
    m = agent.model
    dev = agent.device
    obs = torch.as_tensor(pad_last(episode.obs[:-1], agent.obs_dim), device=dev)
    act = torch.as_tensor(pad_last(episode.action, agent.action_dim), device=dev)
    task = torch.full((len(episode),), task_id, dtype=torch.long, device=dev)
    emb = m.embed(task)
    z = m.encode(obs, emb)
    return m.pi.log_prob(m._cat(z, emb), act, m.mask(task)).float().cpu().numpy()


# -- new tasks ---------------------------------------------------------------------------------
def add_task(
    agent: M3POAgent,
    task: str,
    episodes: Sequence[Episode] | None = None,
    horizon: int | None = None,
    max_windows: int = 1024,
) -> tuple[M3POAgent, str | None]:
    """A copy of `agent` that also knows `task`, its embedding started from the nearest task.

    Nearest = the existing task whose embedding gives the lowest world-model fit loss
    (consistency + reward) on `episodes` of the new task; without episodes, the first task
    on the same robot, else task 0. Optimiser state starts fresh (the embedding table grew).
    """
    from m3po_learning.envs import make_env

    if task in agent.task_index:
        return agent, None
    try:
        spec = make_env(task).spec
    except ValueError as exc:
        raise BagError(f"cannot add task {task!r}: {exc}") from exc
    if spec.obs_dim > agent.obs_dim or spec.action_dim > agent.action_dim:
        raise BagError(
            f"cannot add task {task!r} to this checkpoint: it needs obs_dim {spec.obs_dim} and "
            f"action_dim {spec.action_dim}, the checkpoint's padded sizes are "
            f"{agent.obs_dim} and {agent.action_dim}"
        )
    cfg = agent.cfg
    cfg = replace(cfg, train=replace(cfg.train, tasks=(*agent.tasks, task)))
    new = M3POAgent(cfg, [*agent.specs, spec], device=agent.device)
    state = agent.model.state_dict()
    own = new.model.state_dict()
    for k, v in state.items():
        if k in own and own[k].shape == v.shape and k not in ("action_masks", "discounts"):
            own[k] = v.clone()
    n = len(agent.tasks)
    nearest = None
    if agent.model.task_emb is not None:
        old = state["task_emb.weight"]
        own["task_emb.weight"][:n] = old
        robot = task.split("/")[0]
        same_robot = [i for i, t in enumerate(agent.tasks) if t.split("/")[0] == robot]
        best = same_robot[0] if same_robot else 0
        new.model.load_state_dict(own)
        if episodes:
            H = horizon or cfg.planner.horizon
            batch = windows_batch(new, episodes, n, H, max_windows)
            if batch is not None:
                scores = {}
                for i in range(n):
                    new.model.task_emb.weight.data[n] = old[i].to(new.device)
                    scores[i] = world_model_loss(new, batch)["fit"]
                best = min(scores, key=scores.get)
                log.info(
                    "new task %s: world-model fit per start embedding %s",
                    task,
                    {agent.tasks[i]: round(s, 4) for i, s in scores.items()},
                )
        own["task_emb.weight"][n] = old[best]
        nearest = agent.tasks[best]
    new.model.load_state_dict(own)
    new.mark_weights_changed()
    new.checkpoint_meta = copy.deepcopy(getattr(agent, "checkpoint_meta", {}))
    log.info("added task %s to the agent, embedding started from %s", task, nearest)
    return new, nearest


# -- fine-tuning -------------------------------------------------------------------------------
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


def finetune_on_dataset(
    agent: M3POAgent,
    dataset: BagDataset,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune `agent` on an already-loaded BagDataset (see `finetune_from_bags`)."""
    c = config or FinetuneConfig()
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
    rng = np.random.default_rng(c.seed)
    eval_batch = windows_batch(agent, held, tid, H, c.max_eval_windows)
    before = world_model_loss(agent, eval_batch) if eval_batch is not None else {}
    if eval_batch is None:
        log.warning(
            "no held-out windows (episodes too short for holdout_frac=%s); the "
            "world-model loss is not reported",
            c.holdout_frac,
        )
    log_mu = [behaviour_log_prob(agent, e, tid) for e in train]
    n_train = sum(len(e) for e in train)
    buffer = ReplayBuffer(
        1, [tid], agent.obs_dim, agent.action_dim, n_train + H + 1, H, seed=c.seed
    )
    for e, lm in zip(train, log_mu, strict=True):
        buffer.add_episode(
            0,
            pad_last(e.obs, agent.obs_dim),
            pad_last(e.action, agent.action_dim),
            e.reward,
            e.terminated,
            lm,
        )
    old_progress = agent.progress
    agent.progress = 1.0  # offline: no exploration bonus (beta anneals to 0 at progress 1)
    batch_size = c.batch_size or agent.cfg.optim.batch_size
    T = min(c.policy_window_steps, max(len(e) for e in train))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=c.steps, desc=f"finetune {task}", unit="step", dynamic_ncols=True)
    metrics: dict[str, float] = {}
    policy_updates = 0
    ppo = agent.cfg.policy.actor == "ppo"
    try:
        for step in range(1, c.steps + 1):
            # world model, Q, V and (trust_region actor) the policy, on the bag's replay
            metrics.update(agent.update(buffer.sample(batch_size, agent.device)))
            if not ppo:
                policy_updates += 1  # the trust-region actor stepped inside agent.update
            if ppo and c.policy_every and step % c.policy_every == 0:
                seg = _policy_segment(agent, train, log_mu, tid, T, c.policy_windows, rng)
                if seg is not None:
                    metrics.update(agent.update_policy(seg))
                    policy_updates += 1
            if bar is not None:
                bar.update(1)
                if step % 25 == 0:
                    bar.set_postfix(wm=f"{metrics.get('wm/total', math.nan):.3f}")
    finally:
        agent.progress = old_progress
        if bar is not None:
            bar.close()
    after = world_model_loss(agent, eval_batch) if eval_batch is not None else {}
    return FinetuneResult(
        agent=agent,
        task=task,
        nearest_task=nearest,
        heldout_before=before,
        heldout_after=after,
        train_transitions=n_train,
        heldout_transitions=sum(len(e) for e in held),
        steps=c.steps,
        policy_updates=policy_updates,
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
    `result.agent` with `save_checkpoint`. A task the agent does not know is added first
    (see `add_task`), so `result.agent` may be a new object.
    """
    c = config or FinetuneConfig()
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
    )
    for w in dataset.warnings:
        log.warning("%s", w)
    return finetune_on_dataset(agent, dataset, c, progress=progress)


def finetune_checkpoint(
    checkpoint: str | Path,
    bag_paths: Sequence[str | Path],
    task: str,
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
    overrides: Sequence[str] = (),
    topic_map=None,
    align: AlignOptions | None = None,
    device: str = "auto",
    progress: bool = True,
) -> tuple[FinetuneResult, Path]:
    """Load a checkpoint, fine-tune it from bags, save to `out_dir`/checkpoints (atomically).

    `out_dir` becomes a run directory (`checkpoints/<name>` plus `latest`), which every
    command and node that takes a checkpoint accepts. Existing checkpoints are kept.
    """
    from m3po_learning.checkpoint import load_agent, save_checkpoint, write_latest

    agent = load_agent(
        checkpoint, device=device, overrides=list(overrides) or None, load_optimizer=True
    )
    base_step = int(agent.checkpoint_meta.get("step", 0))
    source = str(agent.checkpoint_path)
    result = finetune_from_bags(
        agent, bag_paths, task, config=config, topic_map=topic_map, align=align, progress=progress
    )
    ckpt_dir = Path(out_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    step = base_step + result.steps
    name = f"finetune_{step:09d}"
    k = 1
    while (ckpt_dir / name).exists():
        name = f"finetune_{step:09d}_{k}"
        k += 1
    state = dict(agent.checkpoint_meta.get("trainer_state", {}) or {})
    state["finetune"] = {
        **result.summary(),
        "source_checkpoint": source,
        "bags": [str(p) for p in bag_paths],
        "config": asdict(config or FinetuneConfig()),
    }
    path = save_checkpoint(ckpt_dir / name, result.agent, step, state)
    write_latest(ckpt_dir, name)
    return result, path
