"""Controller latency over ROS 2 (DDS between processes) and budgeted vs unbudgeted planning.

For each control rate (50, 100, 200 Hz) and mode (policy only; planner with a budget of 60%
of the period) it starts a sim node and a controller node as separate processes, lets them
run closed loop, and reads the controller's own /diagnostics:
  sensor_to_command_ms  joint_states arrival in the node -> command published (includes the
                        wait for the next timer tick, up to one period)
  tick_to_command_ms    timer tick -> command published (the node's compute latency)
  act_ms                time inside agent.act()
  node_overhead_ms      tick_to_command minus act: what the node adds around the model
  missed_ticks          timer periods that were skipped; overruns: ticks longer than the period
Percentiles cover every tick since the controller activated; missed ticks and overruns are
counted in the measured window, with those of the start-up second reported on their own.
The controller runs with the shipped config/ros/controller.yaml (SCHED_FIFO priority 50
where permitted, garbage collection between ticks).
It also counts command inter-arrival gaps > 1.5 periods on the subscriber side. Then, offline
(no ROS), it compares the return of planning under the 100 Hz budget (6 ms) with unbudgeted
planning on the same seeds.

    PYTHONPATH=src python bench/bench_ros_latency.py            # short: ~2 minutes
    PYTHONPATH=src python bench/bench_ros_latency.py --minutes 10   # soak at 100 Hz
Writes bench/results/ros_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "test" / "m3po_ros" / "fixtures" / "arm2_reach_tiny"
CONTROLLER_PARAMS = REPO / "config" / "ros" / "controller.yaml"
TASK = "arm2/reach"
# A planner sized for a 6 ms budget on a 2-core CPU (the fixture was trained with 128 samples).
PLANNER_OVERRIDES = "planner.num_samples=32 planner.num_pi_trajs=8 planner.num_elites=8"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    return env


def _start(
    module: str, params: dict, log: Path, params_file: Path | None = None
) -> subprocess.Popen:
    args = [sys.executable, "-m", f"m3po_ros.{module}", "--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for k, v in params.items():
        args += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
    return subprocess.Popen(args, env=_env(), stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Probe:
    """Subscriber process side: command arrival times and the controller's diagnostics."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import Float64MultiArray

        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("latency_probe")
        self.arrivals: list[float] = []
        self.control: dict[str, str] = {}
        self.node.create_subscription(
            Float64MultiArray,
            "joint_commands",
            lambda m: self.arrivals.append(time.monotonic()),
            100,
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.rclpy.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except ExternalShutdownException:
            pass

    def _on_diag(self, msg) -> None:
        for s in msg.status:
            if s.name.endswith(": control"):
                self.control = {kv.key: kv.value for kv in s.values}

    def close(self) -> None:
        """Shut rclpy down and join the spin thread (2 s timeout)."""
        self.rclpy.shutdown()
        self._thread.join(timeout=2)


def run_config(
    probe: Probe,
    ckpt: Path,
    rate_hz: float,
    planner: bool,
    seconds: float,
    logs: Path,
    planner_overrides: str,
    controller_params: dict | None = None,
) -> dict:
    """Run a sim node and a controller node closed loop for `seconds` and read its diagnostics.

    Args:
        probe: subscriber collecting command arrivals and the controller's diagnostics.
        ckpt: checkpoint the controller loads.
        rate_hz: control rate, Hz (the sim's real-time factor is `rate_hz * 0.02`).
        planner: plan with a budget of 60% of the period; else policy only.
        seconds: length of the measured window, after the controller has ticked for 1 s.
        logs: directory for the node logs.
        planner_overrides: planner settings for the controller.
        controller_params: extra controller parameters (e.g. realtime_priority: 0).

    Returns:
        Latency percentiles (ms), missed ticks and overruns in the window and at start-up,
        GC statistics and subscriber-side command gaps.
    """
    tag = f"{int(rate_hz)}hz_{'planner' if planner else 'policy'}"
    sim = _start(
        "sim_node",
        {
            "task": TASK,
            "real_time_factor": rate_hz * 0.02,
            "publish_clock": False,
            "randomize": False,
        },
        logs / f"sim_{tag}.log",
    )
    ctl = _start(
        "controller_node",
        {
            "checkpoint": str(ckpt),
            "task": TASK,
            "autostart": True,
            "use_planner": planner,
            "planner_budget_fraction": 0.6,
            "control_rate_hz": float(rate_hz),
            "diagnostics_period_s": 0.5,
            "sensor_timeout_s": 0.2,
            "planner_overrides": f"'{planner_overrides}'",
            **(controller_params or {}),
        },
        logs / f"controller_{tag}.log",
        CONTROLLER_PARAMS,  # the shipped settings (real-time priority, GC between ticks)
    )
    # Configure + activate from outside, as the launch files do (m3po_ros.autostart).
    driver = subprocess.Popen(
        [sys.executable, "-m", "m3po_ros.autostart", "--node", "/controller"],
        env=_env(),
        stdout=open(logs / f"autostart_{tag}.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        probe.control = {}
        deadline = time.monotonic() + 90
        while probe.control.get("active") != "True" or float(probe.control["ticks"]) < rate_hz:
            if time.monotonic() > deadline or ctl.poll() is not None:
                raise RuntimeError(f"controller did not start; see {logs}/controller_{tag}.log")
            time.sleep(0.1)
        start = {k: int(probe.control[k]) for k in ("ticks", "missed_ticks", "overruns")}
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
        time.sleep(0.7)  # one more diagnostics message covering the window
        d = dict(probe.control)
    finally:
        _stop(driver)
        _stop(ctl)
        _stop(sim)
    period = 1.0 / rate_hz
    arr = np.array([t for t in probe.arrivals if t0 <= t <= t1])
    gaps = np.diff(arr) if len(arr) > 1 else np.array([])
    ticks = int(d["ticks"]) - start["ticks"]
    # Counted inside the measured window; what happened while the nodes were still
    # discovering each other (the first second of ticks) is reported on its own.
    missed = int(d["missed_ticks"]) - start["missed_ticks"]
    overruns = int(d["overruns"]) - start["overruns"]

    def f(key: str) -> float:
        return float(d[key])

    out = {
        "rate_hz": rate_hz,
        "mode": "planner_budget_60pct" if planner else "policy",
        "seconds": seconds,
        "ticks": ticks,
        # Percentiles over every tick since activation (10 us bins), not a recent window.
        "sensor_to_command_ms_p50": f("latency_ms_p50_since_activate"),
        "sensor_to_command_ms_p99": f("latency_ms_p99_since_activate"),
        "sensor_to_command_ms_max": f("latency_ms_max_since_activate"),
        "tick_to_command_ms_p50": f("compute_ms_p50_since_activate"),
        "tick_to_command_ms_p99": f("compute_ms_p99_since_activate"),
        "tick_to_command_ms_max": f("compute_ms_max_since_activate"),
        "act_ms_p50": f("act_ms_p50_since_activate"),
        "act_ms_p99": f("act_ms_p99_since_activate"),
        "node_overhead_ms_p50": f("overhead_ms_p50_since_activate"),
        "node_overhead_ms_p99": f("overhead_ms_p99_since_activate"),
        "node_overhead_ms_max": f("overhead_ms_max_since_activate"),
        "budget_ms": f("budget_ms") if planner else None,
        "planner_iterations_mean": f("planner_iterations_mean") if planner else 0.0,
        "missed_ticks": missed,
        "overruns": overruns,
        "missed_deadline_rate": (missed + overruns) / max(ticks + missed, 1),
        "startup_missed_ticks": start["missed_ticks"],
        "startup_overruns": start["overruns"],
        "realtime": d.get("realtime"),
        "gc_managed": d.get("gc_managed") == "True",
        "gc_collections": int(d.get("gc_collections", 0)),
        "gc_ms_max": float(d.get("gc_ms_max", "nan")),
        "subscriber_gaps_over_1.5_periods": int((gaps > 1.5 * period).sum()),
        "subscriber_max_gap_ms": float(gaps.max() * 1000) if len(gaps) else None,
    }
    return out


def budgeted_vs_unbudgeted(
    ckpt: Path, seeds: list[int], budget_ms: float, overrides: list[str]
) -> dict:
    """Offline (no ROS): mean return of planning under `budget_ms` against unbudgeted planning.

    Args:
        ckpt: checkpoint to load (CPU, one torch thread).
        seeds: one episode of TASK per seed, the same seeds for both.
        budget_ms: the planner deadline per act() call, ms.
        overrides: planner config overrides applied to the checkpoint.

    Returns:
        Per-mode returns, mean and planner iterations; `ratio` is budgeted / unbudgeted.
    """
    import torch

    from m3po_learning.checkpoint import load_agent
    from m3po_learning.envs import make_env

    torch.set_num_threads(1)
    agent = load_agent(ckpt, device="cpu", overrides=overrides)
    env = make_env(TASK, 0)
    result = {}
    for name, budget in (("unbudgeted", None), ("budgeted", budget_ms)):
        returns, iters = [], []
        for seed in seeds:
            obs, _ = env.reset(seed)
            agent.reset_warm_start()
            total = 0.0
            for _ in range(env.spec.episode_length):
                out = agent.act(
                    agent.pad_obs(obs, TASK)[None],
                    [TASK],
                    explore=False,
                    use_planner=True,
                    budget_ms=budget,
                )
                iters.append(out.iterations)
                obs, reward, _, _, _ = env.step(out.action[0, : env.spec.action_dim])
                total += reward
            returns.append(total)
        result[name] = {
            "returns": returns,
            "mean": float(np.mean(returns)),
            "planner_iterations_mean": float(np.mean(iters)),
        }
    result["budget_ms"] = budget_ms
    result["ratio"] = result["budgeted"]["mean"] / max(result["unbudgeted"]["mean"], 1e-9)
    return result


def main() -> None:
    """Measure every rate and mode over ROS, compare budgeted returns and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--seconds", type=float, default=8.0, help="run time per configuration")
    ap.add_argument("--rates", default="50,100,200", help="control rates, Hz")
    ap.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="soak: run 100 Hz policy and planner for this many minutes each",
    )
    ap.add_argument("--seeds", type=int, default=4, help="episodes for the return comparison")
    ap.add_argument(
        "--planner-overrides",
        default=PLANNER_OVERRIDES,
        help="planner settings for the controller and the return comparison",
    )
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ros_latency.json"))
    args = ap.parse_args()
    # This process and the nodes it starts: loopback only, a domain of their own.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    ckpt = Path(args.checkpoint)
    logs = Path(tempfile.mkdtemp(prefix="ros_latency_logs_"))  # node logs, if one fails
    if args.minutes > 0:
        rates, seconds = [100.0], args.minutes * 60.0
    else:
        rates, seconds = [float(r) for r in args.rates.split(",")], args.seconds
    probe = Probe()
    configs = []
    try:
        for rate in rates:
            for planner in (False, True):
                r = run_config(probe, ckpt, rate, planner, seconds, logs, args.planner_overrides)
                configs.append(r)
                print(
                    f"{int(rate):4d} Hz {r['mode']:22s} sensor->cmd p50 "
                    f"{r['sensor_to_command_ms_p50']:.2f} p99 {r['sensor_to_command_ms_p99']:.2f}"
                    f" ms | act p50 {r['act_ms_p50']:.2f} p99 {r['act_ms_p99']:.2f} | node "
                    f"overhead p99 {r['node_overhead_ms_p99']:.2f} ms | missed {r['missed_ticks']}"
                    f" overruns {r['overruns']} / {r['ticks']} ticks (start-up: missed "
                    f"{r['startup_missed_ticks']} overruns {r['startup_overruns']}) | "
                    f"GC max {r['gc_ms_max']:.2f} ms | {r['realtime']}",
                    flush=True,
                )
    finally:
        probe.close()
    seeds = list(range(1000, 1000 + args.seeds))
    ret = budgeted_vs_unbudgeted(ckpt, seeds, 0.6 * 10.0, args.planner_overrides.split())
    print(
        f"return: budgeted ({ret['budget_ms']} ms) {ret['budgeted']['mean']:.1f} vs "
        f"unbudgeted {ret['unbudgeted']['mean']:.1f} -> {100 * ret['ratio']:.0f}%"
    )
    result = {
        "checkpoint": str(ckpt),
        "task": TASK,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1min": os.getloadavg()[0],
        },
        "soak_minutes": args.minutes,
        "planner_overrides": args.planner_overrides,
        "configs": configs,
        "budgeted_vs_unbudgeted": ret,
    }
    out = Path(args.out)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
