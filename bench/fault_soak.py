"""Fault-injection soak: the controller against a misbehaving robot process, over DDS.

Three processes: the controller (`python -m m3po_ros.controller_node`, shipped
config/ros/controller.yaml, 100 Hz, planner on), its autostart helper, and
`bench/fault_robot.py`, which plays the robot and cycles through its FAULTS (NaN states,
joint order, missing/extra joints, silence, bursts, stamps, duplicates, a goal in the wrong
frame, good/corrupt checkpoint swaps, task switches, e-stop and reset, overspeed, a budget far
too small, two CPU-bound processes). This script samples the controller's memory, then judges
the robot's log:

    crashes                   the controller must still run at the end and stop cleanly
    bad_commands              NaN/Inf, beyond the URDF effort limits, wrong length or layout
    commands_during_estop     non-zero commands from one tick after the e-stop to the reset
    estop_resets_refused      resets that failed although no 'true' came for 0.5 s
    watchdog_late             stale windows whose first zero command after (last state +
                              sensor_timeout_s) came more than one tick later (ms reported)
    overspeed_accelerating    commands pushing a joint further past its velocity limit
    rss_growth                controller memory growth after warm-up (< 5%)
    command gaps              inter-arrival gaps over 1.5 periods, by the fault they fell in

The safety layer runs with max_effort_rate 1e6 so its safe command is exactly zero on its
first tick; the rate limit itself is tested in test_safety.py / test_controller_node.py.

    PYTHONPATH=src python bench/fault_soak.py --seconds 1020     # >= 100,000 ticks at 100 Hz
    PYTHONPATH=src python bench/fault_soak.py --seconds 30       # the make-test version
Writes bench/results/fault_soak.json (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import save_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "test" / "m3po_ros" / "fixtures" / "arm2_reach_tiny"
CONTROLLER_PARAMS = REPO / "config" / "ros" / "controller.yaml"
RATE_HZ = 100.0
SENSOR_TIMEOUT_S = 0.1
PLANNER_OVERRIDES = "planner.num_samples=32 planner.num_pi_trajs=8 planner.num_elites=8"
RSS_GROWTH_MAX = 0.05


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


def _popen(args: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT)


def rss_kib(pid: int) -> int | None:
    """Resident set size of process `pid`, KiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_soak(seconds: float, work: Path, seed: int = 0) -> dict:
    """Run the three processes for `seconds` of faults; return the judged result."""
    roots = work / "roots"
    roots.mkdir(parents=True)
    good = shutil.copytree(CHECKPOINT, roots / "good")
    corrupt = shutil.copytree(CHECKPOINT, roots / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    params = {
        "checkpoint": str(CHECKPOINT),
        "task": "arm2/reach",
        "control_rate_hz": RATE_HZ,
        "checkpoint_roots": str(roots),
        "planner_overrides": PLANNER_OVERRIDES,
        "sensor_timeout_s": SENSOR_TIMEOUT_S,
        "max_effort_rate": 1e6,
        "diagnostics_period_s": 0.2,
    }
    ctl_args = [sys.executable, "-m", "m3po_ros.controller_node", "--ros-args"]
    ctl_args += ["--params-file", str(CONTROLLER_PARAMS)]
    for k, v in params.items():
        ctl_args += ["-p", f"{k}:={v}"]
    ctl = _popen(ctl_args, work / "controller.log")
    auto = _popen(
        [sys.executable, "-m", "m3po_ros.autostart", "--node", "/controller"],
        work / "autostart.log",
    )
    robot_log = work / "robot.json"
    robot_args = [sys.executable, str(REPO / "bench" / "fault_robot.py")]
    robot_args += ["--seconds", str(seconds), "--log", str(robot_log), "--seed", str(seed)]
    robot_args += ["--good", str(good), "--corrupt", str(corrupt)]
    robot = _popen(robot_args, work / "robot.log")
    rss: list[tuple[float, int]] = []
    t0 = time.monotonic()
    try:
        while robot.poll() is None:
            kib = rss_kib(ctl.pid)
            if kib is not None:
                rss.append((time.monotonic() - t0, kib))
            time.sleep(1.0)
        alive = ctl.poll() is None
        robot_rc = robot.returncode
    finally:
        for p in (robot, auto):
            if p.poll() is None:
                p.kill()
                p.wait()
        if ctl.poll() is None:
            ctl.send_signal(signal.SIGINT)
            try:
                ctl.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ctl.kill()
                ctl.wait()
    if robot_rc != 0 or not robot_log.is_file():
        tail = (work / "robot.log").read_text()[-2000:]
        raise RuntimeError(f"fault robot failed (exit {robot_rc}): {tail}")
    log = json.loads(robot_log.read_text())
    result = judge(log, rss)
    result["controller_alive_at_end"] = alive
    result["controller_exit_code"] = ctl.returncode
    result["crashes"] = int(not alive)
    return result


def _window_at(windows: list[dict], t: float) -> str:
    """The fault whose window (with 50 ms before and 200 ms after) holds time `t`, or "calm"."""
    where = "calm"
    for w in windows:
        if w["t0"] - 0.05 <= t <= w["t1"] + 0.2:
            where = w["fault"]
    return where


def judge(log: dict, rss: list[tuple[float, int]]) -> dict:
    """The soak's figures from the robot's log and the controller's memory samples."""
    period = 1.0 / log["rate_hz"]
    cmd = np.array(log["commands"], float).reshape(-1, 5)
    t, u = cmd[:, 0], cmd[:, 1:3]
    effort_max = np.array(log["effort_max"])
    finite = np.all(np.isfinite(u), axis=1)
    beyond = np.any(np.abs(np.nan_to_num(u)) > effort_max + 1e-9, axis=1)
    bad_layout = (cmd[:, 3] == 0) | (cmd[:, 4] == 0)
    windows = log["windows"]
    by_fault: dict[str, int] = {}
    for w in windows:
        by_fault[w["fault"]] = by_fault.get(w["fault"], 0) + 1

    estop_nonzero, resets_refused = 0, 0
    for w in (w for w in windows if w["fault"] == "estop"):
        sel = (t > w["engaged"] + 2 * period + 0.01) & (t < w["reset_called"])
        estop_nonzero += int(np.sum(np.any(u[sel] != 0.0, axis=1)))
        resets_refused += int(not w.get("reset_ok", False))

    # Watchdog: the commands received after (last state + timeout) before the first zero
    # one. One is the tick in flight at the timeout, a second the next tick's: more is late.
    # Receive times carry the robot process's own scheduling jitter, hence counted in ticks.
    reactions, late_ticks = [], []
    for w in (w for w in windows if w["fault"] == "stale"):
        deadline = w["last_state"] + SENSOR_TIMEOUT_S
        after = np.flatnonzero(t > deadline)
        zero = after[np.all(u[after] == 0.0, axis=1)] if len(after) else after
        if not len(zero):
            reactions.append(float("inf"))
            late_ticks.append(10**6)
            continue
        reactions.append(float(t[zero[0]] - deadline))
        late_ticks.append(int(zero[0] - after[0]))
    late = [n for n in late_ticks if n > 1]

    overspeed_bad = 0
    for w in (w for w in windows if w["fault"] == "overspeed"):
        sel = (t > w["t0"] + 0.05) & (t < w["t1"])
        pushing = u[sel] * np.array(w["direction"]) > 1e-9
        overspeed_bad += int(np.sum(np.any(pushing, axis=1)))

    gaps = np.diff(t)
    big = np.flatnonzero(gaps > 1.5 * period)
    gap_faults: dict[str, int] = {}
    for i in big:
        where = _window_at(windows, t[i])
        gap_faults[where] = gap_faults.get(where, 0) + 1

    # Missed ticks and overruns by fault: the growth of the controller's counters between
    # consecutive diagnostics rows (0.2 s apart), charged to the window the row fell in.
    missed_by_fault: dict[str, list[int]] = {}
    prev = None
    for d in log["diagnostics"]:
        if d.get("missed_ticks") in (None, "") or d.get("overruns") in (None, ""):
            continue
        now = (int(d["missed_ticks"]), int(d["overruns"]))
        if prev is not None and now >= prev:
            where = _window_at(windows, d["t"])
            acc = missed_by_fault.setdefault(where, [0, 0])
            acc[0] += now[0] - prev[0]
            acc[1] += now[1] - prev[1]
        prev = now

    warm = [kib for s, kib in rss if s >= 0.2 * rss[-1][0]] if rss else []
    growth = (warm[-1] - warm[0]) / warm[0] if len(warm) > 1 else float("nan")
    diag = log["diagnostics"]
    last = diag[-1] if diag else {}
    shares = [float(d["planner_share"]) for d in diag if d.get("planner_share") not in (None, "")]
    levels = {}
    for d in diag:
        levels[d["message"].split(":")[0][:60]] = (
            levels.get(d["message"].split(":")[0][:60], 0) + 1
        )
    return {
        "commands": int(len(t)),
        "seconds": float(t[-1] - t[0]) if len(t) else 0.0,
        "ticks": int(last.get("ticks") or 0),
        "fault_windows": by_fault,
        "bad_commands": int(np.sum(~finite | beyond | bad_layout)),
        "nonfinite_commands": int(np.sum(~finite)),
        "commands_beyond_effort_limits": int(np.sum(beyond)),
        "commands_with_wrong_layout": int(np.sum(bad_layout)),
        "commands_during_estop": estop_nonzero,
        "estop_resets_refused": resets_refused,
        "watchdog_reaction_ms": [round(r * 1000.0, 2) for r in reactions],
        "watchdog_commands_before_zero": late_ticks,
        "watchdog_late": len(late),
        "overspeed_accelerating": overspeed_bad,
        "command_period_ms_p50": float(np.percentile(gaps, 50) * 1000.0) if len(gaps) else None,
        "command_gap_ms_max": float(gaps.max() * 1000.0) if len(gaps) else None,
        "command_gaps_over_1.5_periods": int(len(big)),
        "command_gaps_by_fault": gap_faults,
        "missed_ticks_overruns_by_fault": missed_by_fault,
        "rss_kib_first_last": [warm[0], warm[-1]] if warm else None,
        "rss_growth": growth,
        "missed_ticks": int(last.get("missed_ticks") or 0),
        "overruns": int(last.get("overruns") or 0),
        "swaps": int(last.get("swaps") or 0),
        "swap_errors": int(last.get("swap_errors") or 0),
        "input_frame_errors": int(last.get("input_frame_errors") or 0),
        "watchdog_trips": int(last.get("watchdog_trips") or 0),
        "planner_share_min_mean": [min(shares), float(np.mean(shares))] if shares else None,
        "status_messages": levels,
    }


def failures(r: dict, watchdog_ticks: int = 1) -> list[str]:
    """What the soak found wrong (empty: it passed).

    `watchdog_ticks`: commands allowed after the sensor timeout before the first zero one
    (1: the tick in flight; the soak's criterion).
    """
    out = []
    late = [n for n in r["watchdog_commands_before_zero"] if n > watchdog_ticks]
    checks = (
        ("crashes", r["crashes"] == 0),
        ("bad_commands", r["bad_commands"] == 0),
        ("commands_during_estop", r["commands_during_estop"] == 0),
        ("estop_resets_refused", r["estop_resets_refused"] == 0),
        ("watchdog_late", not late),
        ("overspeed_accelerating", r["overspeed_accelerating"] == 0),
        ("rss_growth", not (r["rss_growth"] >= RSS_GROWTH_MAX)),
        ("swap_errors (the corrupt ones)", r["swap_errors"] >= 1),
        ("swaps (the good ones)", r["swaps"] >= 1),
        ("input_frame_errors", r["input_frame_errors"] >= 1),
        ("watchdog_trips", r["watchdog_trips"] >= 1),
    )
    for name, ok in checks:
        if not ok:
            out.append(f"{name}: {r.get(name.split()[0])}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print and save the JSON; exit 1 when a check failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1020.0, help="of faults (100 Hz ticks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fault_soak.json"))
    ap.add_argument("--keep", help="keep the node logs and the robot's log in this directory")
    args = ap.parse_args(argv)
    if args.keep:
        work = Path(args.keep)
        if work.exists() and any(work.iterdir()):
            ap.error(f"--keep {work} exists and is not empty")
        result = run_soak(args.seconds, work, args.seed)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_soak(args.seconds, Path(tmp), args.seed)
    result["failures"] = failures(result)
    result["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
    }
    save_result(result, args.out, "fault_soak.py", argv)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
