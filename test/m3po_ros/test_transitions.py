"""Episode <-> std_msgs/Float64MultiArray encoding (m3po_ros.transitions), without a ROS graph."""

from __future__ import annotations

import numpy as np
import pytest

from m3po_ros.transitions import (
    FORMAT,
    Episode,
    TransitionError,
    episode_to_msg,
    msg_to_episode,
    pack,
    unpack,
)


def episode(T: int = 5, O: int = 4, A: int = 2, task: str = "arm2/reach", seed: int = 0):
    rng = np.random.default_rng(seed)
    term = np.zeros(T)
    term[-1] = 1.0
    return Episode(
        task,
        rng.normal(size=(T + 1, O)),
        rng.uniform(-1, 1, (T, A)),
        rng.normal(size=T),
        term,
    )


def assert_same(a: Episode, b: Episode) -> None:
    assert a.task == b.task
    for k in ("obs", "action", "reward", "terminated"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        assert getattr(a, k).shape == getattr(b, k).shape


@pytest.mark.parametrize(("T", "O", "A"), [(1, 1, 1), (5, 4, 2), (200, 13, 3)])
def test_round_trip_is_exact(T, O, A):
    ep = episode(T, O, A)
    dims, data = pack(ep)
    assert dims[0] == (f"{FORMAT} task=arm2/reach", T, len(data))
    assert [d[0] for d in dims[1:]] == ["obs", "action", "reward", "terminated"]
    assert len(data) == (T + 1) * O + T * A + 2 * T
    assert_same(unpack(dims, data), ep)
    msg = episode_to_msg(ep)
    assert_same(msg_to_episode(msg, tasks=["arm2/reach"]), ep)


def test_data_layout_is_documented_order():
    ep = episode(2, 3, 1)
    _, data = pack(ep)
    np.testing.assert_array_equal(data[:9], ep.obs.ravel())
    np.testing.assert_array_equal(data[9:11], ep.action.ravel())
    np.testing.assert_array_equal(data[11:13], ep.reward)
    np.testing.assert_array_equal(data[13:], ep.terminated)


def _bad(fn, needle):
    with pytest.raises(TransitionError, match=needle):
        fn()


def test_malformed_messages_rejected_with_clear_errors():
    ep = episode(5, 4, 2)
    dims, data = pack(ep)
    _bad(lambda: unpack(dims, data[:-1]), "header stride .* != data length")
    _bad(lambda: unpack(dims[:3], data), "expected 5 layout dims")
    _bad(lambda: unpack([("joint_commands", 5, len(data))] + dims[1:], data), "does not start")
    wrong_obs = list(dims)
    wrong_obs[1] = ("obs", 5, 6 * 4)
    _bad(lambda: unpack(wrong_obs, data), "obs dim has size 5 / stride 24, expected size 5")
    wrong_obs[1] = ("obs", 5, 6 * 5)  # self-consistent, but the blocks overrun the data
    _bad(lambda: unpack(wrong_obs, data), "blocks cover 50 values, data has 44")
    swapped = [dims[0], dims[2], dims[1], *dims[3:]]
    _bad(lambda: unpack(swapped, data), "dim label 'action' where 'obs' was expected")
    zero = [(dims[0][0], 0, len(data)), *dims[1:]]
    _bad(lambda: unpack(zero, data), "0 steps")
    nan = data.copy()
    nan[3] = np.nan
    _bad(lambda: unpack(dims, nan), "obs contains NaN/Inf")
    inf = data.copy()
    inf[-6] = np.inf  # a reward
    _bad(lambda: unpack(dims, inf), "reward contains NaN/Inf")
    big = data.copy()
    big[6 * 4] = 3.0  # first action value
    _bad(lambda: unpack(dims, big), r"normalised to \[-1, 1\]")
    half = data.copy()
    half[-1] = 0.5
    _bad(lambda: unpack(dims, half), "terminated must be 0 or 1")
    _bad(lambda: unpack(dims, data, tasks=["cheetah/run"]), "unknown task 'arm2/reach'")
    _bad(lambda: unpack(dims, data, data_offset=2), "data_offset must be 0")
    blank = [(f"{FORMAT} task=", *dims[0][1:]), *dims[1:]]
    _bad(lambda: unpack(blank, data), "bad task name")


def test_encoding_refuses_bad_episodes():
    ep = episode(4, 3, 2)
    _bad(lambda: pack(Episode(ep.task, ep.obs[:-1], ep.action, ep.reward, ep.terminated)), "obs")
    _bad(lambda: pack(Episode(ep.task, ep.obs, ep.action, ep.reward[:2], ep.terminated)), "reward")
    _bad(lambda: pack(Episode("a b", ep.obs, ep.action, ep.reward, ep.terminated)), "bad task")
    nan_act = ep.action.copy()
    nan_act[0, 0] = np.nan
    _bad(lambda: pack(Episode(ep.task, ep.obs, nan_act, ep.reward, ep.terminated)), "NaN")
    # the error type is a ValueError, so callers can treat it like the trainer's own checks
    assert issubclass(TransitionError, ValueError)
