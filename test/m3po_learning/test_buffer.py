import numpy as np
import pytest

from m3po_learning.buffer import ReplayBuffer


def _fill(buf, steps, ep_len, rng, terminate_every=None):
    """Each stream writes obs[0] = stream*1e6 + global step; episode ends every ep_len steps."""
    S = buf.S
    for t in range(steps):
        obs = np.zeros((S, 3), np.float32)
        obs[:, 0] = np.arange(S) * 1e6 + t
        nxt = obs.copy()
        nxt[:, 0] += 0.5
        done = np.full(S, (t + 1) % ep_len == 0)
        term = np.zeros(S, bool)
        if terminate_every:
            term = np.full(S, (t + 1) % terminate_every == 0)
            done |= term
        buf.add(obs, rng.uniform(-1, 1, (S, 2)), np.full(S, t), nxt, term, done, np.zeros(S))


def test_slices_never_cross_episodes_and_are_consecutive():
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(3, [0, 1, 2], 3, 2, capacity=3 * 50, horizon=4, seed=0)
    _fill(buf, 200, ep_len=7, rng=rng, terminate_every=11)  # ring wraps several times
    b = buf.sample(512)
    assert b.obs.shape == (5, 512, 3) and b.action.shape == (4, 512, 2)
    steps = b.reward.numpy()  # reward = global step index
    assert (np.diff(steps, axis=0) == 1).all()  # consecutive in time
    # the episode of step t is t // 7 split further by terminations: no slice contains an end
    # before its last element
    ends = ((steps[:-1] + 1) % 7 == 0) | ((steps[:-1] + 1) % 11 == 0)
    assert not ends.any()
    # next_obs of step t is obs of step t + 0.5 (the stored real next observation)
    assert np.allclose(b.obs[1:, :, 0].numpy() % 1e6, steps + 0.5)
    # only the last 50 transitions of each stream are still stored
    assert steps.min() >= 150


def test_task_balance():
    rng = np.random.default_rng(1)
    # task 0 has three streams, task 1 one: sampling is still balanced per task
    buf = ReplayBuffer(4, [0, 0, 0, 1], 3, 2, capacity=4000, horizon=3, seed=1)
    _fill(buf, 300, ep_len=50, rng=rng)
    tasks = buf.sample(4000).task.numpy()
    frac = (tasks == 1).mean()
    assert 0.45 < frac < 0.55


def test_add_episode_and_errors():
    buf = ReplayBuffer(1, [0], 2, 1, capacity=100, horizon=3)
    with pytest.raises(RuntimeError, match="no sub-trajectory"):
        buf.sample(4)
    with pytest.raises(ValueError, match="episode shapes"):
        buf.add_episode(0, np.zeros((5, 2)), np.zeros((5, 1)), np.zeros(5), np.zeros(5))
    obs = np.arange(11, dtype=np.float32)[:, None].repeat(2, 1)
    buf.add_episode(0, obs, np.zeros((10, 1)), np.arange(10), np.zeros(10))
    b = buf.sample(16)
    assert np.allclose(b.obs[1:, :, 0].numpy(), b.obs[:-1, :, 0].numpy() + 1)


def test_add_to_a_subset_of_streams_keeps_episodes_apart():
    buf = ReplayBuffer(4, [0, 1, 0, 1], 2, 1, capacity=400, horizon=2)
    for t in range(30):
        buf.add(
            np.full((2, 2), t),
            np.zeros((2, 1)),
            np.full(2, t),
            np.full((2, 2), t + 1),
            np.zeros(2),
            np.zeros(2, bool),
            np.zeros(2),
            streams=[0, 1],
        )
    assert buf.count.tolist() == [30, 30, 0, 0]
    obs = np.arange(6, dtype=np.float32)[:, None].repeat(2, 1) + 1000
    buf.add_episode(3, obs, np.zeros((5, 1)), np.arange(5) + 1000, np.zeros(5))
    assert buf.count.tolist() == [30, 30, 0, 5]
    assert buf.episode[3, 0] not in set(buf.episode[:2, :30].ravel())
    b = buf.sample(2000)
    ext = b.reward[0].numpy() >= 1000
    assert 0 < ext.mean() < 0.5  # task 1's mass is split between its own and external stream
    assert (b.task.numpy()[ext] == 1).all()


def test_state_dict_round_trip_is_exact_and_keeps_filling():
    rng = np.random.default_rng(2)
    buf = ReplayBuffer(2, [0, 1], 3, 2, capacity=2 * 40, horizon=3, seed=0)
    _fill(buf, 55, ep_len=9, rng=rng)  # stream rings have wrapped
    state = buf.state_dict()
    assert state["obs"].shape == (2, 40, 3)  # trimmed to the slots in use (all, here)
    fresh = ReplayBuffer(2, [0, 1], 3, 2, capacity=2 * 40, horizon=3, seed=0)
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    a, b = buf.sample(64), fresh.sample(64)  # same seed, same contents: the same batch
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    # both go on with the same episode ids
    for target in (buf, fresh):
        target.add_episode(1, np.zeros((4, 3)), np.zeros((3, 2)), np.zeros(3), np.zeros(3))
    np.testing.assert_array_equal(buf.episode, fresh.episode)


def test_partly_filled_state_is_small_and_wrong_shapes_are_refused():
    buf = ReplayBuffer(1, [0], 3, 2, capacity=100, horizon=2)
    _fill(buf, 7, ep_len=5, rng=np.random.default_rng(0))
    state = buf.state_dict()
    assert state["obs"].shape == (1, 7, 3) and int(state["next_episode"]) == 2
    other = ReplayBuffer(1, [0], 4, 2, capacity=100, horizon=2)  # obs_dim 4, not 3
    with pytest.raises(ValueError, match="obs has shape"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="lacks"):
        other.load_state_dict({"obs": state["obs"]})
