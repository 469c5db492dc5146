"""Fixtures for the ROS tests: checkpoints (random and trained) and an isolated rclpy context."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ros_harness import Ros  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED_REACH = FIXTURES / "arm2_reach_tiny"
# Small planner so that a planning tick fits a 20 ms period on a shared 2-core CPU.
SMALL_PLANNER = [
    "planner.num_samples=64",
    "planner.iterations=3",
    "planner.num_elites=8",
    "planner.num_pi_trajs=8",
]


def make_random_checkpoint(path: Path, tasks: list[str], seed: int = 0) -> Path:
    """An untrained tiny agent for `tasks`, saved with the project's checkpoint writer."""
    import torch

    from m3po_learning.agent import M3POAgent
    from m3po_learning.checkpoint import save_checkpoint
    from m3po_learning.config import load_config
    from m3po_learning.envs import make_env

    cfg = load_config(None, ["model.preset=tiny", *SMALL_PLANNER])
    torch.manual_seed(seed)
    specs = [make_env(t).spec for t in tasks]
    agent = M3POAgent(cfg, specs, device="cpu")
    return save_checkpoint(path, agent, step=seed, include_optimizer=False)


@pytest.fixture(scope="session")
def all_tasks() -> list[str]:
    from m3po_learning.envs import builtin_tasks

    # The URDF robots (the dm_control reference tasks have no robot to drive over ROS).
    return builtin_tasks()


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory, all_tasks) -> Path:
    """Untrained tiny agent over every registered task."""
    return make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "random", all_tasks)


@pytest.fixture(scope="session")
def random_checkpoint_b(tmp_path_factory, all_tasks) -> Path:
    """A second untrained agent (different weights) for hot-swap tests."""
    return make_random_checkpoint(tmp_path_factory.mktemp("ckpt_b") / "random_b", all_tasks, 1)


@pytest.fixture(scope="session")
def reach_checkpoint() -> Path:
    """Tiny arm2/reach checkpoint trained by the project's trainer (see fixtures/README.md)."""
    if not (SHIPPED_REACH / "metadata.json").is_file():
        pytest.fail(
            f"{SHIPPED_REACH} is missing: build it with "
            "`PYTHONPATH=src python test/m3po_ros/fixtures/build_reach_fixture.py`"
        )
    return SHIPPED_REACH


@pytest.fixture
def ros():
    r = Ros()
    yield r
    r.shutdown()
