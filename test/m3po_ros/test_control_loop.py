"""The control loop without ROS: observation, budgeted act, fallback, safety, swaps."""

import numpy as np
import pytest

from m3po_ros.control_loop import ControlError, ControlLoop, SensorSnapshot, observation_mismatch
from m3po_ros.safety import SafetyConfig, SafetyState

TASK = "arm2/reach"


@pytest.fixture(scope="module")
def agent(random_checkpoint):
    from m3po_learning.checkpoint import load_agent

    return load_agent(random_checkpoint, device="cpu")


def snapshot_of(env, stamp=0.0) -> SensorSnapshot:
    names, pos, vel, _ = env.joint_state()
    return SensorSnapshot(
        dict(zip(names, pos, strict=True)),
        dict(zip(names, vel, strict=True)),
        env.task_inputs(),
        stamp,
    )


def make_loop(agent, **kw) -> ControlLoop:
    return ControlLoop(agent, TASK, SafetyConfig(max_effort_rate=1e6), 0.02, **kw)


def test_tick_observation_equals_env_and_command_matches_policy(agent):
    from m3po_learning.envs import make_env

    env = make_env(TASK, 3)
    obs, _ = env.reset(3)
    loop = make_loop(agent, use_planner=False)
    loop.contexts = loop.prepare(agent)  # the node warms up first, as here
    res = loop.tick(snapshot_of(env), now_s=0.0)
    assert res.state == SafetyState.OK and res.error == ""
    np.testing.assert_array_equal(res.obs, obs)
    expected = agent.act(
        agent.pad_obs(obs, TASK)[None], [TASK], explore=False, use_planner=False
    ).action[0, :2]
    # Acting may run in bfloat16 (AMX / AVX512-BF16 CPUs): one bf16 step is 0.4% relative.
    np.testing.assert_allclose(
        res.command, loop.context.action_spec.to_effort(expected), rtol=1e-2, atol=1e-3
    )


def test_planner_budget_respected_and_zero_budget_falls_back(agent):
    from m3po_learning.envs import make_env

    env = make_env(TASK, 4)
    env.reset(4)
    loop = make_loop(agent, use_planner=True, budget_fraction=0.6)
    res = [loop.tick(snapshot_of(env), now_s=0.0) for _ in range(5)]
    assert all(r.state == SafetyState.OK for r in res)
    assert loop.budget_ms() == pytest.approx(12.0)
    # A period too short for one planner iteration: the policy's action is used.
    tiny = ControlLoop(agent, TASK, SafetyConfig(), 0.0005, use_planner=True, budget_fraction=0.05)
    r = tiny.tick(snapshot_of(env), now_s=0.0)
    assert r.state == SafetyState.OK and not r.planned and r.iterations == 0


def test_nan_and_missing_joints_give_safe_command(agent):
    from m3po_learning.envs import make_env

    env = make_env(TASK, 5)
    env.reset(5)
    loop = make_loop(agent, use_planner=False)
    snap = snapshot_of(env)
    snap.positions["elbow"] = float("nan")
    r = loop.tick(snap, now_s=0.0)
    assert r.state == SafetyState.REJECTED and np.all(r.command == 0) and "NaN" in r.error
    snap = snapshot_of(env)
    del snap.positions["elbow"]
    r = loop.tick(snap, now_s=0.0)
    assert r.state == SafetyState.REJECTED and np.all(r.command == 0)
    r = loop.tick(snapshot_of(env, stamp=None), now_s=0.0)
    assert r.state == SafetyState.NO_SENSORS


def test_task_switch_checks_robot_and_swap_is_installed_by_next_tick(agent):
    from m3po_learning.checkpoint import load_agent

    loop = make_loop(agent)
    loop.set_task("arm2/track")
    assert loop.task == "arm2/track"
    with pytest.raises(ControlError, match="different robot"):
        loop.set_task("pendulum/swingup")
    with pytest.raises(ControlError, match="not in the checkpoint"):
        loop.set_task("nope/nothing")
    other = load_agent(agent.checkpoint_path, device="cpu")
    loop.offer(other, loop.prepare(other))
    assert loop.agent is agent
    loop.tick(SensorSnapshot(), now_s=0.0)
    assert loop.agent is other and loop.swaps == 1


class _RecordingAgent:
    """The real agent; records the deadline of each act() call and when the call began."""

    def __init__(self, agent) -> None:
        self._agent = agent
        self.calls: list[tuple[float, float | None]] = []

    def __getattr__(self, name):
        return getattr(self._agent, name)

    def act(self, obs, tasks, **kw):
        import time

        self.calls.append((time.perf_counter(), kw.get("deadline")))
        return self._agent.act(obs, tasks, **kw)


