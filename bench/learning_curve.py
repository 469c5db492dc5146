"""Learning curves: the default M3PO config against the model-free ppo_baseline.

Both train on the same tasks for the same number of environment steps. Writes a plot and JSON
with the step at which M3PO first reaches the baseline's final return.

    python bench/learning_curve.py [--tasks small] [--steps 16000] [--eval-every 2000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from m3po_learning.cli.plot import plot_runs
from m3po_learning.config import load_config
from m3po_learning.envs.registry import resolve_tasks
from m3po_learning.evaluation import random_returns
from m3po_learning.logger import read_eval_csv
from m3po_learning.training.online import build_trainer

ROOT = Path(__file__).resolve().parents[1]


def train(name: str, args) -> dict:
    """Train config/train/<name>.yaml with the command-line budget and read its eval curve.

    Returns:
        Run directory, wall time (s), the mean-return curve as (step, return) pairs, its
        final return and each task's final return.
    """
    out = Path(args.runs) / name
    cfg = load_config(
        ROOT / "config" / "train" / f"{name}.yaml",
        [
            f"train.tasks=[{args.tasks}]",
            f"train.steps={args.steps}",
            f"train.eval_every={args.eval_every}",
            f"train.checkpoint_every={args.steps}",
            f"train.seed={args.seed}",
            f"train.eval_episodes={args.eval_episodes}",
            f"train.seed_steps={args.seed_steps}",
            "train.tensorboard=false",
            *args.overrides,
        ],
    )
    t0 = time.time()
    trainer = build_trainer(cfg, out, progress=True)
    trainer.train()
    curve = read_eval_csv(out / "eval.csv")
    return {
        "run": str(out),
        "wall_s": time.time() - t0,
        "curve": curve["mean"],
        "final": curve["mean"][-1][1],
        "per_task_final": {t: c[-1][1] for t, c in curve.items() if t != "mean"},
    }


def main() -> None:
    """Train ppo_baseline and m3po, plot both curves and write the summary JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", default="small")
    ap.add_argument("--steps", type=int, default=16_000)
    ap.add_argument("--eval-every", type=int, default=2_000)
    ap.add_argument("--eval-episodes", type=int, default=2)
    ap.add_argument("--seed-steps", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", default=str(ROOT / "runs" / "learning_curve"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "learning_curve.json"))
    ap.add_argument("overrides", nargs="*", help="overrides applied to both configs")
    args = ap.parse_args()
    results = {name: train(name, args) for name in ("ppo_baseline", "m3po")}
    base_final = results["ppo_baseline"]["final"]
    reach = next((s for s, r in results["m3po"]["curve"] if r >= base_final), None)
    tasks = resolve_tasks([args.tasks])
    summary = {
        "tasks": tasks,
        "env_steps": args.steps,
        "seed": args.seed,
        "random_returns": random_returns(tasks, episodes=args.eval_episodes),
        "ppo_baseline_final_return": base_final,
        "m3po_final_return": results["m3po"]["final"],
        "m3po_steps_to_baseline_final": reach,
        "m3po_fraction_of_steps": None if reach is None else reach / args.steps,
        "target_fraction": 0.5,
        "runs": results,
    }
    png = plot_runs(
        [Path(results["ppo_baseline"]["run"]), Path(results["m3po"]["run"])],
        Path(args.out).with_suffix(".png"),
        ["ppo_baseline", "m3po"],
        per_task=True,
        title=f"M3PO vs model-free baseline ({args.tasks})",
    )
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
