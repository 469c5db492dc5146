"""Launch-file side of the stacks: one stack description -> launch_ros actions.

Each `<stack>.launch.py` calls `generate_stack_launch("<stack>")`, which reads
`share/m3po_ros/config/stacks/<stack>.yaml` (the file `m3po bringup <stack>` reads too),
declares its arguments with their defaults and descriptions, and starts its nodes with the
same parameter files. Parameters set from arguments are typed from the nodes' parameter
dataclasses (m3po_ros.params), so "50" becomes 50.0 for a float parameter.

Lifecycle nodes (the controller) start unconfigured; next to each one the launch starts
`python -m m3po_ros.autostart`, which drives it through configure and activate over its
services when its `autostart` parameter is true (waiting first for the learner's checkpoint
with `follow_learner` and no `checkpoint`), as `m3po bringup` does in-process.
"""

import re
import sys
from pathlib import Path

from m3po_ros.params import param_type
from m3po_ros.stacks import BUILTIN_PARAMS, EXECUTABLES, LIFECYCLE_EXECUTABLES, load_stack

# launch and launch_ros come with a native ROS 2 install (no PyPI wheels): imported on use.

PACKAGE = "m3po_ros"


def _substitutions(text: str) -> list:
    """'$(a)/x' -> [LaunchConfiguration('a'), TextSubstitution('/x')]."""
    from launch.substitutions import LaunchConfiguration, TextSubstitution

    parts, pos = [], 0
    for m in re.finditer(r"\$\((\w+)\)", text):
        if m.start() > pos:
            parts.append(TextSubstitution(text=text[pos : m.start()]))
        parts.append(LaunchConfiguration(m.group(1)))
        pos = m.end()
    if pos < len(text):
        parts.append(TextSubstitution(text=text[pos:]))
    return parts or [TextSubstitution(text="")]


def generate_stack_launch(stack_name: str):
    """The LaunchDescription of config/stacks/<stack_name>.yaml in the installed share dir."""
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument, ExecuteProcess
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
    from launch_ros.parameter_descriptions import ParameterValue

    from launch import LaunchDescription

    config = Path(get_package_share_directory(PACKAGE)) / "config"
    stack = load_stack(stack_name, root=config)
    actions = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
        for a in stack.arguments
    ]
    namespaced = any(a.name == "namespace" for a in stack.arguments)
    if namespaced:
        actions.append(PushRosNamespace(LaunchConfiguration("namespace")))
    for entry in stack.nodes:
        params_cls = EXECUTABLES[entry.executable][2]
        overrides = {}
        for key, text in entry.set:
            kind = BUILTIN_PARAMS.get(key) or param_type(params_cls, key)
            overrides[key] = ParameterValue(_substitutions(str(text)), value_type=kind)
        lifecycle = entry.executable in LIFECYCLE_EXECUTABLES
        node_cls = LifecycleNode if lifecycle else Node
        actions.append(
            node_cls(
                package=PACKAGE,
                executable=entry.executable,
                name=entry.name,
                namespace=entry.namespace,
                parameters=[str(config / f) for f in entry.parameters] + [overrides],
                remappings=[(src, _substitutions(dst)) for src, dst in entry.remap],
                output="screen",
                emulate_tty=True,
            )
        )
        if lifecycle:  # the launch side drives the transitions, not the node
            namespace = LaunchConfiguration("namespace") if namespaced else ""
            actions.append(
                ExecuteProcess(
                    cmd=[
                        sys.executable,
                        "-m",
                        "m3po_ros.autostart",
                        ["--namespace=", namespace],
                        f"--node={entry.namespace}/{entry.name}",
                    ],
                    name=f"autostart_{entry.name}",
                    output="screen",
                )
            )
    return LaunchDescription(actions)
