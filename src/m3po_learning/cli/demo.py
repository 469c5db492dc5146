"""`m3po demo`: train the default multi-task agent briefly, evaluate it, plot, report."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    """Register `m3po demo` on the subparsers action `sub`."""
    p = sub.add_parser(
        "demo",
        help="a few minutes of multi-task training, evaluation and a plot",
        description="Train the default multi-task agent on CPU for a few minutes, "
        "evaluate it against random actions, print a per-task table, save a plot.",
    )
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--config", default=None, help="config (default config/train/demo.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train briefly into --out, print returns beside random actions, save the plot."""
    from m3po_learning.cli.plot import plot_runs
    from m3po_learning.cli.train import print_returns
    from m3po_learning.config import load_config
    from m3po_learning.evaluation import random_returns
    from m3po_learning.paths import config_dir
    from m3po_learning.training.online import build_trainer

    cfg_path = args.config or config_dir() / "train" / "demo.yaml"
    cfg = load_config(cfg_path, args.overrides)
    out = Path(args.out)
    trainer = build_trainer(cfg, out, progress=True)
    final = trainer.train()
    baseline = random_returns(
        trainer.tasks, episodes=cfg.train.eval_episodes, seed=cfg.train.seed + 10_000
    )
    print_returns(
        final, f"M3PO after {trainer.step} environment steps (planner, deterministic)", baseline
    )
    png = plot_runs(
        [out],
        out / "learning_curve.png",
        ["m3po"],
        per_task=True,
        title="m3po demo: evaluation return",
    )
    print(f"\nplot: {png}\ncheckpoint: {trainer.ckpt_dir / 'latest'}")
    return 0
