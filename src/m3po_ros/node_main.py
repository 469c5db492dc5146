"""The shared `main()` of the node executables: init, refuse bad parameters, spin, shut down."""

from __future__ import annotations

import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from m3po_ros.params import ParamError

STOP_POLL_S = 0.1  # the longest a stop signal waits for the spin loop to look


def take_stop_signals() -> threading.Event:
    """SIGINT and SIGTERM set the returned event, with the context alive; the caller stops.

    rclpy's own handlers shut the context down first, after which a node can no longer
    publish: a controller stopped by Ctrl-C or `kill` (systemd, docker stop, launch) would
    leave a forward command controller holding its last effort. With these the node gets
    to publish its stop command (`safe_stop`) before the context goes. Call it after
    `rclpy.init(..., signal_handler_options=SignalHandlerOptions.NO)`.

    The handler only sets a flag. Raising KeyboardInterrupt from it (as Python's default
    does) lands wherever the main thread happens to be, including inside rclpy's pybind11
    message conversion, which turns it into "RuntimeError: Unable to convert call
    argument" and a non-zero exit after the stop command was already sent.
    """
    requested = threading.Event()

    def _request(signum, frame) -> None:
        requested.set()

    signal.signal(signal.SIGINT, _request)
    signal.signal(signal.SIGTERM, _request)
    return requested


def safe_stop(node) -> None:
    """Let `node` leave its outputs safe (a controller: zero effort) while it still can."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stop = getattr(node, "safe_stop", None)
    if stop is not None and rclpy.ok(context=node.context):
        stop()


def spin_node(node_class, name: str, args: list[str] | None = None) -> int:
    """Run one node until Ctrl-C or SIGTERM; exit code 2 (with the message) for bad parameters.

    On the way out the node's `safe_stop()` (if it has one) runs before the context is shut
    down: the controller publishes a zero-effort command.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = take_stop_signals()
    try:
        node = node_class()
    except ParamError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop_requested.is_set() and rclpy.ok(context=node.context):
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        safe_stop(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


class SpinThread:
    """One node on a single-threaded executor in a thread of its own, until `stop()`.

    Several nodes in one process (`m3po bringup`, the tests) each get one, as separate
    processes would. rclpy's MultiThreadedExecutor is not used: its spin loop kept a core
    busy and, holding the GIL, made controller ticks in the same process 100+ ms late.
    """

    def __init__(self, node, context) -> None:
        self.node = node
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self._context = context
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=self._spin, daemon=True, name=f"spin-{node.get_name()}"
        )
        self.thread.start()

    def _spin(self) -> None:
        try:
            while self._context.ok() and not self._stop.is_set():
                self.executor.spin_once(timeout_sec=0.05)
        except ExternalShutdownException:
            pass
        except Exception:
            if self._context.ok():  # not just the context shutting down under the executor
                raise

    def stop(self) -> None:
        """Stop spinning and wait for a callback in flight (before the node is destroyed)."""
        self._stop.set()
        self.thread.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=2.0)
