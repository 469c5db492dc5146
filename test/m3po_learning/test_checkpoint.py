"""Checkpoint round trip is bit-exact; corrupt, truncated or tampered checkpoints are refused."""

import json

import numpy as np
import pytest
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.checkpoint import CheckpointError, load_agent, save_checkpoint
from m3po_learning.config import load_config
from m3po_learning.types import Batch, EnvSpec

SPECS = [
    EnvSpec("toy/a", 5, 1, 100, joint_names=("j0",)),
    EnvSpec("toy/b", 8, 3, 400, joint_names=("j0", "j1", "j2")),
]


@pytest.fixture
def agent():
    cfg = load_config(None, ["model.preset=tiny", "optim.batch_size=16"])
    ag = M3POAgent(cfg, SPECS, device="cpu")
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randn(4, 16, 8, generator=g),
        torch.rand(3, 16, 3, generator=g),
        torch.rand(3, 16, generator=g),
        torch.zeros(3, 16),
        torch.randint(0, 2, (16,), generator=g),
        torch.zeros(3, 16),
    )
    for _ in range(3):  # non-trivial weights and optimizer moments
        ag.update_world_model(batch)
    return ag


def test_round_trip_is_exact(agent, tmp_path):
    path = save_checkpoint(tmp_path / "ck", agent, step=42, trainer_state={"step": 42})
    loaded = load_agent(path, device="cpu", load_optimizer=True)
    assert loaded.tasks == agent.tasks and loaded.specs == agent.specs
    assert loaded.cfg == agent.cfg
    sd1, sd2 = agent.model.state_dict(), loaded.model.state_dict()
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
    o1, o2 = agent.wm_optim.state_dict(), loaded.wm_optim.state_dict()
    for pid in o1["state"]:
        for k, v in o1["state"][pid].items():
            assert torch.equal(v, o2["state"][pid][k])
    # same weights, same generator seed -> same planned actions
    obs = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    agent.generator.manual_seed(9)
    loaded.generator.manual_seed(9)
    a1 = agent.act(obs, [0, 1], explore=False, use_planner=True).action
    a2 = loaded.act(obs, [0, 1], explore=False, use_planner=True).action
    np.testing.assert_array_equal(a1, a2)
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["step"] == 42 and meta["tasks"] == ["toy/a", "toy/b"]
    assert meta["versions"]["torch"] == torch.__version__
    assert not list(tmp_path.glob(".ck.tmp*"))  # no temp dirs left behind


def test_overwrite_is_atomic_and_old_survives_failure(agent, tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck", agent)
    before = (path / "model.safetensors").read_bytes()
    import m3po_learning.checkpoint as ckmod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ckmod, "save_file", boom)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*ck: .*disk full"):
        save_checkpoint(tmp_path / "ck", agent)
    assert (path / "model.safetensors").read_bytes() == before
    assert not list(tmp_path.glob(".ck.tmp*"))
    load_agent(path, device="cpu")


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "meta", "config"])
def test_corrupt_checkpoint_refused(agent, tmp_path, damage):
    path = save_checkpoint(tmp_path / "ck", agent)
    w = path / "model.safetensors"
    if damage == "truncate":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        msg = "truncated"
    elif damage == "flip":
        data = bytearray(w.read_bytes())
        data[len(data) // 2] ^= 0xFF
        w.write_bytes(bytes(data))
        msg = "sha256"
    elif damage == "delete":
        w.unlink()
        msg = "missing"
    elif damage == "meta":
        (path / "metadata.json").write_text("{not json")
        msg = "not JSON"
    else:
        (path / "config.yaml").write_text("model:\n  latent_dim: 7\n")
        msg = "config.yaml"
    with pytest.raises(CheckpointError, match=msg):
        load_agent(path, device="cpu")


def test_missing_and_non_checkpoint_paths(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_agent(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_agent(tmp_path / "empty")


def test_model_overrides_refused(agent, tmp_path):
    path = save_checkpoint(tmp_path / "ck", agent)
    ok = load_agent(path, device="cpu", overrides=["planner.num_samples=128"])
    assert ok.cfg.planner.num_samples == 128
    with pytest.raises(CheckpointError, match="model settings"):
        load_agent(path, device="cpu", overrides=["model.latent_dim=256"])


def test_run_checkpoints_replace_or_stay_unique_and_are_pruned(agent, tmp_path):
    from m3po_learning.checkpoint import save_run_checkpoint

    run = tmp_path / "run"
    for step in (1, 2, 3, 4):
        path = save_run_checkpoint(run, agent, step, {"step": step}, keep=2)
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step_*")) == ["step_000000003", "step_000000004"]
    assert (ckpts / "latest").read_text().strip() == path.name == "step_000000004"
    again = save_run_checkpoint(run, agent, 4)  # same name: replaced in place
    assert again == path and load_agent(run, device="cpu").checkpoint_meta["trainer_state"] == {}
    names = [save_run_checkpoint(run, agent, 9, prefix="bag", unique=True).name for _ in "ab"]
    assert names == ["bag_000000009", "bag_000000009_1"]
    assert load_agent(run, device="cpu").checkpoint_path.name == "bag_000000009_1"
    assert len(list(ckpts.glob("step_*"))) == 2  # other prefixes are not pruned