def test_one_deadline_per_tick_counts_from_the_tick_start(agent):
    """The planner's deadline is tick start + budget: what the tick spent before act() counts."""
    import time

    from m3po_learning.envs import make_env

    env = make_env(TASK, 6)
    env.reset(6)
    rec = _RecordingAgent(agent)
    loop = ControlLoop(rec, TASK, SafetyConfig(), 0.02, use_planner=True, budget_fraction=0.5)
    rec.calls.clear()  # the warm-up calls in prepare() plan without a deadline
    snap = snapshot_of(env)
    before = time.perf_counter()
    loop.tick(snap, now_s=0.0)
    called, deadline = rec.calls[-1]
    assert loop.budget_ms() == pytest.approx(10.0)
    assert before <= deadline - 0.010 <= called


def test_planner_recovers_from_an_inflated_iteration_estimate(agent):
    from m3po_learning.envs import make_env

    env = make_env(TASK, 7)
    env.reset(7)
    loop = make_loop(agent, use_planner=True, budget_fraction=0.6)  # 12 ms
    loop.contexts = loop.prepare(agent)
    agent.planner.iteration_ms = 40.0  # as after one preempted iteration
    results = [loop.tick(snapshot_of(env), now_s=0.0) for _ in range(150)]
    assert results[0].iterations == 0
    # The planner shrinks its estimate on every skipped iteration, so it fits the budget and
    # an iteration runs again (a preempted one may push it up again on a loaded machine).
    assert sum(r.iterations > 0 for r in results[25:]) >= 1


def test_reordered_observation_of_the_same_size_is_refused():
    """Same joints, same obs_dim, two parts swapped: a checkpoint trained on one is refused."""
    import dataclasses

    from m3po_learning.envs import make_env

    env = make_env(TASK)
    spec = env.spec
    assert len(spec.obs_layout) >= 2
    assert observation_mismatch(spec, spec) == ""
    swapped = dataclasses.replace(
        spec,
        obs_layout=(spec.obs_layout[1], spec.obs_layout[0], *spec.obs_layout[2:]),
        obs_parts=(spec.obs_parts[1], spec.obs_parts[0], *spec.obs_parts[2:]),
    )
    assert swapped.obs_dim == spec.obs_dim
    assert spec.obs_layout[0] in observation_mismatch(swapped, spec)
    # A checkpoint from before obs_layout is compared on its (name, size) parts.
    legacy = dataclasses.replace(swapped, obs_layout=())
    assert "observation" in observation_mismatch(legacy, spec)
    assert observation_mismatch(dataclasses.replace(spec, obs_layout=()), spec) == ""
    # Different joints in command order are named.
    other = dataclasses.replace(spec, joint_names=spec.joint_names[::-1])
    assert "joints" in observation_mismatch(other, spec)


def test_gravity_compensation_added_for_a_compensated_policy_or_refused(agent):
    """arm7 was trained with gravity cancelled: the controller adds its gravity torques.

    Or (`driver`) leaves them to the robot's driver; `off` is refused, and arm2 (trained with
    gravity acting) refuses compensation.
    """
    from m3po_learning.envs import make_env
    from m3po_learning.envs.gravity import GravityTorques

    task = "arm7/reach"
    env = make_env(task, 5)
    env.reset(5)
    snap = snapshot_of(env)
    commands = {}
    for mode in ("auto", "driver"):
        loop = ControlLoop(
            agent, task, SafetyConfig(max_effort_rate=1e6), 0.02, use_planner=False,
            gravity_compensation=mode,
        )  # fmt: skip
        res = loop.tick(snap, now_s=0.0)
        assert res.state == SafetyState.OK, res.error
        commands[mode] = res.command
    assert loop.context.gravity_mode == "driver"
    tau = GravityTorques(env.task.robot)(snap.positions)
    limit = env.action_spec.effort_max
    expected = np.clip(commands["driver"] + tau, -limit, limit)
    np.testing.assert_allclose(commands["auto"], expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ControlError, match="trained with gravity compensated"):
        ControlLoop(agent, task, SafetyConfig(), 0.02, gravity_compensation="off")
    with pytest.raises(ControlError, match="trained with gravity acting"):
        ControlLoop(agent, TASK, SafetyConfig(), 0.02, gravity_compensation="controller")
    # a checkpoint of both robots runs arm2 with `off`: arm7's refusal waits until it runs
    loop = ControlLoop(agent, TASK, SafetyConfig(), 0.02, gravity_compensation="off")
    assert "trained with gravity compensated" in loop.contexts[task].gravity_error
