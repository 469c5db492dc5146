"""Fixtures for the training tests: a tiny arm2/reach checkpoint trained in this session."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_OVERRIDES = [
    "model.preset=tiny",
    "train.tasks=[arm2/reach]",
    "train.steps=400",
    "train.seed_steps=200",
    "planner.num_samples=64",
    "planner.num_elites=16",
    "planner.iterations=2",
    "optim.batch_size=64",
    "train.eval_episodes=1",
    "train.tensorboard=false",
]


def tiny_reach_checkpoint(base: Path) -> Path:
    """Train (once per session, shared with test/m3po_ros/test_record.py) a tiny checkpoint."""
    run = base / "tiny_reach_run"
    if not (run / "checkpoints" / "latest").is_file():
        from m3po_learning.config import load_config
        from m3po_learning.training.online import build_trainer

        tr = build_trainer(load_config(None, TINY_OVERRIDES), run, progress=False)
        tr.train()
    return run


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return tiny_reach_checkpoint(tmp_path_factory.getbasetemp())
