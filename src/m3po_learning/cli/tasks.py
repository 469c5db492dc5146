"""`m3po tasks`: the tasks, task sets, reality-gap variants and training configs there are."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    """Register `m3po tasks` on the subparsers action `sub`."""
    p = sub.add_parser(
        "tasks",
        help="list tasks, task sets, reality-gap variants and training configs",
        description="List what --tasks, --task-set, --reality-gap and --config accept.",
    )
    p.add_argument("--dims", action="store_true", help="also build each task: obs/action sizes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the four lists; with --dims, each task's observation and action sizes."""
    from m3po_learning.cli.common import train_configs
    from m3po_learning.envs import list_tasks, load_task_set, make_env, reality_gap_variants
    from m3po_learning.paths import config_dir

    print("tasks:")
    for name in list_tasks():
        if args.dims:
            spec = make_env(name).spec
            print(f"  {name:24s} obs {spec.obs_dim:3d}  action {spec.action_dim}")
        else:
            print(f"  {name}")
    print("  (and any dm_control suite task as dmc/<domain>-<task>, any MetaWorld v3 task as")
    print("   mw/<task>-v3: `mt50` below lists them)")
    from m3po_learning.envs.byo import BYO_TASKS

    print(f"tasks of your own URDF (m3po train --robot URDF --task KIND): {', '.join(BYO_TASKS)}")
    print("task sets (config/tasks/):")
    for path in sorted((config_dir() / "tasks").glob("*.yaml")):
        try:
            names = load_task_set(path)
        except ImportError as exc:  # e.g. the MetaWorld sets where metaworld is not installed
            print(f"  {path.stem:14s} (unavailable: {exc})")
            continue
        shown = ", ".join(names if len(names) <= 10 else [*names[:6], f"... ({len(names)} tasks)"])
        print(f"  {path.stem:14s} {shown}")
    print("reality-gap variants (config/randomization/reality_gap.yaml):")
    for name in reality_gap_variants():
        print(f"  {name}")
    print("training configs (--config NAME, config/train/):")
    print(f"  {', '.join(train_configs())}")
    return 0
