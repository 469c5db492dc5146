"""The observation the controller builds from topics equals the env's, for every task.

Sim node in lockstep (one physics step per command) publishes joint_states, the task inputs
and its own env observation; the controller builds its observation from the topics alone
(JointState by name, goal as PointStamped) and publishes it. Every controller observation
must equal one of the sim's recent observations to float32 precision.
"""

from __future__ import annotations

import time
from itertools import groupby

import numpy as np
from rclpy.parameter import Parameter
from ros_harness import wait_for
from std_msgs.msg import Float64MultiArray, String

from m3po_ros.autostart import autostart
from m3po_ros.controller_node import ControllerNode
from m3po_ros.sim_node import SimNode

STEPS_PER_TASK = 15


def robot_of(task: str) -> str:
    return task.split("/")[0]


def test_controller_observation_equals_env_observation(ros, random_checkpoint, all_tasks):
    sim_obs = ros.collect(Float64MultiArray, "sim/observation", 1000)
    ctl_obs = ros.collect(Float64MultiArray, "controller/observation", 1000)
    checked = []
    for _, group in groupby(all_tasks, key=robot_of):
        tasks = list(group)
        sim = ros.spin(
            SimNode(
                context=ros.context,
                parameter_overrides=[
                    Parameter("task", value=tasks[0]),
                    Parameter("real_time_factor", value=0.0),
                    Parameter("publish_observation", value=True),
                    Parameter("seed", value=7),
                ],
            )
        )
        ctl = ControllerNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("checkpoint", value=str(random_checkpoint)),
                Parameter("task", value=tasks[0]),
                Parameter("autostart", value=True),
                Parameter("use_planner", value=False),
                Parameter("publish_observation", value=True),
                Parameter("sensor_timeout_s", value=1.0),
            ],
        )
        autostart(ctl)
        ros.spin(ctl)
        sim_task = ros.publisher(String, "sim/task")
        ctl_task = ros.publisher(String, "controller/task")
        for i, task in enumerate(tasks):
            if i:
                ctl_task.publish(String(data=task))
                sim_task.publish(String(data=task))
                wait_for(
                    lambda t=task, c=ctl, s=sim: c.loop.task == t and s.task == t, 5, "switch"
                )
                time.sleep(0.1)
            sim_obs.clear()
            ctl_obs.clear()
            wait_for(lambda: len(ctl_obs) >= STEPS_PER_TASK, 15, f"{task} observations")
            ctl_rows = [np.array(m.data) for _, m in list(ctl_obs)]
            sim_rows = [np.array(m.data) for _, m in list(sim_obs)]
            dim = ctl.loop.context.obs_spec.obs_dim
            assert all(r.shape == (dim,) for r in ctl_rows)
            matched = 0
            for row in ctl_rows[2:]:  # the first may predate the clear
                err = min(np.abs(row - s).max() for s in sim_rows) if sim_rows else np.inf
                assert err <= 1e-5 * max(1.0, np.abs(row).max()), (task, err)
                matched += 1
            assert matched >= STEPS_PER_TASK - 2
            assert np.ptp(np.vstack(ctl_rows), axis=0).max() > 0, task  # the state moved
            checked.append(task)
        for node in (ctl, sim):
            ros.stop(node)
    assert checked == list(all_tasks)
