"""A MuJoCo sim node (randomised) driven by the controller over ROS.

    ros2 launch m3po_ros sim.launch.py checkpoint:=runs/demo task:=arm2/reach rate:=50.0

Arguments (config/stacks/sim.yaml): checkpoint, task, rate, namespace, use_sim_time,
randomize.

Same nodes and parameter files as `m3po bringup sim` (both read config/stacks/sim.yaml).
"""

from m3po_ros.launch_stack import generate_stack_launch


def generate_launch_description():
    """The launch description of the sim stack (config/stacks/sim.yaml)."""
    return generate_stack_launch("sim")
