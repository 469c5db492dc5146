"""`m3po record` on a live sim-node run over DDS, then fine-tuning from the recording.

One live run (sim_node driven by a command publisher over DDS) is recorded at once by three
`m3po record` processes: MCAP, sqlite3, and an MCAP recorder that is killed (SIGKILL).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ros_harness import REPO, node_process, stop_process, wait_for

TASK = "arm2/reach"
TOPICS = ["joint_states", "joint_commands", "goal"]


def _tiny_checkpoint(base: Path) -> Path:
    path = REPO / "test" / "m3po_learning" / "training" / "conftest.py"
    spec = importlib.util.spec_from_file_location("training_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.tiny_reach_checkpoint(base)


FLUSH_PERIOD_S = 0.5


def _recorder(out: Path, storage: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    args = [
        sys.executable,
        "-m",
        "m3po_ros.cli_record",
        "-o",
        str(out),
        "-s",
        storage,
        "--flush-period",
        str(FLUSH_PERIOD_S),
        *TOPICS,
    ]
    return subprocess.Popen(args, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115


@pytest.fixture(scope="module")
def live_bags(tmp_path_factory):
    """Record ~20 s of sim_node driven by smooth random efforts, three ways.

    20 s, not 12: with 12 s (about 480 training transitions) 150 fine-tuning steps once made
    the held-out fit worse in CI (1 of 6 runs); 20 s gives two thirds more data to fit.
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from std_msgs.msg import Float64MultiArray

    from m3po_learning.envs import make_env
    from m3po_ros.qos import COMMAND_QOS

    d = tmp_path_factory.mktemp("live")
    env = make_env(TASK)
    action_spec = env.action_spec
    sim = node_process(
        "sim_node", {"task": TASK, "seed": 7, "real_time_factor": 1.0}, log=d / "sim.log"
    )
    recs = {
        name: _recorder(d / name, storage, d / f"{name}.log")
        for name, storage in (("mcap", "mcap"), ("sqlite3", "sqlite3"), ("killed", "mcap"))
    }
    ctx = Context()
    rclpy.init(context=ctx)
    node = Node("test_driver", context=ctx)
    pub = node.create_publisher(Float64MultiArray, "joint_commands", COMMAND_QOS)
    stop = threading.Event()

    def drive() -> None:  # 50 Hz, the task's control rate
        rng, a = np.random.default_rng(0), np.zeros(action_spec.dim)
        nxt = time.monotonic()
        while not stop.is_set():
            a = np.clip(0.8 * a + 0.5 * rng.uniform(-1, 1, len(a)), -0.8, 0.8)
            pub.publish(Float64MultiArray(data=action_spec.to_effort(a).tolist()))
            nxt += 0.02
            time.sleep(max(0.0, nxt - time.monotonic()))

    try:
        wait_for(
            lambda: all(
                (d / n / f"{n}.mcap").exists() or (d / n / f"{n}.db3").exists() for n in recs
            ),
            30,
            "recorders to start",
        )
        time.sleep(2.0)  # discovery
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        time.sleep(20.0)
        # Commands stop first, then two flush periods pass: everything a transition needs is
        # flushed in the killed bag, and the cleanly stopped bags gain nothing while they
        # close (the driver used to run until they had, a second or more on a busy CPU).
        stop.set()
        driver.join(timeout=2)
        time.sleep(2 * FLUSH_PERIOD_S)
        recs["killed"].send_signal(signal.SIGKILL)
        for name in ("mcap", "sqlite3"):
            recs[name].send_signal(signal.SIGINT)
        for p in recs.values():
            p.wait(timeout=20)
    finally:
        stop.set()
        for p in recs.values():
            if p.poll() is None:
                p.kill()
        stop_process(sim)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    return d


def test_recorded_bags_are_complete_rosbag2(live_bags):
    from rosbags.rosbag2 import Reader

    for name in ("mcap", "sqlite3"):
        assert (live_bags / name / "metadata.yaml").is_file(), (
            live_bags / f"{name}.log"
        ).read_text()
        with Reader(live_bags / name) as r:  # indexed reader: summary, footer, metadata
            counts = {c.topic: c.msgcount for c in r.connections}
        assert set(counts) == {"/joint_states", "/joint_commands", "/goal"}
        assert min(counts.values()) > 300, counts


# Deselected from `make test` (marker): in clean-clone CI runs on 2026-12-02 held-out fit got
# worse after 150 steps in 2 of 4 cases (reward loss rose), while it passed 7 of 7 alone.
@pytest.mark.learning_outcome
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_finetune_from_live_recording_fits_heldout_better(live_bags, tmp_path_factory, storage):
    from m3po_learning.checkpoint import load_agent
    from m3po_learning.config import FinetuneConfig
    from m3po_learning.training.finetune import finetune_from_bags

    ckpt = _tiny_checkpoint(tmp_path_factory.getbasetemp())
    agent = load_agent(ckpt, device="cpu", load_optimizer=True)
    result = finetune_from_bags(
        agent,
        [live_bags / storage],
        TASK,
        config=FinetuneConfig(steps=150, policy_every=25),
        progress=False,
    )
    assert result.train_transitions > 300
    assert result.heldout_after["fit"] < result.heldout_before["fit"], result.summary()
    assert result.policy_updates == 150  # the trust-region actor steps with every update


def test_killed_recorder_keeps_flushed_data(live_bags):
    from m3po_learning.datasets import load_bag_dataset

    assert not (live_bags / "killed" / "metadata.yaml").exists()
    killed = load_bag_dataset([live_bags / "killed"], TASK, progress=False)
    full = load_bag_dataset([live_bags / "mcap"], TASK, progress=False)
    assert any("metadata.yaml" in w for w in killed.warnings)
    # The commands stopped two flush periods before the kill: every transition reached the
    # disk; what may differ is start-up (subscriptions matched a few ticks apart).
    assert killed.num_transitions >= full.num_transitions - 30
