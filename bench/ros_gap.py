"""In-process against over-ROS return, per task: does deploying through ROS 2 cost return?

For every task of a checkpoint, `m3po bringup sim` runs the sim node and the controller
over DDS for `--duration` seconds and reports the closed-loop return beside the same
checkpoint evaluated in-process with the controller's planning budget (and the
controller's ticks, missed ticks and planner iterations per tick). Target: over-ROS >= 90%
of in-process at the same budget.

    PYTHONPATH=src python bench/ros_gap.py --checkpoint runs/demo --duration 20
Writes bench/results/ros_gap.json (--out).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OVER_ROS = re.compile(r" (\S+): (\d+) episodes over ROS, mean return (-?[\d.]+|nan)")
TIMING = re.compile(
    r"controller: (\d+) ticks, (\d+) missed .* planner ([\d.]+) iterations per tick .* "
    r"planned (\d+)% of ticks \(budget ([\d.]+) ms\)"
)
IN_PROCESS = re.compile(r"same checkpoint in-process .* episodes: (-?[\d.]+);")


def gap(checkpoint: str, task: str, duration: float) -> dict:
    """One task's bringup, parsed into numbers."""
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT / "src"),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID", str(os.getpid() % 100 + 100)),
    )
    cmd = [sys.executable, "-m", "m3po_learning.cli", "bringup", "sim", "--checkpoint",
           checkpoint, "--task", task, "--duration", str(duration)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 300)
    text = done.stdout + done.stderr
    ros, timing, local = OVER_ROS.search(text), TIMING.search(text), IN_PROCESS.search(text)
    if done.returncode != 0 or not (ros and timing and local):
        return {"error": f"exit {done.returncode}: {text[-1500:]}"}
    over, inproc = float(ros.group(3)), float(local.group(1))
    return {
        "episodes_over_ros": int(ros.group(2)),
        "over_ros": over,
        "in_process_same_budget": inproc,
        "ratio": over / inproc if inproc > 0 else None,
        "ticks": int(timing.group(1)),
        "missed_ticks": int(timing.group(2)),
        "planner_iterations_per_tick": float(timing.group(3)),
        "planned_share": int(timing.group(4)) / 100.0,
        "budget_ms": float(timing.group(5)),
    }


def main(argv: list[str] | None = None) -> int:
    """Every task of the checkpoint (or --tasks); print and save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "test/m3po_ros/fixtures/arm2_reach_tiny"))
    ap.add_argument("--tasks", help="comma-separated (default: the checkpoint's tasks)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds over ROS per task")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ros_gap.json"))
    args = ap.parse_args(argv)
    from m3po_learning.checkpoint import read_checkpoint

    tasks = (
        args.tasks.split(",") if args.tasks else read_checkpoint(args.checkpoint).metadata["tasks"]
    )
    result: dict = {"machine": cpu_name(), "checkpoint": args.checkpoint, "tasks": {}}
    for task in tasks:
        result["tasks"][task] = gap(args.checkpoint, task, args.duration)
        save_result(result, args.out, "ros_gap.py", argv, echo=False)
    ratios = [r["ratio"] for r in result["tasks"].values() if r.get("ratio") is not None]
    result["min_ratio"] = min(ratios) if ratios else None
    result["target_met"] = bool(ratios) and min(ratios) >= 0.9
    save_result(result, args.out, "ros_gap.py", argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
