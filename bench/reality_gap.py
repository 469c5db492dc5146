"""Does domain randomisation buy robustness? The same agent trained with and without it.

Both runs train the same tasks, seed and budget (`train.randomize` false / true); each is
then evaluated on the nominal robot and on every reality-gap variant of
config/randomization/reality_gap.yaml (heavy, weak, sticky, delayed, noisy, all). Target:
the randomised agent keeps >= 80% of its nominal return on `all`, the other one less. A
result is written after every run; the plot shows return per variant, per task.

    PYTHONPATH=src python bench/reality_gap.py --tasks arm2/reach,pendulum/balance \
        --steps 3000 --seed 1 planner.num_samples=128 planner.iterations=2
Writes bench/results/reality_gap.json and reality_gap.png (--out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("heavy", "weak", "sticky", "delayed", "noisy", "all")


def train_and_evaluate(tasks: list[str], randomize: bool, args) -> dict:
    """One training run; its per-task return on the nominal robot and every variant."""
    from m3po_learning.config import load_config
    from m3po_learning.evaluation import evaluate
    from m3po_learning.training.online import build_trainer

    cfg = load_config(
        ROOT / "config" / "train" / f"{args.config}.yaml",
        [
            f"train.tasks=[{','.join(tasks)}]",
            f"train.steps={args.steps}",
            f"train.seed_steps={args.seed_steps}",
            f"train.seed={args.seed}",
            "train.eval_every=0",
            "train.final_eval=false",
            f"train.checkpoint_every={args.steps}",
            "train.tensorboard=false",
            f"train.num_threads={args.threads}",
            f"train.randomize={str(randomize).lower()}",
            *args.overrides,
        ],
    )
    out = Path(args.runs) / ("randomized" if randomize else "nominal_only")
    t0 = time.time()
    trainer = build_trainer(cfg, out, progress=not args.no_progress)
    trainer.train()
    wall = time.time() - t0
    returns = {"nominal": evaluate(trainer.agent, tasks, episodes=args.episodes)}
    for variant in VARIANTS:
        returns[variant] = evaluate(
            trainer.agent, tasks, episodes=args.episodes, reality_gap=variant
        )
    kept = {
        t: (returns["all"][t] / returns["nominal"][t] if returns["nominal"][t] > 0 else None)
        for t in tasks
    }
    return {"train_wall_s": round(wall, 1), "returns": returns, "kept_on_all": kept}


def plot(result: dict, path: Path) -> None:
    """Return per variant, one panel per task, both agents side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = result["runs"]
    tasks = result["tasks"]
    names = ("nominal", *VARIANTS)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.2), squeeze=False)
    x = np.arange(len(names))
    for ax, task in zip(axes[0], tasks, strict=True):
        for k, (label, run) in enumerate(runs.items()):
            ys = [run["returns"][v][task] for v in names]
            ax.bar(x + (k - 0.5) * 0.4, ys, 0.4, label=label)
        ax.set_xticks(x, names, rotation=30)
        ax.set_title(task)
        ax.set_ylabel("return")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Train both agents, evaluate on every variant; print and save the JSON and plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="arm2/reach,pendulum/balance")
    ap.add_argument("--config", default="demo", help="config/train/<name>.yaml")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed-steps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", default="runs/reality_gap")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "reality_gap.json"))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args(argv)
    tasks = args.tasks.split(",")
    result: dict = {"machine": cpu_name(), "tasks": tasks, "steps": args.steps,
                    "seed": args.seed, "overrides": args.overrides, "runs": {}}  # fmt: skip
    for randomize in (False, True):
        label = "randomized" if randomize else "nominal only"
        result["runs"][label] = train_and_evaluate(tasks, randomize, args)
        save_result(result, args.out, "reality_gap.py", argv, echo=False)
    kept = result["runs"]
    result["target_met"] = all(
        (kept["randomized"]["kept_on_all"][t] or 0) >= 0.8
        and (kept["randomized"]["kept_on_all"][t] or 0)
        > (kept["nominal only"]["kept_on_all"][t] or 0)
        for t in tasks
    )
    plot(result, Path(args.out).with_suffix(".png"))
    save_result(result, args.out, "reality_gap.py", argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
