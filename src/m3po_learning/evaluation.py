"""Evaluate an agent on its tasks: every task at once in one vectorised environment."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from m3po_learning.envs import VectorEnv
from m3po_learning.types import pad_last


class EvaluationStopped(RuntimeError):
    """`should_stop` asked an evaluation to end before its episodes were complete."""


def evaluate(
    agent,
    tasks: list[str] | None = None,
    episodes: int = 2,
    seed: int = 10_000,
    use_planner: bool = True,
    reality_gap: str | None = None,
    budget_ms: float | None = None,
    progress: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Mean undiscounted return per task over `episodes` episodes (deterministic actions).

    `should_stop` is polled every step; when it returns True the evaluation ends at once
    with EvaluationStopped (a learner asked to shut down does not finish its episodes).
    """
    tasks = list(tasks or agent.tasks)
    for t in tasks:
        if t not in agent.task_index:
            raise KeyError(f"task {t!r} is not in this agent's tasks {agent.tasks}")
    env = VectorEnv(tasks, seed=seed, randomize=False, reality_gap=reality_gap)
    try:
        return _run(agent, env, tasks, episodes, use_planner, budget_ms, progress, should_stop)
    finally:
        env.close()


def _run(
    agent, env, tasks, episodes, use_planner, budget_ms, progress, should_stop
) -> dict[str, float]:
    n = len(tasks)
    ids = [agent.task_index[t] for t in tasks]
    obs = pad_last(env.reset(), agent.obs_dim)
    agent.reset_warm_start()
    returns = [[] for _ in range(n)]
    running = np.zeros(n)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n * episodes, desc="eval episodes", unit="ep", leave=False)
    slots = [10_000 + i for i in range(n)]  # keep eval warm starts apart from training ones
    while min(len(r) for r in returns) < episodes:
        if should_stop is not None and should_stop():
            if bar is not None:
                bar.close()
            raise EvaluationStopped(f"evaluation stopped after {sum(map(len, returns))} episodes")
        out = agent.act(
            obs, ids, explore=False, use_planner=use_planner, budget_ms=budget_ms, slots=slots
        )
        next_obs, reward, term, trunc, _ = env.step(out.action[:, : env.action_dim])
        running += reward
        for i in np.nonzero(term | trunc)[0]:
            if len(returns[i]) < episodes:
                returns[i].append(float(running[i]))
                if bar is not None:
                    bar.update(1)
            running[i] = 0.0
            agent.reset_warm_start(slots[i])
        obs = pad_last(next_obs, agent.obs_dim)
    if bar is not None:
        bar.close()
    return {t: float(np.mean(r[:episodes])) for t, r in zip(tasks, returns, strict=True)}


def random_returns(tasks: list[str], episodes: int = 2, seed: int = 10_000) -> dict[str, float]:
    """Mean return per task of uniformly random actions: the floor every agent must clear."""
    env = VectorEnv(list(tasks), seed=seed)
    rng = np.random.default_rng(seed)
    returns = [[] for _ in tasks]
    running = np.zeros(len(tasks))
    try:
        env.reset()
        while min(len(r) for r in returns) < episodes:
            action = rng.uniform(-1, 1, (len(tasks), env.action_dim)).astype(np.float32)
            _, reward, term, trunc, _ = env.step(action * env.action_masks)
            running += reward
            for i in np.nonzero(term | trunc)[0]:
                returns[i].append(float(running[i]))
                running[i] = 0.0
    finally:
        env.close()
    return {t: float(np.mean(r[:episodes])) for t, r in zip(tasks, returns, strict=True)}
