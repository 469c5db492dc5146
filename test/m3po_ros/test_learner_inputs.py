"""learner_node inputs over real DDS: episodes from sim nodes, and a watched rosbag directory."""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from ros_harness import wait_for
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from m3po_ros.diagnostics import values_of
from m3po_ros.learner_node import LearnerNode
from m3po_ros.qos import CHECKPOINT_QOS, TRANSITIONS_QOS
from m3po_ros.sim_node import SimNode
from m3po_ros.transitions import Episode, episode_to_msg

TASK = "arm2/reach"
# Random-action steps only (no gradient updates): the trainer just cycles segments, which is
# where it merges external episodes. The test stops it once the episodes have landed.
TRAIN = " ".join(
    [
        "model.preset=tiny",
        f"train.tasks=[{TASK}]",
        "train.steps=1000000",
        "train.seed_steps=1000000",
        "train.checkpoint_every=0",
        "train.eval_every=0",
        "train.final_eval=false",
        "train.segment_steps=16",
        "train.num_threads=1",
        "train.device=cpu",
        "train.buffer_size=2000",
    ]
)


def params(**values) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


def learner_status(diags) -> list[dict]:
    return [values_of(s) for _, m in diags for s in m.status if s.name.endswith(": learner")]


def test_sim_episodes_reach_the_learners_replay(ros, tmp_path):
    diags = ros.collect(DiagnosticArray, "/diagnostics", 100)
    sent = ros.collect(Float64MultiArray, "m3po/transitions", TRANSITIONS_QOS)
    learner = ros.spin(
        LearnerNode(
            context=ros.context,
            parameter_overrides=params(
                overrides=TRAIN,
                out_dir=str(tmp_path / "run"),
                resume=False,
                diagnostics_period_s=0.2,
            ),
        )
    )
    wait_for(lambda: learner.trainer is not None, 60, "the trainer to be built")
    sim = ros.spin(
        SimNode(
            context=ros.context,
            parameter_overrides=params(
                task=TASK, publish_transitions=True, real_time_factor=5.0, publish_clock=False
            ),
        )
    )
    wait_for(lambda: sim.steps >= 20, 30, "the sim to step")
    ros.call(Trigger, "/sim/reset", Trigger.Request())  # cuts the episode short: sent now
    wait_for(lambda: sim.steps >= 40, 30, "the sim to step again")
    ros.call(Trigger, "/sim/reset", Trigger.Request())
    wait_for(lambda: learner.episodes_received >= 2, 30, "two episodes at the learner")
    wait_for(lambda: learner.trainer.external_steps > 0, 30, "episodes merged into replay")
    assert sim.transitions_sent >= 2
    wait_for(lambda: len(sent) >= 2, 10, "the probe's copies of the episodes")
    assert learner.episodes_rejected == 0, learner.last_reject
    # what went over the wire is the sim env's own observation and the applied action
    from m3po_ros.transitions import msg_to_episode

    first = msg_to_episode(sent[0][1])
    assert first.task == TASK and first.steps >= 20
    spec = learner.trainer.agent.specs[0]
    assert first.obs.shape == (first.steps + 1, spec.obs_dim)
    assert first.action.shape == (first.steps, spec.action_dim)
    assert not first.terminated.any()  # cut short by the reset, not terminal
    assert first.steps + msg_to_episode(sent[1][1]).steps <= learner.steps_received

    # malformed and unknown-task episodes are counted and logged, and the learner goes on
    pub = ros.publisher(Float64MultiArray, "m3po/transitions", TRANSITIONS_QOS)
    bad = episode_to_msg(first)
    bad.data = list(bad.data)[:-1]
    T, O = 3, spec.obs_dim
    other = Episode(
        "cheetah/run", np.zeros((T + 1, O)), np.zeros((T, 2)), np.zeros(T), np.zeros(T)
    )
    wrong_dim = Episode(TASK, np.zeros((T + 1, O + 1)), np.zeros((T, 2)), np.zeros(T), np.zeros(T))
    wait_for(lambda: pub.get_subscription_count() >= 2, 10, "subscribers")
    for m in (bad, episode_to_msg(other), episode_to_msg(wrong_dim)):
        pub.publish(m)
    wait_for(lambda: learner.episodes_rejected >= 3, 30, "three rejections")
    assert "expected" in learner.last_reject or "unknown task" in learner.last_reject
    received = learner.episodes_received
    ros.call(Trigger, "/sim/reset", Trigger.Request())
    wait_for(lambda: learner.episodes_received > received, 30, "episodes after the rejections")
    wait_for(
        lambda: any(int(s["external_rejected"]) >= 3 for s in learner_status(diags)),
        10,
        "rejections in /diagnostics",
    )
    last = learner_status(diags)[-1]
    assert int(last["external_episodes"]) >= 2 and int(last["external_steps_in_replay"]) > 0
    learner.stop_training()
    assert learner.error == ""


