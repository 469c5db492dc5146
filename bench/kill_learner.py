"""SIGKILL the learner node mid-checkpoint while a controller follows it: the robot runs on.

Four processes over DDS, as the train stack runs them: a sim robot, a controller that follows
the learner (`follow_learner`, `checkpoint_roots` = the learner's run directory), its
autostart helper, and `learner_node` training in-process with a checkpoint every 64 steps.
The learner is killed with SIGKILL `--kills` times and restarted (resume=true) each time.
Every other kill is aimed at a checkpoint write: the run's checkpoints/ directory is polled
every millisecond and the learner is killed the moment a temporary checkpoint appears; the
rest land at random moments. Checked throughout and at the end:
  - the controller never stops ticking (its tick counter grows between every two kills);
  - it never loads a damaged checkpoint (swap_errors), and the checkpoint it runs loads;
  - every checkpoint in the run directory loads; `latest` names one that loads;
  - each restart resumes from the latest checkpoint (the step never goes backwards by more
    than one checkpoint interval).

    PYTHONPATH=src python bench/kill_learner.py               # 10 kills, ~4 minutes
    PYTHONPATH=src python bench/kill_learner.py --kills 3     # the make-test version
Writes bench/results/kill_learner.json (--out). Exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import save_result  # noqa: E402
from kill_train import REPO, latest_step, writing_checkpoint  # noqa: E402

TASK = "arm2/reach"
EVERY = 64
TRAIN = [
    "model.preset=tiny", f"train.tasks=[{TASK}]", "train.steps=1000000", "train.seed_steps=64",
    f"train.checkpoint_every={EVERY}", "train.eval_every=0", "train.segment_steps=32",
    "train.utd=0.25", "train.num_threads=1", "train.device=cpu", "train.buffer_size=20000",
    "train.pretrain_updates=10", "train.tensorboard=false", "optim.batch_size=32",
    "planner.num_samples=32", "planner.iterations=1", "planner.num_elites=4",
    "planner.num_pi_trajs=4",
]  # fmt: skip


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO / "src"),
        OMP_NUM_THREADS="1",
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
    )


def _node(module: str, params: dict, log: Path, params_file: str | None = None):
    args = [sys.executable, "-m", f"m3po_ros.{module}", "--ros-args"]
    if params_file:
        args += ["--params-file", str(REPO / "config" / "ros" / params_file)]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    out = open(log, "a")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT)


class Probe:
    """The controller's /diagnostics values, as they arrive (a thread spins the node)."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("kill_learner_probe", context=self.context)
        self.control: dict[str, str] = {}
        self.history: list[tuple[float, dict]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_diag(self, msg) -> None:
        for s in msg.status:
            if s.name.endswith(": control"):
                self.control = {kv.key: kv.value for kv in s.values}
                self.history.append((time.monotonic(), self.control))

    def ticks(self) -> int:
        """The controller's tick counter in its last diagnostics (0 before the first)."""
        return int(self.control.get("ticks") or 0)

    def close(self) -> None:
        """Stop spinning and shut this probe's context down."""
        self._stop.set()
        self._thread.join(timeout=2)
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def check_checkpoints(run: Path) -> list[str]:
    """Problems with the run's checkpoints (empty: every one and `latest` load)."""
    from m3po_learning.checkpoint import CheckpointError, load_agent

    problems = []
    ckpts = run / "checkpoints"
    for d in sorted(p for p in ckpts.glob("step_*") if p.is_dir()):
        try:
            load_agent(d, device="cpu")
        except CheckpointError as exc:
            problems.append(f"{d.name}: {exc}")
    if (ckpts / "latest").is_file():
        try:
            load_agent(run, device="cpu")
        except CheckpointError as exc:
            problems.append(f"latest: {exc}")
    return problems


def run_kills(kills: int, work: Path, seed: int = 0, delay=(3.0, 8.0)) -> dict:
    """Kill and restart the learner `kills` times beside a following controller."""
    rng = np.random.default_rng(seed)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", str(200 + os.getpid() % 30))
    run, logs = work / "run", work / "logs"
    logs.mkdir(parents=True)
    ckpts = run / "checkpoints"
    probe = Probe()
    learner_params = {"out_dir": str(run), "overrides": f"'{' '.join(TRAIN)}'", "resume": True}
    procs = {
        "sim": _node(
            "sim_node", {"task": TASK, "publish_clock": False}, logs / "sim.log", "sim.yaml"
        ),
        "controller": _node(
            "controller_node",
            {
                "task": TASK, "follow_learner": True, "checkpoint_roots": str(run),
                "use_planner": False, "control_rate_hz": 50.0, "diagnostics_period_s": 0.25,
            },
            logs / "controller.log",
            "controller.yaml",
        ),
    }  # fmt: skip
    procs["autostart"] = subprocess.Popen(
        [sys.executable, "-m", "m3po_ros.autostart", "--node", "/controller"],
        env=_env(),
        stdout=open(logs / "autostart.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    rows, problems = [], []
    try:
        learner = _node("learner_node", learner_params, logs / "learner.log", "learner.yaml")
        _wait(lambda: probe.control.get("active") == "True", 240, "the controller to follow")
        for k in range(kills):
            aimed = k % 2 == 0
            ticks0, swaps0 = probe.ticks(), int(probe.control.get("swaps") or 0)
            step0 = latest_step(run)
            if aimed:  # the moment a checkpoint write starts (a temporary directory appears)
                deadline = time.monotonic() + 120
                while not writing_checkpoint(ckpts, learner.pid) and time.monotonic() < deadline:
                    time.sleep(0.001)
                caught = writing_checkpoint(ckpts, learner.pid)
            else:
                time.sleep(float(rng.uniform(*delay)))
                caught = writing_checkpoint(ckpts, learner.pid)
            learner.send_signal(signal.SIGKILL)
            learner.wait()
            step_at_kill = latest_step(run)
            time.sleep(1.0)  # the controller runs alone for a second
            ticks_alone = probe.ticks()
            found = check_checkpoints(run)
            problems += [f"after kill {k}: {p}" for p in found]
            learner = _node("learner_node", learner_params, logs / "learner.log", "learner.yaml")
            # wait for the restarted learner to write and announce a newer checkpoint
            _wait(lambda s=step_at_kill: latest_step(run) > s, 240, "a new checkpoint")
            time.sleep(0.5)  # its announcement reaches the controller
            rows.append(
                {
                    "kill": k,
                    "aimed_at_write": aimed,
                    "during_write": caught,
                    "latest_step_before": step0,
                    "latest_step_at_kill": step_at_kill,
                    "first_step_after_restart": latest_step(run),
                    "controller_ticks_before": ticks0,
                    "controller_ticks_1s_after_kill": ticks_alone,
                    "controller_kept_ticking": ticks_alone > ticks0,
                    "controller_swaps_before": swaps0,
                    "controller_checkpoint": probe.control.get("checkpoint"),
                    "problems": found,
                }
            )
        time.sleep(1.0)
        final = dict(probe.control)
    finally:
        for name in ("autostart", "sim"):
            procs[name].kill()
        if "learner" in locals():
            learner.kill()
            learner.wait()
        ctl = procs["controller"]
        alive = ctl.poll() is None
        if alive:
            ctl.send_signal(signal.SIGINT)
            try:
                ctl.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ctl.kill()
        for p in procs.values():
            p.wait()
        probe.close()
    problems += [f"at the end: {p}" for p in check_checkpoints(run)]
    current = final.get("checkpoint", "")
    if current:
        from m3po_learning.checkpoint import CheckpointError, load_agent

        try:
            load_agent(current, device="cpu")
        except CheckpointError as exc:
            problems.append(f"the controller's checkpoint {current}: {exc}")
    stalls = [r["kill"] for r in rows if not r["controller_kept_ticking"]]
    return {
        "kills": rows,
        "kills_during_a_write": sum(r["during_write"] for r in rows),
        "controller_alive_at_end": alive,
        "controller_stalled_after_kills": stalls,
        "controller_swaps": int(final.get("swaps") or 0),
        "controller_swap_errors": int(final.get("swap_errors") or 0),
        "controller_missed_ticks": int(final.get("missed_ticks") or 0),
        "controller_ticks": int(final.get("ticks") or 0),
        "final_latest_step": latest_step(run),
        "leftover_tmp_dirs": sorted(p.name for p in ckpts.glob(".*tmp-*")),
        "problems": problems,
    }


def failures(r: dict) -> list[str]:
    """What went wrong (empty: every check held)."""
    checks = {
        "controller alive": r["controller_alive_at_end"],
        "controller never stalled": not r["controller_stalled_after_kills"],
        "controller followed (swaps)": r["controller_swaps"] >= 1,
        "no damaged checkpoint loaded": r["controller_swap_errors"] == 0,
        "every checkpoint loads": not r["problems"],
    }
    return [name for name, ok in checks.items() if not ok]


def main(argv: list[str] | None = None) -> int:
    """Run the kills, print and save the JSON; exit 1 when a check failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "kill_learner.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_kills(args.kills, Path(tmp), args.seed)
    result["failures"] = failures(result)
    save_result(result, args.out, "kill_learner.py", argv)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
