"""learner_node over DDS: it trains, announces checkpoints, running controllers pick them up."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from ros_harness import wait_for
from std_msgs.msg import String

from m3po_ros.autostart import autostart
from m3po_ros.controller_node import ControllerNode
from m3po_ros.diagnostics import values_of
from m3po_ros.learner_node import LearnerNode
from m3po_ros.qos import CHECKPOINT_QOS

TASK = "arm2/reach"
TRAIN = " ".join(
    [
        "model.preset=tiny",
        f"train.tasks=[{TASK}]",
        "train.steps=450",
        "train.seed_steps=150",
        "train.checkpoint_every=150",
        "train.eval_every=0",
        "train.eval_episodes=1",
        "train.segment_steps=32",
        "train.utd=0.25",
        "train.num_threads=1",
        "train.device=cpu",
        "train.buffer_size=5000",
        "optim.batch_size=32",
        "planner.num_samples=32",
        "planner.iterations=1",
        "planner.num_elites=4",
        "planner.num_pi_trajs=4",
    ]
)


def controller(ros, name: str, **params) -> ControllerNode:
    values = {
        "task": TASK,
        "autostart": True,
        "follow_learner": True,
        "use_planner": False,
        **params,
    }
    node = ControllerNode(
        node_name=name,
        context=ros.context,
        parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
    )
    autostart(node)  # as the bringup does: now, or on the learner's first checkpoint
    return ros.spin(node)


def test_learner_checkpoint_picked_up_by_running_controller(ros, random_checkpoint, tmp_path):
    announced = ros.collect(String, "m3po/checkpoint", CHECKPOINT_QOS)
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    roots = str(tmp_path / "run")  # announced checkpoints load from the learner's out_dir only
    running = controller(ros, "running", checkpoint=str(random_checkpoint), checkpoint_roots=roots)
    waiting = controller(ros, "waiting", checkpoint_roots=roots)  # starts with the first one
    assert running.loop is not None and waiting.loop is None
    learner = ros.spin(
        LearnerNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("overrides", value=TRAIN),
                Parameter("out_dir", value=str(tmp_path / "run")),
                Parameter("resume", value=False),
                Parameter("diagnostics_period_s", value=0.2),
            ],
        )
    )
    wait_for(lambda: len(announced) >= 1, 120, "the learner's first checkpoint")
    first = announced[0][1].data
    assert first.startswith(str(tmp_path / "run" / "checkpoints"))
    wait_for(lambda: running.loop.swaps >= 1, 30, "running controller to hot-swap")
    wait_for(lambda: waiting.loop is not None, 30, "waiting controller to start")
    assert running.checkpoint_path.startswith(str(tmp_path / "run"))
    assert waiting.checkpoint_path.startswith(str(tmp_path / "run"))
    assert running.swap_errors == 0
    wait_for(lambda: learner.finished, 180, "training to finish")
    assert learner.error == ""
    assert len(learner.checkpoints) >= 2
    wait_for(lambda: running.checkpoint_path == learner.checkpoints[-1], 30, "the last checkpoint")
    status = [values_of(s) for _, m in diags for s in m.status if s.name.endswith(": learner")]
    assert status and int(status[-1]["checkpoints"]) >= 1


def _refused_node(excinfo):
    """The half-built node whose constructor raised (rclpy destroys it with its context)."""
    tb = excinfo.tb
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "__init__" and "self" in tb.tb_frame.f_locals:
            return tb.tb_frame.f_locals["self"]
        tb = tb.tb_next
    raise AssertionError("no __init__ frame in the traceback")


def test_nodes_refused_for_a_bad_parameter_can_still_be_destroyed(ros):
    import pytest

    from m3po_ros.params import ParamError

    for cls, name, value in (
        (LearnerNode, "mode", "evaluate"),
        (ControllerNode, "control_rate_hz", 5000.0),
    ):
        with pytest.raises(ParamError, match=name) as info:
            cls(
                node_name=f"refused_{name}",
                context=ros.context,
                parameter_overrides=[Parameter(name, value=value)],
            )
        node = _refused_node(info)
        assert isinstance(node, cls)
        node.destroy_node()  # what context shutdown does; must not raise
