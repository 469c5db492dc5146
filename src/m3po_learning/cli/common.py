"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_config_args(p: argparse.ArgumentParser) -> None:
    """Add `--config FILE` and the positional KEY=VALUE overrides to `p`."""
    p.add_argument(
        "--config",
        metavar="FILE|NAME",
        type=config_path,
        help="YAML config with overrides of the defaults: a file, or a name in config/train/ "
        "(m3po, no_bonus, single_task, ...)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted config overrides, e.g. planner.num_samples=256 train.steps=5000",
    )


def train_configs() -> list[str]:
    """Names of the shipped training configs (config/train/*.yaml)."""
    from m3po_learning.paths import config_dir

    return sorted(p.stem for p in (config_dir() / "train").glob("*.yaml"))


def config_path(value: str) -> str:
    """Argparse type for --config: an existing file as given, else a config/train/ name.

    From any directory, `--config m3po` is config/train/m3po.yaml. Anything else is refused
    naming the nearest shipped configs.
    """
    import difflib

    from m3po_learning.paths import config_dir

    path = Path(value)
    if path.is_file():
        return value
    if path.suffix not in (".yaml", ".yml") and "/" not in value:
        named = config_dir() / "train" / f"{value}.yaml"
        if named.is_file():
            return str(named)
    names = train_configs()
    near = difflib.get_close_matches(path.stem, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    raise argparse.ArgumentTypeError(
        f"{value!r} is neither a file nor a config in {config_dir() / 'train'} "
        f"({', '.join(names)}){hint}"
    )


def task_list(value: str) -> list[str]:
    """Argparse type for --tasks: 'a/b,c/d' -> ['a/b', 'c/d']."""
    return [t.strip() for t in value.split(",") if t.strip()]
