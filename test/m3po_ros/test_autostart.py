"""Autostart from outside the node: in-process (bringup) and over services (launch files)."""

from __future__ import annotations

import shutil
import time

from rclpy.parameter import Parameter
from ros_harness import (
    assert_imports_without_ros,
    autostart_process,
    get_state,
    stop_process,
    wait_for,
)
from std_msgs.msg import String

from m3po_ros.autostart import (
    OFF,
    START,
    WAIT,
    autostart,
    autostart_plan,
    node_name,
    resolve_topic,
)
from m3po_ros.controller_node import ControllerNode
from m3po_ros.qos import CHECKPOINT_QOS

TASK = "arm2/reach"


def controller(ros, name: str, **params) -> ControllerNode:
    values = {"task": TASK, "use_planner": False, **params}
    overrides = [Parameter(k, value=v) for k, v in values.items()]
    return ControllerNode(node_name=name, context=ros.context, parameter_overrides=overrides)


def test_plan():
    assert autostart_plan(False, "/ckpt", True) == OFF
    assert autostart_plan(True, "/ckpt", False) == START
    assert autostart_plan(True, "/ckpt", True) == START  # a checkpoint first, then follow
    assert autostart_plan(True, "", True) == WAIT
    assert autostart_plan(True, "", False) == START  # configure fails and says why


def test_names():
    assert node_name("", "controller") == "/controller"
    assert node_name("/robot_0/", "/controller") == "/robot_0/controller"
    assert node_name("arm", "robot_0/controller") == "/arm/robot_0/controller"
    assert resolve_topic("/m3po/checkpoint", "/a/controller") == "/m3po/checkpoint"
    assert resolve_topic("m3po/checkpoint", "/a/controller") == "/a/m3po/checkpoint"
    assert resolve_topic("m3po/checkpoint", "/controller") == "/m3po/checkpoint"
    assert resolve_topic("~/checkpoint", "/a/controller") == "/a/controller/checkpoint"


def test_the_node_itself_never_leaves_unconfigured(ros, random_checkpoint):
    node = ros.spin(controller(ros, "c", checkpoint=str(random_checkpoint), autostart=True))
    assert get_state(ros, "/c") == "unconfigured" and node.loop is None


def test_in_process_start_and_wait_for_the_learner(ros, random_checkpoint, tmp_path):
    off = controller(ros, "off", checkpoint=str(random_checkpoint), autostart=False)
    assert autostart(off) == OFF
    ros.spin(off)
    roots = tmp_path / "learner_run"
    roots.mkdir()
    inside = shutil.copytree(random_checkpoint, roots / "step_100")
    shutil.copytree(random_checkpoint, tmp_path / "outside")
    (roots / "escape").symlink_to(random_checkpoint)  # inside by name, outside once resolved
    waiting = controller(
        ros, "waiting", autostart=True, follow_learner=True, checkpoint_roots=str(roots)
    )
    assert autostart(waiting) == WAIT
    ros.spin(waiting)
    assert get_state(ros, "/waiting") == "unconfigured"
    announce = ros.publisher(String, "m3po/checkpoint", CHECKPOINT_QOS)
    for outside in (random_checkpoint, roots / "escape", roots / ".." / "outside"):
        announce.publish(String(data=str(outside)))
        time.sleep(0.5)
        assert waiting.loop is None  # refused: it keeps waiting
    assert get_state(ros, "/waiting") == "unconfigured"
    announce.publish(String(data=str(inside)))
    wait_for(lambda: waiting.loop is not None, 60, "the waiting controller to start")
    assert get_state(ros, "/waiting") == "active"
    assert waiting.checkpoint_path == str(inside)
    assert get_state(ros, "/off") == "unconfigured"


def test_over_services_as_the_launch_files_do(ros, random_checkpoint, tmp_path):
    started = ros.spin(
        controller(ros, "started", checkpoint=str(random_checkpoint), autostart=True)
    )
    waiting = ros.spin(
        controller(
            ros,
            "waiting",
            autostart=True,
            follow_learner=True,
            learner_topic="/learner/checkpoint",
            checkpoint_roots=str(random_checkpoint.parent),
        )
    )
    ros.spin(controller(ros, "manual", checkpoint=str(random_checkpoint), autostart=False))
    procs = [
        autostart_process(f"/{n}", log=tmp_path / f"{n}.log")
        for n in ("started", "waiting", "manual")
    ]
    try:
        wait_for(lambda: started.loop is not None, 90, "the autostarted controller")
        wait_for(lambda: get_state(ros, "/started") == "active", 30, "activation")
        assert procs[0].wait(30) == 0
        assert procs[2].wait(30) == 0  # autostart false: the helper leaves it alone
        assert get_state(ros, "/manual") == "unconfigured"
        assert waiting.loop is None and procs[1].poll() is None  # waits for the learner
        ros.publisher(String, "/learner/checkpoint", CHECKPOINT_QOS).publish(
            String(data=str(random_checkpoint))
        )
        assert procs[1].wait(90) == 0, (tmp_path / "waiting.log").read_text()
        assert get_state(ros, "/waiting") == "active"
        assert waiting.checkpoint_path == str(random_checkpoint)
    finally:
        for proc in procs:
            stop_process(proc)


def test_autostart_imports_without_ros():
    assert_imports_without_ros("m3po_ros.autostart")
