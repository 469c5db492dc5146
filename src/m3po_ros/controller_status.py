"""The controller's /diagnostics status without ROS: its key-values and level.

`controller_values` gathers what the control loop, the tick statistics, the checkpoint
loader and the garbage collector know into the key-value map the node publishes;
`controller_level` decides the status level and message from that map. The node only wraps
the result in a diagnostic_msgs/DiagnosticStatus (`m3po_ros.diagnostics.make_status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from m3po_ros.control_loop import MISSING_INPUT
from m3po_ros.safety import SafetyState
from m3po_ros.tick_stats import TickClock, TickStats

# diagnostic_msgs/DiagnosticStatus levels (as ints; make_status turns them into bytes).
OK, WARN, ERROR = 0, 1, 2
# Per-tick quantities the node measures over every tick since activation.
RUN_STATS = ("latency", "overhead", "compute", "act")
PLANNER_SHARE_MIN = 0.5  # with use_planner, fewer planned ticks than this is a WARN
PLANNER_SHARE_TICKS = 50  # ... once this many ticks have been counted
_RUN_QUANTILES = (("p50", 50), ("p99", 99), ("max", 100))


@dataclass(frozen=True)
class RunInfo:
    """What the node knows besides the control loop, for one diagnostics message."""

    checkpoint: str  # path of the running checkpoint
    active: bool  # the tick timer runs
    control_rate_hz: float  # the timer's rate, Hz
    realtime: str  # "" when the tick thread runs SCHED_FIFO, else why it does not
    realtime_priority: int  # the SCHED_FIFO priority asked for
    swap_errors: int  # checkpoints refused by the loader
    last_swap_error: str  # "<path>: <why>" of the last refusal ("" if none)
    gc_managed: bool  # Python's collector runs between ticks
    gc_collections: int  # collections run between ticks
    gc_ms_max: float  # longest of them, ms
    input_frame_errors: int = 0  # task-input messages dropped for a wrong frame_id


def controller_values(
    loop, clock: TickClock, stats: Mapping[str, TickStats], info: RunInfo
) -> dict[str, object]:
    """The key-values of the controller's /diagnostics status, in publishing order.

    Args:
        loop: the `ControlLoop` (task, safety state and counters, tick and act times).
        clock: the node's `TickClock` (ticks served and periods missed since activation).
        stats: `TickStats` with run bins for each of `RUN_STATS`: latency (joint_states
            arrival -> command published), overhead (tick time outside act()), compute
            (timer tick -> command published) and act; recent percentiles come from their
            windows, `*_since_activate` ones from their run histograms.
        info: the rest of what the node knows (`RunInfo`).

    Returns:
        Key -> value (str, int, float or bool); `diagnostics.make_status` formats them.
    """
    safety = loop.context.safety
    state = safety.state
    counters = safety.counters
    return {
        "task": loop.task,
        "checkpoint": info.checkpoint,
        "active": info.active,
        "control_rate_hz": info.control_rate_hz,
        "ticks": clock.ticks,
        "missed_ticks": clock.missed,
        "overruns": loop.overruns,
        "tick_ms_p50": loop.tick_ms.percentile(50),
        "tick_ms_p99": loop.tick_ms.percentile(99),
        "tick_ms_max": loop.tick_ms.max(),
        "act_ms_p50": loop.act_ms.percentile(50),
        "act_ms_p99": loop.act_ms.percentile(99),
        "budget_ms": loop.budget_ms(),
        "planner_iteration_ms": loop.planner_iteration_ms(),
        "planner_iterations_mean": loop.iterations.mean(),
        "latency_ms_p50": stats["latency"].percentile(50),
        "latency_ms_p99": stats["latency"].percentile(99),
        "tick_to_command_ms_p50": stats["compute"].percentile(50),
        "tick_to_command_ms_p99": stats["compute"].percentile(99),
        "overhead_ms_p50": stats["overhead"].percentile(50),
        "overhead_ms_p99": stats["overhead"].percentile(99),
        "watchdog": "stale" if state in (SafetyState.STALE, SafetyState.NO_SENSORS) else "ok",
        "safety_state": state.value,
        "estop": loop.estop,
        "watchdog_trips": counters.watchdog_trips,
        "rejected_sensors": counters.rejected_sensors,
        "rejected_commands": counters.rejected_commands,
        "effort_clips": counters.effort_clips,
        "rate_clips": counters.rate_clips,
        "model_errors": loop.model_errors,
        "error": loop.error,
        "last_error": loop.last_error,
        "use_planner": loop.use_planner,
        "planner_share": loop.planned.mean(),
        "planner_share_ticks": len(loop.planned.values),
        "input_frame_errors": info.input_frame_errors,
        "swaps": loop.swaps,
        "swap_errors": info.swap_errors,
        "last_swap_error": info.last_swap_error,
        **{
            f"{name}_ms_{label}_since_activate": stats[name].run_percentile(q)
            for name in RUN_STATS
            for label, q in _RUN_QUANTILES
        },
        "realtime": info.realtime or f"SCHED_FIFO {info.realtime_priority}",
        "gc_managed": info.gc_managed,
        "gc_collections": info.gc_collections,
        "gc_ms_max": info.gc_ms_max,
    }


def controller_level(values: Mapping[str, object]) -> tuple[int, str]:
    """Level and message of the controller's status from its `controller_values` map.

    ERROR while the e-stop is engaged or, when active, the sensors are stale (the safe
    command goes out); WARN after missed ticks or refused checkpoints; OK otherwise.
    """
    if values["estop"] or (values["active"] and values["watchdog"] == "stale"):
        return ERROR, f"safe command: {values['safety_state']}"
    error = values["error"]
    if values["active"] and error:
        if str(error).startswith(MISSING_INPUT):
            return WARN, str(error)
        return ERROR, f"no model command (zero effort): {error}"
    if (
        values["active"]
        and values["use_planner"]
        and values["planner_share_ticks"] >= PLANNER_SHARE_TICKS
        and values["planner_share"] < PLANNER_SHARE_MIN
    ):
        return WARN, (
            f"planner ran in {values['planner_share']:.0%} of ticks (budget "
            f"{values['budget_ms']:.1f} ms, one iteration ~{values['planner_iteration_ms']:.1f} "
            "ms): the policy alone is in effect"
        )
    if values["missed_ticks"] or values["swap_errors"]:
        return (
            WARN,
            f"missed ticks {values['missed_ticks']}, swap errors {values['swap_errors']}",
        )
    return OK, "running" if values["active"] else "inactive"