def test_watched_bag_dir_finetunes_and_announces(ros, tmp_path, reach_checkpoint):
    from m3po_learning.checkpoint import load_agent
    from m3po_learning.datasets.sim_bag import write_sim_bag

    bag_dir = tmp_path / "bags"
    bag_dir.mkdir()
    announced = ros.collect(String, "m3po/checkpoint", CHECKPOINT_QOS)
    learner = ros.spin(
        LearnerNode(
            context=ros.context,
            parameter_overrides=params(
                mode="finetune",
                checkpoint=str(reach_checkpoint),
                out_dir=str(tmp_path / "run"),
                bag_dir=str(bag_dir),
                bag_finetune_steps=4,
                bag_poll_s=0.1,
                bag_settle_s=0.3,
                device="cpu",
                diagnostics_period_s=0.2,
            ),
        )
    )
    wait_for(lambda: learner.bag_state == "watching", 30, "the watcher to start")
    time.sleep(0.3)
    assert not announced  # nothing to fine-tune on yet
    write_sim_bag(bag_dir / "run_000", TASK, steps=120, seed=3)
    wait_for(lambda: len(announced) >= 1, 90, "a fine-tuned checkpoint")
    path = announced[0][1].data
    assert path.startswith(str(tmp_path / "run" / "checkpoints" / "bag_"))
    agent = load_agent(path, device="cpu")
    assert agent.tasks[0] == TASK and int(agent.checkpoint_meta["step"]) >= 4
    assert agent.checkpoint_meta["trainer_state"]["finetune"]["bags"] == [str(bag_dir / "run_000")]
    latest = tmp_path / "run" / "checkpoints" / "latest"
    assert latest.read_text().strip() == path.rsplit("/", 1)[1]

    # a corrupt bag is logged and skipped; the checkpoint already written is untouched
    (bag_dir / "broken.mcap").write_bytes(b"\x89MCAP0\r\n" + b"garbage" * 100)
    wait_for(lambda: learner.bags_failed, 60, "the corrupt bag to be refused")
    assert "broken.mcap" in learner.last_bag_error
    assert learner.error == "" and learner.bags_done == [str(bag_dir / "run_000")]
    assert len(announced) == 1
    assert latest.read_text().strip() == path.rsplit("/", 1)[1]
    load_agent(path, device="cpu")
    # handled bags are remembered: not fine-tuned on again
    time.sleep(0.5)
    assert len(learner.bags_done) == 1 and len(learner.bags_failed) == 1


def test_train_mode_watches_bags_once_training_has_finished(ros, tmp_path):
    from m3po_learning.checkpoint import load_agent
    from m3po_learning.datasets.sim_bag import write_sim_bag

    bag_dir = tmp_path / "bags"
    write_sim_bag(bag_dir / "before_start", TASK, steps=80, seed=1)  # unseen: handled too
    announced = ros.collect(String, "m3po/checkpoint", CHECKPOINT_QOS)
    short = TRAIN.replace("train.steps=1000000", "train.steps=64").replace(
        "train.seed_steps=1000000", "train.seed_steps=64"
    )
    learner = ros.spin(
        LearnerNode(
            context=ros.context,
            parameter_overrides=params(
                overrides=short,
                out_dir=str(tmp_path / "run"),
                resume=False,
                bag_dir=str(bag_dir),
                bag_finetune_steps=2,
                bag_poll_s=0.1,
                bag_settle_s=0.0,
                device="cpu",
            ),
        )
    )
    wait_for(lambda: len(announced) >= 2, 90, "the trainer's and the bag's checkpoints")
    assert learner.finished and learner.error == ""
    trained, tuned = announced[0][1].data, announced[1][1].data
    assert "/bag_" not in trained and "/bag_" in tuned
    agent = load_agent(tuned, device="cpu")
    assert int(agent.checkpoint_meta["step"]) == learner.trainer.step + 2
    assert learner.bags_done == [str(bag_dir / "before_start")]
