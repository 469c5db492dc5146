"""Stable-Baselines3 SAC on our gymnasium envs: the model-free baseline, at a fixed budget.

SAC (SB3's own, unmodified) trains on `gymnasium.make("m3po/<robot>-<task>-v0")` for
`--steps` env steps per seed; every `--eval-every` steps its deterministic policy is scored on
`--episodes` seeded episodes, beside a uniform-random policy on the same episodes. One torch
thread (run it alone, or beside one other 1-thread job). Results: JSON with every evaluation.

    PYTHONPATH=src python bench/sb3_baseline.py --task pendulum/balance --steps 6000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def evaluate(env_id: str, policy, episodes: int, seed: int) -> float:
    """Mean return of `policy(obs) -> action` over `episodes` episodes seeded seed, seed+1..."""
    import gymnasium as gym

    env = gym.make(env_id)
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run(task: str, steps: int, eval_every: int, episodes: int, seed: int) -> list[dict]:
    """SAC on `task` for `steps` env steps; one dict per evaluation."""
    import gymnasium as gym
    from stable_baselines3 import SAC

    import m3po_learning.gym as m3po_gym

    env_id = m3po_gym.env_id(task)
    rng = np.random.default_rng(seed)
    env = gym.make(env_id)
    shape = env.action_space.shape
    random_return = evaluate(env_id, lambda o: rng.uniform(-1.0, 1.0, shape), episodes, 1000)
    model = SAC(
        "MlpPolicy", env, seed=seed, learning_starts=500, policy_kwargs={"net_arch": [64, 64]}
    )
    out, t0, done = [], time.perf_counter(), 0
    while done < steps:
        n = min(eval_every, steps - done)
        model.learn(n, reset_num_timesteps=False, progress_bar=False)
        done += n
        ret = evaluate(env_id, lambda o: model.predict(o, deterministic=True)[0], episodes, 1000)
        row = {
            "task": task,
            "seed": seed,
            "env_steps": done,
            "return": ret,
            "random_return": random_return,
            "wall_s": time.perf_counter() - t0,
        }
        print(row, flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the baseline over `--seeds` and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--task", default="pendulum/balance")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "sb3_baseline.json"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    evals = []
    for seed in (int(s) for s in args.seeds.split(",")):
        evals += run(args.task, args.steps, args.eval_every, args.episodes, seed)
    result = {
        "machine": cpu_name(),
        "agent": "stable-baselines3 SAC (MlpPolicy 64x64, learning_starts 500), 1 torch thread",
        "evals": evals,
    }
    save_result(result, args.out, "sb3_baseline.py", argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
