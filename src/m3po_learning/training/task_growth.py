"""Task growth: a copy of an agent that also knows a new task, from the nearest task embedding."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import replace

from m3po_learning.agent import M3POAgent
from m3po_learning.datasets import BagError, Episode
from m3po_learning.training.holdout import windows_batch, world_model_loss

log = logging.getLogger(__name__)


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
