r"""Training inside the robot's envelope (velocity limits + safety limits) against without it.

The same config, seed and budget train twice per task, `train.envelope=true` and `false`;
both are evaluated as deployed (inside the envelope, planner on, same seeds). A result is
written after every run, so an interrupted bench keeps what it finished.

    PYTHONPATH=src python bench/envelope_ab.py --tasks arm2/reach,pendulum/swingup \\
        --steps 2000 --seed-steps 500 --seed 1 planner.num_samples=128 planner.iterations=2
Writes bench/results/envelope_ab.json (--out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_one(task: str, envelope: bool, args) -> dict:
    """Train `task` with or without the envelope; its evaluation return inside it."""
    from m3po_learning.config import load_config
    from m3po_learning.evaluation import evaluate
    from m3po_learning.training.online import build_trainer

    cfg = load_config(
        ROOT / "config" / "train" / f"{args.config}.yaml",
        [
            f"train.tasks=[{task}]",
            f"train.steps={args.steps}",
            f"train.seed_steps={args.seed_steps}",
            f"train.seed={args.seed}",
            "train.eval_every=0",
            "train.final_eval=false",
            f"train.checkpoint_every={args.steps}",
            "train.tensorboard=false",
            f"train.num_threads={args.threads}",
            f"train.envelope={str(envelope).lower()}",
            *args.overrides,
        ],
    )
    out = Path(args.runs) / f"{task.replace('/', '_')}_envelope_{'on' if envelope else 'off'}"
    t0 = time.time()
    trainer = build_trainer(cfg, out, progress=not args.no_progress)
    trainer.train()
    wall = time.time() - t0
    ret = evaluate(trainer.agent, [task], episodes=args.episodes, seed=10_000, progress=False)
    return {"return": float(ret[task]), "train_wall_s": round(wall, 1), "run": str(out)}


def main(argv: list[str] | None = None) -> int:
    """Run both arms for every task; print and save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="arm2/reach,pendulum/swingup")
    ap.add_argument("--config", default="demo", help="config/train/<name>.yaml")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", default="runs/envelope_ab")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "envelope_ab.json"))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args(argv)
    from m3po_learning.evaluation import random_returns

    tasks = args.tasks.split(",")
    result: dict = {
        "machine": cpu_name(),
        "config": args.config,
        "steps": args.steps,
        "overrides": args.overrides,
        "seed": args.seed,
        "episodes": args.episodes,
        "random": random_returns(tasks, episodes=args.episodes),
        "tasks": {},
    }
    for task in tasks:
        for envelope in (False, True):
            row = result["tasks"].setdefault(task, {})
            row["envelope_on" if envelope else "envelope_off"] = run_one(task, envelope, args)
            save_result(result, args.out, "envelope_ab.py", argv, echo=False)
    save_result(result, args.out, "envelope_ab.py", argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
