"""`m3po finetune`: offline fine-tuning of a checkpoint from rosbag2 recordings."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    """Register `m3po finetune` on the subparsers action `sub`."""
    p = sub.add_parser(
        "finetune",
        help="fine-tune a checkpoint from rosbags (MCAP or sqlite3)",
        description="Read rosbag2 bags into transitions of TASK (the task's observation spec, "
        "recorded commands as actions, rewards recomputed), fine-tune the world model, critics "
        "and trust-region policy offline, and write a new checkpoint to OUT/checkpoints. "
        "Prints the held-out world-model loss before and after.",
        epilog="Overrides (KEY=VALUE) change runtime settings of the checkpoint's config, e.g. "
        "optim.lr=1e-4 optim.batch_size=128; model settings come from the checkpoint.",
    )
    p.add_argument(
        "--bag",
        action="append",
        required=True,
        metavar="PATH",
        help="bag directory, .mcap/.db3 file, or directory of bags (repeatable)",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="checkpoint directory or run directory (uses checkpoints/latest)",
    )
    p.add_argument(
        "--task",
        required=True,
        help="task the bags show, e.g. arm2/reach; a task "
        "the checkpoint lacks starts from the nearest task embedding",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output run directory")
    p.add_argument(
        "--steps", type=int, help="world-model gradient steps (default: finetune.steps, 500)"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="sub-trajectories per step (default: finetune.batch_size; 0: optim.batch_size)",
    )
    p.add_argument(
        "--policy-every",
        type=int,
        help="ppo actor: world-model steps between policy updates (default: "
        "finetune.policy_every, 25; 0: no policy)",
    )
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRAC",
        help="fraction of every episode held out for the reported loss "
        "(default: finetune.holdout_frac, 0.2)",
    )
    p.add_argument(
        "--topic-map", metavar="YAML", help="topic map (default config/topics/default.yaml)"
    )
    p.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="KEY=NAME",
        help="remap one topic, e.g. commands=/arm/joint_commands, inputs.goal=/arm/goal",
    )
    p.add_argument(
        "--joint-map",
        metavar="BAG=TASK,...",
        help="the robot's joint names onto the task's, e.g. j1=shoulder,j2=elbow "
        "(also joint_map in the topic map YAML)",
    )
    p.add_argument(
        "--rate-hz", type=float, help="controller rate (default: the bag's command rate)"
    )
    p.add_argument("--max-gap-s", type=float, help="gap that splits episodes (default: 4 ticks)")
    p.add_argument("--seed", type=int, help="sampling seed (default: finetune.seed, 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="runtime config overrides, e.g. optim.lr=1e-4 finetune.policy_windows=8",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune the checkpoint on the bags and print the summary (text or --json)."""
    from m3po_learning.datasets import AlignOptions, load_topic_map
    from m3po_learning.threads import configure_threads
    from m3po_learning.training.finetune import finetune_checkpoint

    configure_threads(0)  # one thread per idle core: fast alone, no collapse beside a job

    remaps = [*args.topic, *([f"joint_map={args.joint_map}"] if args.joint_map else [])]
    topic_map = load_topic_map(args.topic_map, remaps)
    options = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "policy_every": args.policy_every,
        "holdout_frac": args.holdout,
        "seed": args.seed,
    }
    # The options given replace those keys of the checkpoint's finetune section.
    config = {k: v for k, v in options.items() if v is not None}
    align = AlignOptions(rate_hz=args.rate_hz, max_gap_s=args.max_gap_s)
    result, path = finetune_checkpoint(
        args.checkpoint,
        args.bag,
        args.task,
        args.out,
        config=config,
        overrides=args.overrides,
        topic_map=topic_map,
        align=align,
        device=args.device,
        progress=not args.no_progress,
    )
    summary = result.summary()
    if args.json:
        print(json.dumps({**summary, "checkpoint": str(path)}, indent=1))
        return 0
    d = summary["data"]
    skipped = d.get("bags_skipped", 0)
    print(
        f"\nread {d.get('messages', 0)} messages from {d.get('bags', 0)} bag(s): "
        f"{d.get('transitions', 0)} transitions in {d.get('episodes', 0)} episodes "
        f"({d.get('read_s', 0.0):.2f} s)"
        + (f"; {skipped} bag(s) skipped (warnings above)" if skipped else "")
    )
    if result.nearest_task:
        print(f"new task {result.task}: embedding started from {result.nearest_task}")
    b, a = result.heldout_before, result.heldout_after
    if b:
        print(
            f"held-out world-model loss ({int(b['windows'])} windows, "
            f"{result.heldout_transitions} transitions):"
        )
        print(f"  {'':12} {'before':>10} {'after':>10}")
        for k in ("fit", "consistency", "reward_loss", "value_loss"):
            print(f"  {k:12} {b[k]:10.5f} {a[k]:10.5f}")
    print(
        f"{result.steps} steps, {result.policy_updates} policy updates in {result.elapsed_s:.1f} s"
    )
    print(f"checkpoint: {path}")
    return 0
