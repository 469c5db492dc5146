"""What the control tick writes to the log: once per change, after the command is out.

The tick itself never logs before its command is published; these calls come in the slack
of the period. Repeated conditions (a missing goal, a failing model, missed periods) are
logged when they start and when they end, or throttled, never once per tick.
"""

from __future__ import annotations

from m3po_ros.control_loop import MISSING_INPUT


class TickLog:
    """Log lines of the controller's tick, given an rclpy logger."""

    def __init__(self, logger) -> None:
        """Write through `logger` (an rclpy `RcutilsLogger`)."""
        self.logger = logger
        self.error = ""  # the tick error last logged ("" when the model commands)

    def realtime(self, why_not: str, priority: int) -> None:
        """Once per tick thread: whether it got SCHED_FIFO (`why_not` "" when it did)."""
        if why_not and priority > 0:
            self.logger.warning(f"tick thread stays at normal priority: {why_not}")
        elif not why_not:
            self.logger.info(f"tick thread runs SCHED_FIFO priority {priority}")

    def missed(self, count: int, tick: int, late_ms: float, slowest_ms: float, gc_ms: float):
        """`count` periods missed before tick `tick` (throttled to one line a second)."""
        self.logger.warning(
            f"tick {tick}: {count} control period(s) missed (this callback came "
            f"{late_ms:.1f} ms into its period; slowest recent tick {slowest_ms:.1f} ms; "
            f"last garbage collection {gc_ms:.2f} ms)",
            throttle_duration_sec=1.0,
        )

    def tick_error(self, error: str) -> None:
        """The tick's error ("" when none): logged when it first appears, changes or clears."""
        if error == self.error:
            return
        if error.startswith(MISSING_INPUT):
            self.logger.warning(error)
        elif error:
            self.logger.error(f"no model command, the safety layer ramps to zero: {error}")
        else:
            self.logger.info(f"the model commands again (was: {self.error})")
        self.error = error
