"""ROS 2 nodes around m3po_learning: controller, MuJoCo sim and learner, plus their cores.

Importing the package is cheap: names load on first use, so `m3po --help` (which finds the
`bringup` command here) does not import rclpy or torch.
"""

from importlib import import_module

_EXPORTS = {
    "ControlError": "control_loop",
    "ControlLoop": "control_loop",
    "SensorSnapshot": "control_loop",
    "TickResult": "control_loop",
    "SafetyConfig": "safety",
    "SafetyLayer": "safety",
    "SafetyState": "safety",
    "ControllerParams": "params",
    "LearnerParams": "params",
    "ParamError": "params",
    "SimParams": "params",
    "Stack": "stacks",
    "load_stack": "stacks",
    "ControllerNode": "controller_node",
    "SimNode": "sim_node",
    "LearnerNode": "learner_node",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"m3po_ros.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'm3po_ros' has no attribute {name!r}")
