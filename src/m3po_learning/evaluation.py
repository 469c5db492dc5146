"""Evaluate an agent on its tasks: every task at once in one vectorised environment."""

from __future__ import annotations

import time
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
    per_episode: dict[str, list[float]] | None = None,
    success: dict[str, float] | None = None,
) -> dict[str, float]:
    """Mean undiscounted return per task over `episodes` episodes (deterministic actions).

    All tasks x episodes run at once, one env each (env k seeded seed + k), through one
    batched act() per step; an env that has finished its episode stops being planned for.
    `should_stop` is polled every step; when it returns True the evaluation ends at once
    with EvaluationStopped. `per_episode`, when given, receives every episode's return;
    `success`, when given, the success rate per task that has a success metric (MetaWorld).
    `budget_ms` bounds each step's planning: the planner's deadline is that long after the
    step starts (None: unbounded).
    """
    tasks = list(tasks or agent.tasks)
    for t in tasks:
        if t not in agent.task_index:
            raise KeyError(f"task {t!r} is not in this agent's tasks {agent.tasks}")
    if episodes <= 0:
        raise ValueError(f"episodes={episodes} must be > 0")
    rows = [t for t in tasks for _ in range(episodes)]
    env = VectorEnv(rows, seed=seed, randomize=False, reality_gap=reality_gap)
    try:
        returns, successes = _run(agent, env, rows, use_planner, budget_ms, progress, should_stop)
    finally:
        env.close()
    if success is not None:
        success.update(success_rates(rows, successes))
    out: dict[str, list[float]] = {t: [] for t in tasks}
    for t, r in zip(rows, returns, strict=True):
        out[t].append(r)
    if per_episode is not None:
        per_episode.update(out)
    return {t: float(np.mean(r)) for t, r in out.items()}


def normalised_scores(returns: dict[str, float], success: dict[str, float]) -> dict[str, float]:
    """TD-MPC2's multi-task scores per task: DMControl return / 1000, MetaWorld success rate.

    Tasks of other suites (the built-in robots) have no published normalisation and are
    left out.
    """
    out = {}
    for t, r in returns.items():
        if t.startswith("dmc/"):
            out[t] = r / 1000.0
        elif t in success:
            out[t] = success[t]
    return out


def suite_of(task: str) -> str:
    """The suite of `task`: "dmc", "mw" or "robots" (built-in and bring-your-own URDF)."""
    head = task.split("/", 1)[0]
    return head if head in ("dmc", "mw") else "robots"


def success_rates(rows: list[str], successes: np.ndarray) -> dict[str, float]:
    """Mean episode success per task of `rows`, for the tasks that report one (not NaN)."""
    out = {}
    for t in dict.fromkeys(rows):
        s = successes[[i for i, r in enumerate(rows) if r == t]]
        if not np.isnan(s).all():
            out[t] = float(np.nanmean(s))
    return out


def _run(
    agent, env, rows, use_planner, budget_ms, progress, should_stop
) -> tuple[list[float], np.ndarray]:
    n = len(rows)
    ids = np.asarray([agent.task_index[t] for t in rows])
    obs = pad_last(env.reset(), agent.obs_dim)
    slots = [10_000 + i for i in range(n)]  # keep eval warm starts apart from training ones
    for s in slots:
        agent.reset_warm_start(s)
    returns = np.zeros(n)
    successes = np.full(n, np.nan)
    active = np.ones(n, bool)
    actions = np.zeros((n, env.action_dim), np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="eval episodes", unit="ep", leave=False)
    try:
        while active.any():
            if should_stop is not None and should_stop():
                raise EvaluationStopped(
                    f"evaluation stopped after {int((~active).sum())} of {n} episodes"
                )
            live = np.nonzero(active)[0]
            deadline = None if budget_ms is None else time.perf_counter() + budget_ms * 1e-3
            out = agent.act(
                obs[live],
                ids[live].tolist(),
                explore=False,
                use_planner=use_planner,
                deadline=deadline,
                slots=[slots[i] for i in live],
            )
            actions[:] = 0.0
            actions[live] = out.action[:, : env.action_dim]
            next_obs, reward, term, trunc, info = env.step(actions)
            returns[live] += reward[live]
            ended = live[(term | trunc)[live]]
            successes[ended] = info["episode_success"][ended]
            active[ended] = False
            for i in ended:
                agent.reset_warm_start(slots[i])
            if bar is not None and len(ended):
                bar.update(len(ended))
            obs = pad_last(next_obs, agent.obs_dim)
    finally:
        if bar is not None:
            bar.close()
        for s in slots:
            agent.reset_warm_start(s)
    return returns.tolist(), successes


BASELINES = ("random", "zero")


def baseline_returns(
    tasks: list[str],
    kind: str = "random",
    episodes: int = 2,
    seed: int = 10_000,
    reality_gap: str | None = None,
) -> dict[str, float]:
    """Mean return per task of a policy-free baseline: the floor every agent must clear.

    kind "random": uniformly random actions in [-1, 1]; "zero": the all-zero action (no
    effort on an effort drive; with gravity compensation the robot rests where it is).
    """
    if kind not in BASELINES:
        raise ValueError(f"baseline {kind!r}: use one of {BASELINES}")
    env = VectorEnv(list(tasks), seed=seed, reality_gap=reality_gap)
    rng = np.random.default_rng(seed)
    returns = [[] for _ in tasks]
    running = np.zeros(len(tasks))
    try:
        env.reset()
        while min(len(r) for r in returns) < episodes:
            if kind == "random":
                action = rng.uniform(-1, 1, (len(tasks), env.action_dim)).astype(np.float32)
            else:
                action = np.zeros((len(tasks), env.action_dim), np.float32)
            _, reward, term, trunc, _ = env.step(action * env.action_masks)
            running += reward
            for i in np.nonzero(term | trunc)[0]:
                returns[i].append(float(running[i]))
                running[i] = 0.0
    finally:
        env.close()
    return {t: float(np.mean(r[:episodes])) for t, r in zip(tasks, returns, strict=True)}


def random_returns(tasks: list[str], episodes: int = 2, seed: int = 10_000) -> dict[str, float]:
    """Mean return per task of uniformly random actions (`baseline_returns(kind="random")`)."""
    return baseline_returns(tasks, "random", episodes, seed)
