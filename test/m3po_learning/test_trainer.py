"""Trainer wiring: external episodes (sim nodes, robots) join replay in their own stream."""

import numpy as np
import pytest

from m3po_learning.config import load_config
from m3po_learning.trainer import build_trainer

FAST = [
    "model.preset=tiny",
    "planner.num_samples=32",
    "planner.num_elites=8",
    "planner.iterations=1",
    "planner.num_pi_trajs=4",
    "optim.batch_size=16",
    "train.seed_steps=64",
    "train.segment_steps=16",
    "train.eval_every=0",
    "train.checkpoint_every=0",
    "train.final_eval=false",
    "train.tensorboard=false",
    "train.utd=0.25",
    "train.tasks=[pendulum/swingup]",
    "train.steps=96",
]


def test_external_episodes_join_replay(tmp_path):
    tr = build_trainer(load_config(None, FAST), tmp_path, progress=False)
    spec = tr.agent.specs[0]
    T = 20
    rng = np.random.default_rng(0)
    tr.add_external_episode(
        "pendulum/swingup",
        rng.normal(size=(T + 1, spec.obs_dim)),
        rng.uniform(-1, 1, (T, spec.action_dim)),
        rng.random(T),
        np.zeros(T),
    )
    with pytest.raises(ValueError, match="expected"):
        tr.add_external_episode(
            "pendulum/swingup",
            np.zeros((T, spec.obs_dim)),
            np.zeros((T, spec.action_dim)),
            np.zeros(T),
            np.zeros(T),
        )
    with pytest.raises(ValueError, match="NaN"):
        tr.add_external_episode(
            "pendulum/swingup",
            np.full((T + 1, spec.obs_dim), np.nan),
            np.zeros((T, spec.action_dim)),
            np.zeros(T),
            np.zeros(T),
        )
    with pytest.raises(KeyError, match="unknown task"):
        tr.add_external_episode("arm2/reach", np.zeros((2, 4)), np.zeros((1, 2)), [0], [0])
    tr.train()
    assert tr.external_steps == T
    assert tr.buffer.count.tolist() == [96, T]  # own stream, then the external stream
    assert "external/steps" in (tmp_path / "metrics.csv").read_text()
