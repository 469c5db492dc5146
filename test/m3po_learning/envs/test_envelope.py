"""Training acts inside the robot's envelope: URDF velocity limits, the safety layer's limits."""

import numpy as np
import pytest
from test_byo import _write_arm

from m3po_learning.envelope import DEFAULT_ENVELOPE, Envelope, EnvelopeFilter
from m3po_learning.envs import make_env
from m3po_learning.envs.registry import make_robot_task


def _speed_ratios(env, steps=200, seed=0) -> np.ndarray:
    """Per step, the largest |joint velocity| / URDF limit in a full-torque random rollout."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    vmax = env.action_spec.vel_max
    didx = env.robot.act_dof_idx
    out = []
    for _ in range(steps):
        env.step(np.sign(rng.uniform(-1, 1, env.spec.action_dim)))  # bang-bang: full torque
        out.append(float(np.max(np.abs(env.data.qvel[didx]) / vmax)))
    return np.array(out)


def test_velocity_limits_hold_in_training_rollouts(tmp_path):
    """The 3-DoF arm of the issue: 2 rad/s limits; at full torque it reached 24-38 rad/s."""
    name = make_robot_task(_write_arm(tmp_path, name="fastbot"))
    limited = _speed_ratios(make_env(name))
    free = _speed_ratios(make_env(name, envelope=Envelope.none()))
    assert free.max() > 3.0, free.max()  # without the drive's limit the arm far exceeds it
    assert limited.max() <= 1.0 + 1e-9, limited.max()
    assert np.mean(limited > 0.95) > 0.3  # and it does run at the limit: not slowed beyond it


def test_builtin_robots_stay_within_their_velocity_limits():
    for task in ("arm2/reach", "arm7/reach", "pendulum/swingup"):
        ratios = _speed_ratios(make_env(task), steps=150)
        assert ratios.max() <= 1.0 + 1e-9, (task, ratios.max())


def test_rate_and_position_limits_as_the_safety_layer():
    filt = EnvelopeFilter(
        Envelope(max_effort_fraction=0.8, max_effort_rate=50.0, position_margin=0.05),
        pos_lo=np.array([-1.0, -np.inf]),
        pos_hi=np.array([1.0, np.inf]),
        vel_max=np.array([2.0, np.inf]),
        control_dt=0.02,
    )
    pos = np.zeros(2)
    # 50 effort limits/s x 20 ms = one effort limit per tick; the fraction caps at 0.8
    np.testing.assert_allclose(filt.control(np.array([1.0, -1.0]), pos), [0.8, -0.8])
    np.testing.assert_allclose(filt.control(np.array([-1.0, 1.0]), pos), [-0.2, 0.2])
    # inside the margin of the upper limit, effort pushing further out is cut; inward passes
    near = np.array([0.96, 0.0])
    assert filt.control(np.array([1.0, 0.0]), near)[0] == 0.0
    assert filt.control(np.array([-1.0, 0.0]), near)[0] < 0.0
    filt.reset()
    np.testing.assert_allclose(filt.control(np.array([0.0, 0.0]), pos), [0.0, 0.0])
    # the drive: full effort below 90% of the limit, fading to none at it, only along motion;
    # velocities saturate at the limit
    ctrl = np.array([1.0, 1.0])
    np.testing.assert_allclose(filt.drive(ctrl, np.array([1.7, 50.0])), [1.0, 1.0])
    np.testing.assert_allclose(filt.drive(ctrl, np.array([1.9, 0.0])), [0.5, 1.0])
    np.testing.assert_allclose(filt.drive(ctrl, np.array([2.5, 0.0])), [0.0, 1.0])
    np.testing.assert_allclose(filt.drive(ctrl, np.array([-2.5, 0.0])), [1.0, 1.0])
    np.testing.assert_allclose(filt.clamp(np.array([-2.5, 50.0])), [-2.0, 50.0])


def test_envelope_settings_are_checked_and_match_the_controller():
    from m3po_ros.params import ControllerParams
    from m3po_ros.safety import SafetyConfig

    with pytest.raises(ValueError, match="max_effort_rate=0"):
        Envelope(max_effort_rate=0)
    with pytest.raises(ValueError, match=r"velocity_taper=2 not in \(0, 1\]"):
        Envelope(velocity_taper=2)
    # The controller's safety layer defaults to the envelope training used.
    for cfg in (SafetyConfig(), ControllerParams()):
        assert cfg.max_effort_rate == DEFAULT_ENVELOPE.max_effort_rate
        assert cfg.position_margin == DEFAULT_ENVELOPE.position_margin
        assert cfg.max_effort_fraction == DEFAULT_ENVELOPE.max_effort_fraction


def test_train_envelope_switch_reaches_the_training_envs(tmp_path):
    from m3po_learning.config import load_config
    from m3po_learning.training.online import build_trainer

    for on in (True, False):
        cfg = load_config(
            None,
            ["model.preset=tiny", "train.tasks=[arm2/reach]", f"train.envelope={str(on).lower()}"],
        )
        trainer = build_trainer(cfg, tmp_path / str(on), progress=False)
        expected = DEFAULT_ENVELOPE if on else Envelope.none()
        assert trainer.env.envs[0].envelope == expected
