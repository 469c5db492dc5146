"""One agent over 78 tasks (the 28 DMControl benchmark tasks + MetaWorld MT50): masks, padding."""

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.config import load_config
from m3po_learning.envs import VectorEnv
from m3po_learning.envs.registry import resolve_tasks
from m3po_learning.types import Batch


def test_78_tasks_act_in_one_call_and_update_with_their_own_masks():
    tasks = resolve_tasks(["dmc_all", "mt50"])
    assert len(tasks) == 78 and len(set(tasks)) == 78
    venv = VectorEnv(tasks, seed=0)
    cfg = load_config(
        None,
        ["model.preset=tiny", "planner.num_samples=32", "planner.num_elites=8",
         "planner.iterations=1", "planner.num_pi_trajs=4", "optim.batch_size=128"],
    )  # fmt: skip
    agent = M3POAgent(cfg, venv.specs, device="cpu")
    assert agent.obs_dim == venv.obs_dim and agent.action_dim == venv.action_dim
    np.testing.assert_array_equal(agent.model.action_masks.numpy().astype(bool), venv.action_masks)
    obs = venv.reset()
    for _ in range(3):
        out = agent.act(obs, list(range(78)), explore=True, use_planner=True)
        assert out.planned.all()  # all 78 in one batched planner call
        assert np.all(out.action[~venv.action_masks] == 0.0)  # no effort leaks into padding
        obs, reward, _, _, _ = venv.step(out.action)
        assert np.all(obs[~venv.obs_masks] == 0.0)  # observation padding stays zero
        assert np.isfinite(reward).all()

    # one update on a batch that spans every task, padded as replay pads it
    B, H = 156, 3
    g = torch.Generator().manual_seed(0)
    task = torch.arange(B) % 78
    mask = agent.model.mask(task)
    act = (torch.rand(H, B, agent.action_dim, generator=g) * 2 - 1) * mask
    obs_t = torch.randn(H + 1, B, agent.obs_dim, generator=g)
    obs_t *= torch.as_tensor(venv.obs_masks, dtype=torch.float32)[task][None]
    batch = Batch(obs_t, act, torch.rand(H, B), torch.zeros(H, B), task, torch.zeros(H, B))
    stats = agent.update(batch)
    assert all(np.isfinite(v) for v in stats.values())
    # the policy's actions still respect each task's mask after the update
    out = agent.act(obs, list(range(78)), explore=True, use_planner=False)
    assert np.all(out.action[~venv.action_masks] == 0.0)
    venv.close()
