"""The learner plus two sim robots whose controllers follow its checkpoints.

    ros2 launch m3po_ros train.launch.py config:=config/train/demo.yaml out_dir:=runs/ros

Arguments (config/stacks/train.yaml): config, overrides, out_dir, task, rate, namespace,
use_sim_time, bag_dir.

Same nodes and parameter files as `m3po bringup train` (both read config/stacks/train.yaml).
"""

from m3po_ros.launch_stack import generate_stack_launch


def generate_launch_description():
    """The launch description of the train stack (config/stacks/train.yaml)."""
    return generate_stack_launch("train")
