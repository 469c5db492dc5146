"""`m3po record`: write ROS 2 topics to a rosbag2 bag (MCAP or sqlite3) without rosbag2."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `record` subcommand to `subparsers`; it runs `run`."""
    p = subparsers.add_parser(
        "record",
        help="record topics to a rosbag2 MCAP/sqlite3 bag (no rosbag2 needed)",
        description="Subscribe to TOPICS (serialized, receive-time stamped) and write them to "
        "a new rosbag2 bag that `ros2 bag` and the mcap tools read. Data is flushed every "
        "--flush-period seconds, so a killed recorder keeps what it had flushed; Ctrl-C or "
        "SIGTERM closes the bag cleanly.",
    )
    p.add_argument(
        "topics",
        nargs="*",
        metavar="TOPIC",
        help="topics to record (default: joint_states joint_commands goal)",
    )
    p.add_argument(
        "-o", "--output", metavar="DIR", help="bag directory to create (must not exist)"
    )
    p.add_argument("-s", "--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("-a", "--all", action="store_true", help="record every topic")
    p.add_argument(
        "--duration",
        type=float,
        default=0.0,
        metavar="S",
        help="stop after S seconds (0: until Ctrl-C)",
    )
    p.add_argument(
        "--flush-period",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between flushes to disk (1.0)",
    )
    p.add_argument("--namespace", default="", help="namespace for relative topic names")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Record until SIGINT/SIGTERM or `--duration`, close the bag and print counts; returns 0."""
    import signal
    import threading
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from m3po_ros.recorder import RecorderNode

    overrides = [
        Parameter("storage", value=args.storage),
        Parameter("all_topics", value=bool(args.all)),
        Parameter("flush_period_s", value=float(args.flush_period)),
        Parameter("max_duration_s", value=float(args.duration)),
    ]
    if args.topics:
        overrides.append(Parameter("topics", value=" ".join(args.topics)))
    if args.output:
        overrides.append(Parameter("output", value=args.output))
    stop = threading.Event()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    previous = {
        s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)
    }
    node = None
    try:
        node = RecorderNode(namespace=args.namespace or None, parameter_overrides=overrides)
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        while not stop.is_set() and not node.done.is_set():
            ex.spin_once(timeout_sec=0.05)
        missing = node.missing_topics()
        if missing:
            node.get_logger().warning(f"never saw topics {missing}")
    finally:
        if node is not None:
            node.stop()
            counts = node.writer.counts
            print(
                f"wrote {sum(counts.values())} messages to {node.writer.path}: "
                + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
            )
            node.destroy_node()
        rclpy.shutdown()
        for s, h in previous.items():
            signal.signal(s, h)
        time.sleep(0)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m m3po_ros.cli_record ...`: the same command without the `m3po` entry point."""
    import sys

    parser = argparse.ArgumentParser(prog="m3po")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["record", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
