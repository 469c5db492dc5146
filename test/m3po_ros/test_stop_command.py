"""Stopping the controller process leaves the robot at zero effort, not at the last command.

A ros2_control forward command controller (effort_controllers/JointGroupEffortController)
holds the last command it received for ever. So whatever ends the controller node - Ctrl-C
(SIGINT), `kill`/systemd/docker (SIGTERM), the end of `m3po bringup` - the last command it
publishes must be zero. Real processes, real signals, a real subscriber over DDS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import SHIPPED_REACH
from ros_harness import BRINGUP, REPO, autostart_process, node_process, stop_process, wait_for
from std_msgs.msg import Float64MultiArray

TASK = "arm2/reach"


def _moving(commands: list, n: int = 20) -> bool:
    """At least `n` commands arrived and some are non-zero (the policy is driving)."""
    return len(commands) >= n and any(np.any(np.asarray(m.data) != 0.0) for _, m in commands)


def _last_after(commands: list, t_signal: float) -> np.ndarray:
    after = [np.asarray(m.data) for t, m in commands if t >= t_signal]
    assert after, "no command arrived after the signal"
    return after[-1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_publishes_zero_before_exit(ros, tmp_path, sig):
    commands = ros.collect(Float64MultiArray, "joint_commands", 100)
    sim = node_process(
        "sim_node", {"task": TASK, "publish_clock": False, "seed": 0}, log=tmp_path / "sim.log"
    )
    ctl = node_process(
        "controller_node",
        {"checkpoint": str(SHIPPED_REACH), "task": TASK, "autostart": True,
         "use_planner": False, "control_rate_hz": 50.0},
        log=tmp_path / "controller.log",
    )  # fmt: skip
    driver = autostart_process("/controller", log=tmp_path / "autostart.log")
    try:
        wait_for(lambda: _moving(commands), 90, "the controller to drive the sim")
        t_signal = time.monotonic()
        ctl.send_signal(sig)
        assert ctl.wait(timeout=15) == 0, (tmp_path / "controller.log").read_text()[-2000:]
        time.sleep(0.3)  # anything still in flight arrives
        last = _last_after(commands, t_signal)
        assert np.all(last == 0.0), f"last command after {sig.name} was {last}"
        log = (tmp_path / "controller.log").read_text()
        assert "published the stop command (zero effort)" in log, log[-2000:]
    finally:
        for p in (driver, ctl, sim):
            stop_process(p)


def test_bringup_sigterm_publishes_zero(ros, tmp_path):
    """`m3po bringup control` (sim robot and controller in one process) stopped by SIGTERM."""
    commands = ros.collect(Float64MultiArray, "joint_commands", 100)
    sim = node_process(
        "sim_node", {"task": TASK, "publish_clock": False, "seed": 1}, log=tmp_path / "sim.log"
    )
    log = open(tmp_path / "bringup.log", "w")  # noqa: SIM115 - closed below
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    bringup = subprocess.Popen(
        [sys.executable, "-c", BRINGUP, "bringup", "control", "--checkpoint",
         str(SHIPPED_REACH), "--task", TASK],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: _moving(commands), 90, "the bringup controller to drive the sim")
        t_signal = time.monotonic()
        bringup.send_signal(signal.SIGTERM)
        assert bringup.wait(timeout=20) == 0, (tmp_path / "bringup.log").read_text()[-2000:]
        time.sleep(0.3)
        last = _last_after(commands, t_signal)
        assert np.all(last == 0.0), f"last command after SIGTERM was {last}"
    finally:
        log.close()
        stop_process(bringup)
        stop_process(sim)
