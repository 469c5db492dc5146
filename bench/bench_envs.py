"""Environment throughput: single-task and VectorEnv steps/s, written to bench/results/envs.json.

Usage: python bench/bench_envs.py [--seconds 1.0] [--copies 4]

Each measurement runs for about `--seconds` of wall time and reports both wall-clock and
process-CPU rates: on a shared machine the CPU rate is what the code costs, the wall rate
what a run would have seen then. The load average is recorded next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import mujoco
import numpy as np

from m3po_learning.envs import VectorEnv, builtin_tasks, load_task_set, make_env

RESULTS = Path(__file__).resolve().parent / "results" / "envs.json"


def _timed(step, seconds: float, batch: int = 200) -> dict[str, float]:
    """Call step() in batches until `seconds` of wall time; returns calls per second."""
    step()  # warm up
    calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(batch):
            step()
        calls += batch
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"calls": calls, "per_s_wall": calls / wall, "per_s_cpu": calls / max(cpu, 1e-9)}


def bench_single(task: str, seconds: float) -> dict[str, float]:
    """Env.step (public API: clip, physics, observation, reward, auto-reset by the caller)."""
    env = make_env(task, seed=0)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (4096, env.spec.action_dim))
    state = {"i": 0}

    def step() -> None:
        i = state["i"] = (state["i"] + 1) & 4095
        _, _, terminated, truncated, _ = env.step(actions[i])
        if terminated or truncated:
            env.reset()

    r = _timed(step, seconds)
    return {"steps_per_s_wall": r["per_s_wall"], "steps_per_s_cpu": r["per_s_cpu"]}


def bench_vector(tasks: list[str], seconds: float) -> dict[str, float]:
    """VectorEnv.step over `tasks` (one env each): vector steps/s and env steps/s, wall and CPU."""
    venv = VectorEnv(tasks, seed=0)
    venv.reset()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (64, venv.num_envs, venv.action_dim))
    state = {"i": 0}

    def step() -> None:
        i = state["i"] = (state["i"] + 1) & 63
        venv.step(actions[i])

    r = _timed(step, seconds, batch=20)
    n = venv.num_envs
    return {
        "num_envs": n,
        "vector_steps_per_s_wall": r["per_s_wall"],
        "env_steps_per_s_wall": r["per_s_wall"] * n,
        "env_steps_per_s_cpu": r["per_s_cpu"] * n,
    }


def bench_raw_rollout(copies: int = 512, nstep: int = 2) -> dict[str, float]:
    """MuJoCo's batched `rollout` on `copies` arm2 states: physics only, no Python per copy."""
    from mujoco import rollout

    m = make_env("arm2/reach").model
    size = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_FULLPHYSICS)
    state0 = np.zeros((copies, size))
    ctrl = np.random.default_rng(0).uniform(-1, 1, (copies, nstep, m.nu))
    out = {}
    for nthread in (0, 2):
        data = [mujoco.MjData(m) for _ in range(max(nthread, 1))]
        with rollout.Rollout(nthread=nthread) as r:
            r.rollout(m, data, state0, ctrl)
            reps, t0 = 20, time.perf_counter()
            for _ in range(reps):
                r.rollout(m, data, state0, ctrl)
            dt = (time.perf_counter() - t0) / reps
        out[f"nthread_{nthread}"] = {
            "ms_per_call": dt * 1e3,
            "us_per_physics_step": dt / (copies * nstep) * 1e6,
        }
    # The same physics stepped one MjData at a time from Python, for comparison.
    d = mujoco.MjData(m)
    reps, t0 = 20000, time.perf_counter()
    for _ in range(reps):
        mujoco.mj_step(m, d, nstep)
    out["python_loop_us_per_physics_step"] = (time.perf_counter() - t0) / (reps * nstep) * 1e6
    out.update({"copies": copies, "physics_steps_per_call": nstep})
    return out


def random_returns(episodes: int = 5) -> dict[str, float]:
    """Mean undiscounted return of uniform random actions per built-in task (a baseline)."""
    out = {}
    for task in builtin_tasks():
        env = make_env(task, seed=123)
        rng = np.random.default_rng(123)
        total = 0.0
        for _ in range(episodes):
            env.reset()
            while True:
                _, r, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.spec.action_dim))
                total += r
                if terminated or truncated:
                    break
        out[task] = total / episodes
    return out


def main() -> None:
    """Run every measurement, write the JSON to `--out` atomically and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="wall time per measurement")
    parser.add_argument("--copies", type=int, default=4, help="copies per task, second vector run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()

    load_before = os.getloadavg()
    single = {t: bench_single(t, args.seconds) for t in builtin_tasks()}
    default = load_task_set("default")
    vector = {
        "default": bench_vector(default, 2 * args.seconds),
        f"default_x{args.copies}": bench_vector(default * args.copies, 2 * args.seconds),
    }
    raw = bench_raw_rollout()
    baseline = random_returns()
    best = max(single, key=lambda t: single[t]["steps_per_s_wall"])
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "mujoco": mujoco.__version__,
        },
        "single_task": single,
        "single_task_best": {"task": best, **single[best]},
        "single_task_min_wall": min(v["steps_per_s_wall"] for v in single.values()),
        "vector": vector,
        "raw_mujoco_rollout_arm2": raw,
        "random_policy_return": baseline,
        "targets": {"single_task_steps_per_s": 20000, "vector_env_steps_per_s": 50000},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
