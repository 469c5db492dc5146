"""`m3po train`: online multi-task training in MuJoCo."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from m3po_learning.cli.common import add_config_args, task_list


def add_parser(sub) -> None:
    """Register `m3po train` on the subparsers action `sub`."""
    p = sub.add_parser(
        "train",
        help="train one agent on many tasks",
        description="Train M3PO online on a task set; writes checkpoints, "
        "metrics.csv, eval.csv and TensorBoard logs to the run directory.",
    )
    add_config_args(p)
    p.add_argument("--out", metavar="DIR", help="run directory (default: train.out_dir)")
    p.add_argument(
        "--resume", action="store_true", help="continue from DIR/checkpoints/latest if present"
    )
    p.add_argument(
        "--tasks",
        type=task_list,
        metavar="TASK[,TASK...]",
        help="comma-separated task or task-set names (overrides train.tasks)",
    )
    p.add_argument(
        "--robot",
        metavar="URDF",
        help="bring your own robot: train on a task of "
        "this URDF (joint names and limits are read from it)",
    )
    p.add_argument(
        "--task",
        choices=("reach", "track", "hold", "pose", "swingup", "balance"),
        default="reach",
        help="task for --robot (default reach; hold: against pushes; pose: position and "
        "orientation, >= 6 joints; swingup/balance: the "
        "chain from the root to the end effector upright, gravity acting)",
    )
    p.add_argument(
        "--end-effector",
        metavar="LINK",
        help="link of --robot driven to the goal (default: the leaf link farthest down the chain)",
    )
    p.add_argument(
        "--gravity-compensation",
        choices=("on", "off"),
        help="--robot's simulation cancels gravity (on: a torque-mode arm whose driver, or "
        "the controller, compensates; default for reach/track/hold) or leaves it acting (off; "
        "default for swingup/balance); stored in the checkpoint, and the controller refuses "
        "a robot configured otherwise",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train (or resume) a run, print the final evaluation and the latest checkpoint."""
    from m3po_learning.config import load_config
    from m3po_learning.training.online import build_trainer

    cfg = load_config(args.config, args.overrides, {"train": train_values(args)})
    trainer = build_trainer(cfg, args.out, progress=not args.no_progress, resume=args.resume)
    with stop_on_signals(trainer):
        final = trainer.train()
    pointer = trainer.ckpt_dir / "latest"
    latest = f"{pointer} -> {pointer.read_text().strip()}"
    if trainer.stop_requested:
        print(
            f"m3po train: stopped at step {trainer.step}; checkpoint saved: {latest}\n"
            f"resume with: m3po train --out {trainer.out_dir} --resume (and the same options)",
            file=sys.stderr,
        )
        return 130
    print_returns(final, f"final evaluation at step {trainer.step}", success=trainer.last_success)
    print(f"checkpoint: {latest}")
    return 0


@contextlib.contextmanager
def stop_on_signals(trainer):
    """Ctrl-C (SIGINT) or SIGTERM (a cluster's preemption): stop soon and save a checkpoint.

    The first signal asks the trainer to stop after the piece of work in hand (it then saves
    replay and a checkpoint, as at the end of a run); a second Ctrl-C aborts at once.
    """

    def on_signal(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        print(
            f"m3po train: {signal.Signals(signum).name}: stopping at the next step and saving "
            "a checkpoint (Ctrl-C again aborts without saving)",
            file=sys.stderr,
            flush=True,
        )

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def train_values(args: argparse.Namespace) -> dict:
    """The `train` keys the options set, as config values (applied after KEY=VALUE).

    `--tasks` replaces train.tasks; `--robot` sets train.robots to that URDF's task (with
    `--end-effector` and `--gravity-compensation`) and, without `--tasks`, trains on it alone.
    """
    from m3po_learning.envs.registry import robot_entry

    values: dict = {}
    if args.tasks:
        values["tasks"] = list(args.tasks)
    if args.robot:
        values["robots"] = [
            robot_entry(
                args.robot,
                args.task,
                end_effector=args.end_effector,
                gravity_compensation=(
                    None
                    if args.gravity_compensation is None
                    else args.gravity_compensation == "on"
                ),
            )
        ]
        values.setdefault("tasks", [])
    elif args.end_effector or args.gravity_compensation is not None:
        raise ValueError("--end-effector and --gravity-compensation apply to --robot URDF")
    return values


def print_returns(
    returns: dict[str, float],
    title: str,
    baseline: dict | None = None,
    baseline_name: str = "random",
    success: dict[str, float] | None = None,
) -> None:
    """Print a per-task return table with a mean row, and a `baseline_name` column.

    With `success` (rates of the tasks that have one, e.g. MetaWorld), a success column, the
    normalised score per suite (DMControl return / 1000, MetaWorld success rate) and their
    mean follow, as in TD-MPC2's multi-task tables.
    """
    from m3po_learning.evaluation import normalised_scores, suite_of

    success = success or {}
    width = max([len(t) for t in returns] + [8])
    print(f"\n{title}")
    head = f"{'task':<{width}}  {'return':>9}"
    if baseline:
        head += f"  {baseline_name:>9}"
    if success:
        head += f"  {'success':>8}"
    print(head)
    print("-" * len(head))
    for task, ret in returns.items():
        line = f"{task:<{width}}  {ret:9.1f}"
        if baseline:
            line += f"  {baseline[task]:9.1f}" if task in baseline else " " * 11
        if task in success:
            line += f"  {success[task]:8.0%}"
        print(line)
    if returns:
        line = f"{'mean':<{width}}  {sum(returns.values()) / len(returns):9.1f}"
        if baseline:
            shared = [baseline[t] for t in returns if t in baseline]
            line += f"  {sum(shared) / max(len(shared), 1):9.1f}"
        print(line)
    scores = normalised_scores(returns, success)
    if scores:
        by_suite: dict[str, list[float]] = {}
        for t, v in scores.items():
            by_suite.setdefault(suite_of(t), []).append(v)
        parts = [f"{k} {sum(v) / len(v):.3f} ({len(v)} tasks)" for k, v in by_suite.items()]
        mean = sum(scores.values()) / len(scores)
        print(f"normalised score: {', '.join(parts)}; mean {mean:.3f}")
