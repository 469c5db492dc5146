"""DMControl against the published TD-MPC2 numbers, with the REFERENCE_RESULTS protocol.

Action repeat 2, 1000-step episodes, `--episodes` (10) evaluation episodes per point, env
steps (= 2 x agent steps) on the x axis; one single-task agent per task and seed, trained with
config/train/single_task.yaml (the 1M model) plus any KEY=VALUE overrides. Every evaluation
is appended to the JSON as it comes, so an interrupted run keeps what it measured; the plot
shows every task's curve beside TD-MPC2's published 100k / 500k / 1M points.

    python bench/dmc.py --tasks dmc/cartpole-swingup,dmc/pendulum-swingup --env-steps 100000
    python bench/dmc.py --plot-only --out bench/results/dmc

Ablations at equal budget, one plot: `--configs m3po,no_bonus,ppo_actor,ppo_baseline` runs
config/train/<name>.yaml for each (single-task: model.task_dim=0), labelled by name.
Any registered task works too (`--tasks pendulum/swingup`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# TD-MPC2 (5M, 3 seeds) at 100k / 500k / 1M env steps: ../shared/REFERENCE_RESULTS.md.
TDMPC2 = {
    "dmc/cartpole-swingup": (839, 876, 876),
    "dmc/reacher-easy": (937, 919, 983),
    "dmc/walker-walk": (962, 979, 980),
    "dmc/cheetah-run": (519, 758, 844),
    "dmc/finger-spin": (948, 985, 986),
    "dmc/cup-catch": (981, 985, 986),
    "dmc/pendulum-swingup": (724, 842, 819),
    "dmc/reacher-hard": (414, 914, 981),
    "dmc/walker-run": (723, 820, 842),
}
TDMPC2_STEPS = (100_000, 500_000, 1_000_000)
# The first learner (PPO-style segment actor), same command and seed, 3 episodes per point:
# ../shared/REFERENCE_RESULTS.md, "This project's learner before the off-policy actor".
FIRST_LEARNER = {
    "dmc/cartpole-swingup": ((10_000, 20_000, 30_000, 40_000, 50_000), (251, 439, 385, 410, 366))
}


class Results:
    """The benchmark's JSON: written atomically after every evaluation."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.data = {"meta": meta, "evals": []}
        if path.is_file():
            old = json.loads(path.read_text())
            self.data["evals"] = old.get("evals", [])
            self.data["meta"] = {**old.get("meta", {}), **meta}

    def add(self, record: dict) -> None:
        """Add one evaluation, replacing any of the same task, seed, env steps and config.

        Re-reads the file first, keeping what another process saved there, then saves.
        """
        if self.path.is_file():  # another process may have added its own evaluations
            self.data["evals"] = json.loads(self.path.read_text()).get("evals", [])
        ev = self.data["evals"]
        key = (record["task"], record["seed"], record["env_steps"], record["config"])
        ev[:] = [e for e in ev if (e["task"], e["seed"], e["env_steps"], e["config"]) != key]
        ev.append(record)
        self.save()

    def save(self) -> None:
        """Write the JSON atomically (temporary file, then rename)."""
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def run_one(task: str, seed: int, args, results: Results, label: str, config: str) -> None:
    """Train one agent on `task` with `seed`, adding every evaluation to `results` as it comes.

    Args:
        task: the single training task; dmc/ tasks use action repeat 2.
        seed: training seed.
        args: the parsed command line (budget, evaluation, threads, overrides, output).
        results: the benchmark JSON.
        label: the configuration's name in the JSON.
        config: path of the train config; any other than `--config` gets model.task_dim=0.
    """
    from m3po_learning.config import load_config
    from m3po_learning.training.online import build_trainer

    repeat = 2 if task.startswith("dmc/") else 1  # env steps per agent step
    agent_steps = args.env_steps // repeat
    every = max(1, args.eval_every // repeat)
    run_dir = Path(args.out) / "runs" / f"{label}_{task.replace('/', '_')}_s{seed}"
    extra = [] if config == args.config else ["model.task_dim=0"]
    cfg = load_config(
        config,
        [
            *extra,
            f"train.tasks=[{task}]",
            f"train.steps={agent_steps}",
            f"train.eval_every={every}",
            f"train.checkpoint_every={every}",
            f"train.eval_episodes={args.episodes}",
            f"train.seed={seed}",
            f"train.num_threads={args.threads}",
            "train.tensorboard=false",
            *args.overrides,
        ],
    )
    trainer = build_trainer(cfg, run_dir, progress=not args.no_progress, resume=True)
    t0 = time.time()

    def record(step: int, means: dict, episodes: dict) -> None:
        results.add(
            {
                "task": task,
                "seed": seed,
                "config": label,
                "env_steps": repeat * step,
                "agent_steps": step,
                "return": means[task],
                "episode_returns": episodes.get(task, []),
                "wall_s": time.time() - t0,
            }
        )
        print(f"{label} {task} seed {seed}: {repeat * step} env steps -> {means[task]:.1f}")

    trainer.on_evaluate = record
    trainer.train()


def plot(results: Results, out_png: Path) -> None:
    """Plot mean return against env steps per task and config, beside the reference points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    evals = results.data["evals"]
    tasks = sorted({e["task"] for e in evals})
    if not tasks:
        return
    cols = min(3, len(tasks))
    rows = (len(tasks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for label in sorted({e["config"] for e in evals if e["task"] == task}):
            pts = [e for e in evals if e["task"] == task and e["config"] == label]
            steps = sorted({e["env_steps"] for e in pts})
            mean = [np.mean([e["return"] for e in pts if e["env_steps"] == s]) for s in steps]
            ax.plot(steps, mean, "o-", label=label)
        if task in FIRST_LEARNER:
            ax.plot(*FIRST_LEARNER[task], "s--", color="gray", label="first learner (before)")
        if task in TDMPC2:
            xmax = max(100_000, max(e["env_steps"] for e in evals if e["task"] == task))
            pub = [(s, v) for s, v in zip(TDMPC2_STEPS, TDMPC2[task], strict=True) if s <= xmax]
            if pub:
                ax.plot(*zip(*pub, strict=True), "k*", ms=12, label="TD-MPC2 5M (published)")
        ax.set_title(task)
        ax.set_xlabel("env steps")
        n_ep = {len(e["episode_returns"]) for e in evals if e["task"] == task}
        ax.set_ylabel(f"return ({'/'.join(map(str, sorted(n_ep)))} episodes)")
        if task.startswith("dmc/"):
            ax.set_ylim(0, 1000)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    print(f"wrote {out_png}")


def main() -> int:
    """Run every seed, task and configuration (unless `--plot-only`) and redraw the plot."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", default="dmc/cartpole-swingup,dmc/pendulum-swingup")
    p.add_argument("--env-steps", type=int, default=100_000, help="env steps per run")
    p.add_argument("--seeds", default="1", help="comma-separated seeds")
    p.add_argument("--eval-every", type=int, default=10_000, help="env steps between evals")
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes per point")
    p.add_argument("--config", default=str(ROOT / "config" / "train" / "single_task.yaml"))
    p.add_argument("--label", default="m3po", help="name of this configuration in the JSON")
    p.add_argument("--configs", help="comma-separated config/train names to compare")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = auto)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "dmc"))
    p.add_argument("--plot-only", action="store_true", help="only redraw the plot from JSON")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": cpu_name(), "protocol": "action repeat 2, 1000-step episodes"}
    results = Results(out / "dmc.json", meta if not args.plot_only else {})
    runs = [(args.label, args.config)]
    if args.configs:
        train_dir = ROOT / "config" / "train"
        runs = [(c.strip(), str(train_dir / f"{c.strip()}.yaml")) for c in args.configs.split(",")]
    if not args.plot_only:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
                for label, config in runs:
                    run_one(task, seed, args, results, label, config)
                    plot(results, out / "dmc.png")
    plot(results, out / "dmc.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
