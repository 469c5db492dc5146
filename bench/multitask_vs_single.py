"""One multi-task agent against single-task agents and against random actions.

The multi-task agent trains on the whole built-in task set; the single-task agents are trained
with the same per-task step budget.

    python bench/multitask_vs_single.py [--per-task-steps 2000] [--single pendulum/balance,...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from m3po_learning.config import load_config
from m3po_learning.envs.registry import resolve_tasks
from m3po_learning.evaluation import random_returns
from m3po_learning.training.online import build_trainer

ROOT = Path(__file__).resolve().parents[1]


def train(config: str, tasks: list[str], steps: int, out: Path, args) -> dict:
    """Train config/train/<config>.yaml on `tasks` for `steps` agent steps into `out`.

    Returns:
        The final evaluation returns per task, wall time (s) and the step count.
    """
    cfg = load_config(
        ROOT / "config" / "train" / f"{config}.yaml",
        [
            "train.tasks=[" + ",".join(tasks) + "]",
            f"train.steps={steps}",
            f"train.seed_steps={min(args.seed_steps * len(tasks), steps // 2)}",
            "train.eval_every=0",
            f"train.checkpoint_every={steps}",
            f"train.eval_episodes={args.eval_episodes}",
            f"train.num_threads={args.threads}",
            "train.tensorboard=false",
            *args.overrides,
        ],
    )
    t0 = time.time()
    trainer = build_trainer(cfg, out, progress=True)
    returns = trainer.train()
    return {"returns": returns, "wall_s": time.time() - t0, "steps": steps}


def main() -> None:
    """Train the multi-task agent and the single-task ones, print a table and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", default="default")
    ap.add_argument("--per-task-steps", type=int, default=2000)
    ap.add_argument("--seed-steps", type=int, default=250, help="random steps per task")
    ap.add_argument(
        "--single",
        default="pendulum/balance,cartpole/balance,arm2/track",
        help="tasks that also get a single-task agent ('all' for every task)",
    )
    ap.add_argument("--eval-episodes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default=str(ROOT / "runs" / "multitask_vs_single"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "multitask_vs_single.json"))
    ap.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = ap.parse_args()
    tasks = resolve_tasks([args.tasks])
    singles = tasks if args.single == "all" else [t for t in args.single.split(",") if t]
    runs = Path(args.runs)
    multi = train("m3po", tasks, args.per_task_steps * len(tasks), runs / "multi", args)
    single = {
        t: train(
            "single_task", [t], args.per_task_steps, runs / ("single_" + t.replace("/", "_")), args
        )["returns"][t]
        for t in singles
    }
    rand = random_returns(tasks, episodes=args.eval_episodes)
    table = {
        t: {"multi_task": multi["returns"][t], "single_task": single.get(t), "random": rand[t]}
        for t in tasks
    }
    result = {
        "per_task_steps": args.per_task_steps,
        "tasks": table,
        "multi_task_wall_s": multi["wall_s"],
        "overrides": args.overrides,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"{'task':20s} {'multi':>8s} {'single':>8s} {'random':>8s}")
    for t, r in table.items():
        s = "" if r["single_task"] is None else f"{r['single_task']:8.1f}"
        print(f"{t:20s} {r['multi_task']:8.1f} {s:>8s} {r['random']:8.1f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
