"""TrainerBase: averaged update metrics, progress bars off, saving into a run directory."""

import numpy as np
import pytest

from m3po_learning.agent import M3POAgent
from m3po_learning.buffer import ReplayBuffer
from m3po_learning.checkpoint import load_agent
from m3po_learning.config import load_config
from m3po_learning.training.base import TrainerBase
from m3po_learning.types import EnvSpec

SPEC = EnvSpec("toy/a", 5, 2, 100, joint_names=("j0", "j1"))


@pytest.fixture
def trainer(tmp_path):
    cfg = load_config(None, ["model.preset=tiny", "optim.batch_size=8", "train.tasks=[toy/a]"])
    agent = M3POAgent(cfg, [SPEC], device="cpu")
    buffer = ReplayBuffer(1, [0], 5, 2, capacity=200, horizon=cfg.planner.horizon, seed=0)
    rng = np.random.default_rng(0)
    buffer.add_episode(
        0,
        rng.normal(size=(41, 5)).astype(np.float32),
        rng.uniform(-1, 1, (40, 2)).astype(np.float32),
        rng.random(40).astype(np.float32),
        np.zeros(40),
    )
    return TrainerBase(agent, buffer, tmp_path / "run", progress=False)


def test_update_metrics_are_averaged_then_reset(trainer):
    first = trainer.update_once(8)
    second = trainer.update_once(8)
    assert first.keys() == second.keys() and "wm/total" in first
    mean = trainer.pop_update_metrics()
    assert mean["wm/updates"] == 2.0
    for k in first:
        assert mean[k] == pytest.approx((first[k] + second[k]) / 2), k
    assert trainer.pop_update_metrics() == {}
    assert trainer.progress_bar(10, "x") is None  # progress=False: no bar


def test_save_to_run_dir_points_latest_and_calls_the_hook(trainer, tmp_path):
    seen = []
    trainer.on_checkpoint = seen.append
    path = trainer.save_to_run_dir(12, {"step": 12}, prefix="bag", unique=True)
    again = trainer.save_to_run_dir(12, {"step": 12}, prefix="bag", unique=True)
    assert (path.name, again.name) == ("bag_000000012", "bag_000000012_1")
    assert seen == [path, again]
    assert (trainer.ckpt_dir / "latest").read_text().strip() == again.name
    loaded = load_agent(tmp_path / "run", device="cpu")
    assert loaded.checkpoint_path == again and loaded.checkpoint_meta["step"] == 12
    assert loaded.checkpoint_meta["trainer_state"] == {"step": 12}


def test_no_run_directory_is_refused(trainer):
    bare = TrainerBase(trainer.agent, trainer.buffer, progress=False)
    with pytest.raises(ValueError, match="no run directory"):
        bare.save_to_run_dir(1)
