"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse


def add_config_args(p: argparse.ArgumentParser) -> None:
    """Add `--config FILE` and the positional KEY=VALUE overrides to `p`."""
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config with overrides of the defaults (e.g. config/train/m3po.yaml)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted config overrides, e.g. planner.num_samples=256 train.steps=5000",
    )


def task_list(value: str) -> list[str]:
    """Argparse type for --tasks: 'a/b,c/d' -> ['a/b', 'c/d']."""
    return [t.strip() for t in value.split(",") if t.strip()]
