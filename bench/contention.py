"""The controller beside CPU-bound processes: does it stay on time when the computer is busy?

A robot's computer is rarely idle: a training run, a perception stack or a compile shares the
cores with the controller. This bench runs the 100 Hz closed loop of bench_ros_latency.py
(sim node + controller node over DDS, planner with 60% of the period) once on an idle
machine and once beside N CPU-bound processes (`--burners`, default 2: one per core here),
each with the shipped real-time settings (SCHED_FIFO where permitted, GC between ticks)
and with them switched off (`realtime_priority: 0`, `manage_gc: false`), so the JSON says
what each setting buys. The burners start before the nodes and run until they stop.

    PYTHONPATH=src python bench/contention.py                 # ~2.5 minutes
    PYTHONPATH=src python bench/contention.py --seconds 60    # longer windows
Writes bench/results/contention.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402
from bench_ros_latency import DEFAULT_CHECKPOINT, PLANNER_OVERRIDES, REPO, Probe, run_config  # noqa: E402

SETTINGS = {
    "shipped": {},  # config/ros/controller.yaml: SCHED_FIFO 50, GC between ticks
    "plain": {"realtime_priority": 0, "manage_gc": False},
}
BURN = [sys.executable, "-c", "while True: pass"]


def measure(probe, ckpt: Path, burners: int, setting: str, seconds: float, logs: Path) -> dict:
    """One 100 Hz planner run beside `burners` CPU-bound processes with `setting`."""
    procs = [subprocess.Popen(BURN) for _ in range(burners)]
    try:
        r = run_config(
            probe, ckpt, 100.0, True, seconds, logs, PLANNER_OVERRIDES, SETTINGS[setting]
        )
    finally:
        for p in procs:
            p.kill()
            p.wait()
    r.update(burners=burners, setting=setting)
    return r


def main() -> None:
    """Run idle and loaded, shipped and plain settings; print one line each; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    ap.add_argument("--burners", type=int, default=2, help="CPU-bound processes beside it")
    ap.add_argument("--settings", default="shipped,plain", help=f"of {sorted(SETTINGS)}")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "contention.json"))
    args = ap.parse_args()
    settings = args.settings.split(",")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        ap.error(f"unknown --settings {unknown}; choose from {sorted(SETTINGS)}")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 50))
    logs = Path(tempfile.mkdtemp(prefix="contention_logs_"))
    probe = Probe()
    runs = []
    try:
        for burners in (0, args.burners):
            for setting in settings:
                r = measure(probe, Path(args.checkpoint), burners, setting, args.seconds, logs)
                runs.append(r)
                print(
                    f"burners {burners} {setting:8s} | tick->cmd p50 "
                    f"{r['tick_to_command_ms_p50']:.2f} p99 {r['tick_to_command_ms_p99']:.2f} "
                    f"max {r['tick_to_command_ms_max']:.2f} ms | missed {r['missed_ticks']} "
                    f"overruns {r['overruns']} / {r['ticks']} ticks | planner iterations "
                    f"{r['planner_iterations_mean']:.2f} | gaps>15ms "
                    f"{r['subscriber_gaps_over_1.5_periods']} | {r['realtime']}",
                    flush=True,
                )
    finally:
        probe.close()
    result = {
        "machine": {
            "cpu": cpu_name(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "rate_hz": 100.0,
        "planner_overrides": PLANNER_OVERRIDES,
        "settings": {k: SETTINGS[k] for k in settings},
        "runs": runs,
    }
    save_result(result, args.out, "contention.py", None, echo=False)


if __name__ == "__main__":
    main()
