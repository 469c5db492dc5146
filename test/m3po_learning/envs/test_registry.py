"""The task registry: what a name is, task sets, bring-your-own robots, one unknown-name error."""

import pytest

from m3po_learning.envs import TaskSetError, load_task_set, make_env
from m3po_learning.envs.registry import (
    RobotEntry,
    is_task,
    is_task_set,
    parse_robot_entry,
    register_robots,
    resolve_tasks,
    robot_entry,
    task_kind,
)

URDF = """<?xml version="1.0"?>
<robot name="regbot">
  <link name="base"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01"
    ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="arm"><inertial><origin xyz="0.1 0 0"/><mass value="0.5"/>
    <inertia ixx="0.001" iyy="0.002" izz="0.002" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="hinge" type="revolute"><parent link="base"/><child link="arm"/>
    <axis xyz="0 0 1"/><limit lower="-2" upper="2" velocity="5" effort="3"/></joint>
</robot>
"""


def test_task_sets():
    default = load_task_set("default")
    assert "arm2/reach" in default and "pendulum/swingup" in default
    assert set(load_task_set("arms")) <= set(default)


def test_unknown_task_lists_known_ones(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [arm2/reach, arm2/fly]\n")
    with pytest.raises(TaskSetError, match="arm2/fly.*arm2/reach"):
        load_task_set(bad)
    with pytest.raises(TaskSetError, match="known tasks"):
        make_env("nope/nothing")


def test_what_a_name_is():
    assert task_kind("arm2/reach") == "builtin" and task_kind("dmc/cheetah-run") == "dmc"
    assert task_kind("dmc/acrobot-swingup") == "dmc"  # any suite task, not only the reference
    assert is_task("arm2/reach") and not is_task("arms") and not is_task("nope/task")
    assert is_task_set("arms") and not is_task_set("arm2/reach") and not is_task_set("nope")
    with pytest.raises(TaskSetError, match="dmc/hopper-stand"):
        task_kind("dmc/hopper-jump")
    with pytest.raises(TaskSetError, match="known tasks"):
        task_kind("nope/task")


def test_resolve_names_sets_and_files_in_order_without_repeats(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("include: [arms]\ntasks: [pendulum/swingup, arm2/reach]\n")
    arms = load_task_set("arms")
    assert resolve_tasks(["pendulum/swingup", str(f)]) == ["pendulum/swingup", *arms]
    with pytest.raises(TaskSetError, match=r"nope/task.*task sets: \["):
        resolve_tasks(["nope/task"])
    with pytest.raises(TaskSetError, match="task set 'nosuchset' not found"):
        resolve_tasks(["nosuchset"])
    with pytest.raises(TaskSetError, match="dmc/quadruped-walk"):
        resolve_tasks(["dmc/notadomain-run"])


def test_task_set_file_with_unknown_key_names_the_file(tmp_path):
    f = tmp_path / "set.yaml"
    f.write_text("tasks: [arm2/reach]\ntask: [arm2/track]\n")
    with pytest.raises(TaskSetError, match=r"set\.yaml: unknown keys \['task'\]"):
        load_task_set(f)


def test_robot_entries_register_and_resolve(tmp_path):
    urdf = tmp_path / "odd: dir" / "regbot.urdf"  # a colon in the path survives the entry
    urdf.parent.mkdir()
    urdf.write_text(URDF)
    entry = robot_entry(urdf, "track")
    assert parse_robot_entry(entry) == RobotEntry(str(urdf.resolve()), "track")
    assert register_robots([entry]) == ["regbot/track"]
    assert task_kind("regbot/track") == "registered" and is_task("regbot/track")
    assert make_env("regbot/track").spec.joint_names == ("hinge",)
    # robots come after the named tasks, once, and the names may already use them
    assert resolve_tasks(["regbot/track", "arm2/reach"], robots=[entry]) == [
        "regbot/track",
        "arm2/reach",
    ]
    assert resolve_tasks([], robots=[entry]) == ["regbot/track"]
    with pytest.raises(TaskSetError, match=r"not 'path/to/robot.urdf:TASK\[,end_effector=LINK\]"):
        parse_robot_entry("no-task-here")
