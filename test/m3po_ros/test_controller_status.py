"""The controller's /diagnostics map and level without ROS, from a real ControlLoop."""

from __future__ import annotations

import pytest
from ros_harness import assert_imports_without_ros

from m3po_ros.control_loop import ControlLoop, SensorSnapshot
from m3po_ros.controller_status import (
    ERROR,
    OK,
    RUN_STATS,
    WARN,
    RunInfo,
    controller_level,
    controller_values,
)
from m3po_ros.safety import SafetyConfig
from m3po_ros.tick_stats import TickClock, TickStats

TASK = "arm2/reach"
KEYS = [
    "task", "checkpoint", "active", "control_rate_hz", "ticks", "missed_ticks", "overruns",
    "tick_ms_p50", "tick_ms_p99", "tick_ms_max", "act_ms_p50", "act_ms_p99", "budget_ms",
    "planner_iteration_ms", "planner_iterations_mean", "latency_ms_p50", "latency_ms_p99",
    "tick_to_command_ms_p50", "tick_to_command_ms_p99", "overhead_ms_p50", "overhead_ms_p99",
    "watchdog", "safety_state", "estop", "watchdog_trips", "rejected_sensors",
    "rejected_commands", "effort_clips", "rate_clips", "model_errors", "error", "last_error",
    "use_planner", "planner_share", "planner_share_ticks", "input_frame_errors", "swaps",
    "swap_errors",
    "last_swap_error",
    *(f"{n}_ms_{q}_since_activate" for n in RUN_STATS for q in ("p50", "p99", "max")),
    "realtime", "gc_managed", "gc_collections", "gc_ms_max",
]  # fmt: skip


@pytest.fixture(scope="module")
def loop(random_checkpoint):
    from m3po_learning.checkpoint import load_agent
    from m3po_learning.envs import make_env

    agent = load_agent(random_checkpoint, device="cpu")
    loop = ControlLoop(agent, TASK, SafetyConfig(), 0.02, use_planner=False)
    env = make_env(TASK, 3)
    env.reset(3)
    names, pos, vel, _ = env.joint_state()
    for i in range(4):
        snap = SensorSnapshot(
            dict(zip(names, pos, strict=True)),
            dict(zip(names, vel, strict=True)),
            env.task_inputs(),
            i * 0.02,
        )
        loop.tick(snap, now_s=i * 0.02)
    return loop


def info(**kw) -> RunInfo:
    values = dict(
        checkpoint="/ckpt/a",
        active=True,
        control_rate_hz=50.0,
        realtime="",
        realtime_priority=50,
        swap_errors=0,
        last_swap_error="",
        gc_managed=True,
        gc_collections=3,
        gc_ms_max=0.25,
    )
    return RunInfo(**{**values, **kw})


def filled_stats() -> dict[str, TickStats]:
    stats = {name: TickStats(run_bins=True) for name in RUN_STATS}
    for k, name in enumerate(RUN_STATS):
        for v in (1.0, 2.0, 3.0):
            stats[name].add(v * (k + 1))
    return stats


def test_values_gather_loop_clock_stats_and_node(loop):
    clock = TickClock(0.02)
    for t in (0.0, 0.02, 0.08):  # 0.04 and 0.06 were skipped
        clock.tick(t)
    stats = filled_stats()
    v = controller_values(loop, clock, stats, info())
    assert list(v) == KEYS
    assert (v["task"], v["checkpoint"], v["active"], v["control_rate_hz"]) == (
        TASK,
        "/ckpt/a",
        True,
        50.0,
    )
    assert (v["ticks"], v["missed_ticks"]) == (3, 2)
    assert v["tick_ms_p50"] == loop.tick_ms.percentile(50)
    assert v["tick_ms_max"] == loop.tick_ms.max()
    assert v["act_ms_p99"] == loop.act_ms.percentile(99)
    assert v["budget_ms"] == loop.budget_ms()
    assert v["planner_iteration_ms"] == loop.agent.planner.iteration_ms
    assert v["planner_iterations_mean"] == 0.0  # policy only: no planner iterations
    # recent windows: exact; since activation: the upper edge of the holding bin, exact max
    assert v["latency_ms_p50"] == 2.0 and v["overhead_ms_p50"] == 4.0
    assert v["tick_to_command_ms_p99"] == stats["compute"].percentile(99)
    assert v["latency_ms_p50_since_activate"] == pytest.approx(2.01)
    assert v["act_ms_max_since_activate"] == 12.0
    assert v["watchdog"] == "ok" and v["safety_state"] == "ok" and v["estop"] is False
    assert v["model_errors"] == 0 and v["swaps"] == 0 and v["overruns"] == loop.overruns
    assert v["realtime"] == "SCHED_FIFO 50"
    assert (v["gc_managed"], v["gc_collections"], v["gc_ms_max"]) == (True, 3, 0.25)
    why = "SCHED_FIFO not permitted"
    assert controller_values(loop, clock, stats, info(realtime=why))["realtime"] == why


def test_level_from_the_values(loop):
    clock = TickClock(0.02)
    clock.tick(0.0)
    v = controller_values(loop, clock, filled_stats(), info())
    assert controller_level(v) == (OK, "running")
    assert controller_level({**v, "active": False}) == (OK, "inactive")
    assert controller_level({**v, "missed_ticks": 4}) == (WARN, "missed ticks 4, swap errors 0")
    assert controller_level({**v, "swap_errors": 1})[0] == WARN
    stale = {**v, "watchdog": "stale", "safety_state": "stale"}
    assert controller_level(stale) == (ERROR, "safe command: stale")
    assert controller_level({**stale, "active": False}) == (OK, "inactive")  # no command out
    estop = {**v, "estop": True, "safety_state": "estop", "missed_ticks": 2}
    assert controller_level(estop) == (ERROR, "safe command: estop")
    # A tick without a goal yet: WARN with the reason; any other model error: ERROR.
    waiting = {**v, "error": "waiting for task input: no message yet on ['goal'] (...)"}
    assert controller_level(waiting) == (WARN, waiting["error"])
    failing = {**v, "error": "ValueError: observation contains NaN/Inf"}
    assert controller_level(failing) == (
        ERROR,
        "no model command (zero effort): ValueError: observation contains NaN/Inf",
    )
    assert controller_level({**failing, "active": False}) == (OK, "inactive")
    # The planner asked for but mostly out of time: say that the policy alone runs.
    starved = {**v, "use_planner": True, "planner_share": 0.05, "planner_share_ticks": 200}
    level, text = controller_level(starved)
    assert level == WARN and "planner ran in 5% of ticks" in text and "policy alone" in text
    assert controller_level({**starved, "planner_share_ticks": 10}) == (OK, "running")
    assert controller_level({**starved, "use_planner": False}) == (OK, "running")


def test_levels_are_the_diagnostic_msgs_levels():
    from diagnostic_msgs.msg import DiagnosticStatus

    assert [bytes([x]) for x in (OK, WARN, ERROR)] == [
        DiagnosticStatus.OK,
        DiagnosticStatus.WARN,
        DiagnosticStatus.ERROR,
    ]


def test_controller_status_imports_without_ros():
    assert_imports_without_ros("m3po_ros.controller_status")
