"""`m3po bringup control|sim|train`: a stack's nodes in one process, as its launch file would.

Where `launch_ros` is not installed (PyPI wheels), this composes the nodes of a stack by
hand: the same stack description (config/stacks/<name>.yaml), the same parameter files
(passed as `--params-file`, exactly as `ros2 launch` does), each node on a single-threaded
executor in a thread of its own (as separate processes would be). Lifecycle nodes with
`autostart` are configured and activated by the bringup (`m3po_ros.autostart`), as the
launch files do it.
"""

from __future__ import annotations

import argparse
import sys
import time

from m3po_ros.stacks import list_stacks

ARG_FLAGS = ("checkpoint", "task", "rate", "namespace")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `bringup` subcommand to `subparsers`; it runs `run`."""
    p = subparsers.add_parser(
        "bringup",
        help="start a ROS 2 stack (control, sim, train) in one process",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    try:
        stacks = ", ".join(list_stacks())
    except FileNotFoundError:
        stacks = "control, sim, train"
    p.add_argument("stack", help=f"stack name ({stacks}) or a stack YAML path")
    p.add_argument("--checkpoint", help="checkpoint directory or run directory")
    p.add_argument("--task", help="task (robot/task)")
    p.add_argument("--rate", help="control rate, Hz")
    p.add_argument("--namespace", help="namespace for every node of the stack")
    p.add_argument("--use-sim-time", action="store_true", help="nodes take time from /clock")
    p.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other stack argument (repeatable); see the stack file",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until Ctrl-C)",
    )
    p.add_argument("--list", action="store_true", help="print the resolved nodes and exit")
    p.add_argument(
        "--no-compare",
        action="store_true",
        help="at the end, skip evaluating the controller's checkpoint in-process with its "
        "planning budget beside the return over ROS",
    )
    p.set_defaults(func=run)
    return p


def stack_arguments(args: argparse.Namespace, known: set[str]) -> dict[str, str]:
    """Stack argument values from `--arg NAME=VALUE` and the flags, as text.

    Args:
        args: the parsed command line.
        known: the argument names the stack takes.

    Raises:
        ValueError: an `--arg` is not NAME=VALUE, or a flag names an argument the stack lacks.
    """
    values: dict[str, str] = {}
    for item in args.arg:
        if "=" not in item:
            raise ValueError(f"--arg {item!r} is not NAME=VALUE")
        k, v = item.split("=", 1)
        values[k] = v
    for name in ARG_FLAGS:
        v = getattr(args, name)
        if v is not None and name in known:
            values[name] = str(v)
        elif v is not None:
            raise ValueError(f"this stack has no {name!r} argument (it takes {sorted(known)})")
    if args.use_sim_time:
        values["use_sim_time"] = "true"
    return values


def run(args: argparse.Namespace) -> int:
    """Start every node of the stack in this process until Ctrl-C or `--duration`.

    Returns 0, or 2 when a node that should start (autostart) fails to configure or activate
    (an empty or unreadable checkpoint, a task it does not have): the error is logged and
    the other nodes are stopped. With `--list` it prints the resolved nodes instead. On the
    way out it stops every executor, has the controllers publish their stop command, prints
    the sim nodes' returns beside the controller's timing and the in-process return
    (`report`), then destroys the nodes.
    """
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from m3po_ros.autostart import FAILED, autostart
    from m3po_ros.controller_node import set_realtime_switch_interval
    from m3po_ros.node_main import SpinThread, safe_stop, take_stop_signals
    from m3po_ros.stacks import load_stack

    stack = load_stack(args.stack)
    resolved = stack.resolve(stack_arguments(args, set(stack.defaults())))
    if args.list:
        for n in resolved:
            files = " ".join(f"--params-file {f}" for f in n.parameter_files)
            remaps = " ".join(f"-r {a}:={b}" for a, b in n.remaps)
            print(
                f"{n.executable:16s} {n.namespace.rstrip('/')}/{n.name}  {files}  {remaps}  "
                f"{n.parameters}"
            )
        return 0
    set_realtime_switch_interval()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = take_stop_signals()  # Ctrl-C, SIGTERM: controllers publish zero first
    context = rclpy.get_default_context()
    nodes, spinners = [], []
    failed = False
    try:
        for n in resolved:
            if stop_requested.is_set():
                break
            cli_args = ["--ros-args"]
            for f in n.parameter_files:
                cli_args += ["--params-file", str(f)]
            for src, dst in n.remaps:
                cli_args += ["-r", f"{src}:={dst}"]
            node = n.node_class(
                node_name=n.name,
                namespace=n.namespace,
                cli_args=cli_args,
                parameter_overrides=[Parameter(k, value=v) for k, v in n.parameters.items()],
            )
            nodes.append(node)
            # The bringup drives lifecycle nodes, as the launch files do: configure and
            # activate now (or once the learner announces a first checkpoint).
            if autostart(node) == FAILED:
                print(
                    f"m3po bringup {stack.name}: error: {node.get_fully_qualified_name()} "
                    "failed to configure or activate (its error is logged above)",
                    file=sys.stderr,
                )
                failed = True
                break
            # Each node on an executor of its own: a controller's ticks never wait behind
            # another node's callbacks, and its thread alone takes real-time priority.
            spinners.append(SpinThread(node, context))
        if failed:
            return 2
        print(
            f"m3po bringup {stack.name}: {len(nodes)} nodes "
            f"({', '.join(x.get_fully_qualified_name() for x in nodes)}); Ctrl-C stops"
        )
        end = time.monotonic() + args.duration if args.duration > 0 else None
        while (
            rclpy.ok() and not stop_requested.is_set() and (end is None or time.monotonic() < end)
        ):
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        # Stop every executor (and wait for callbacks in flight) before any node is
        # destroyed: a callback running into a destroyed handle fails at shutdown.
        for t in spinners:
            t.stop()
        for node in nodes:  # executors stopped: no tick races the stop command
            safe_stop(node)
        report(nodes, compare=not args.no_compare and not stop_requested.is_set())
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def report(nodes, compare: bool = True) -> None:
    """Closed-loop returns of every sim node (what `make demo` shows), and why they differ.

    Beside each return: the controller's ticks, missed ticks (computation longer than the
    period), planner iterations per tick and the share of ticks it planned; with `compare`,
    the same checkpoint evaluated in-process (MuJoCo, no ROS) for as many episodes with the
    controller's planning budget, and over-ROS as a fraction of it.
    """
    controllers = [n for n in nodes if getattr(n, "loop", None) is not None]
    for node in nodes:
        returns = getattr(node, "returns", None)
        if returns is None:
            continue
        mean = sum(returns) / len(returns) if returns else float("nan")
        print(
            f"{node.get_fully_qualified_name()} {node.task}: {len(returns)} episodes over ROS,"
            f" mean return {mean:.1f}"
        )
        ctl = next((c for c in controllers if c.loop.task == node.task), None)
        if ctl is None:
            continue
        loop = ctl.loop
        print(
            f"  controller: {loop.ticks} ticks, {loop.overruns} missed (over the "
            f"{loop.period_s * 1e3:.0f} ms period), planner {loop.iterations.mean():.2f} "
            f"iterations per tick (last {len(loop.iterations.values)}), planned "
            f"{100 * loop.planned.mean():.0f}% of ticks (budget {loop.budget_ms():.1f} ms)"
        )
        if compare and returns:
            from m3po_learning.evaluation import evaluate

            episodes = min(len(returns), 3)
            same = evaluate(
                loop.agent,
                [node.task],
                episodes=episodes,
                seed=int(node.params.seed),
                use_planner=loop.use_planner,
                budget_ms=loop.budget_ms() if loop.use_planner else None,
            )[node.task]
            ratio = f"{mean / same:.0%} of it" if same > 0 else "in-process return <= 0"
            print(
                f"  same checkpoint in-process (MuJoCo, no ROS), same budget, {episodes} "
                f"episodes: {same:.1f}; over ROS: {ratio}"
            )
