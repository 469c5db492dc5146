"""`m3po finetune` on bags from a different writer: held-out fit improves, checkpoints load."""

from __future__ import annotations

import argparse
import json

import pytest

from m3po_learning.checkpoint import load_agent
from m3po_learning.cli import finetune as finetune_cli
from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    finetune_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["finetune", *argv])
    return args.func(args)


def test_finetune_cli_sqlite3_improves_heldout_fit(tmp_path, tiny_checkpoint, capsys):
    bag = tmp_path / "bag"
    write_sim_bag(
        bag,
        "arm2/reach",
        700,
        seed=5,
        options=SimBagOptions(storage="sqlite3", jitter_ns=2_000_000),
    )
    out = tmp_path / "out"
    rc = _cli(
        [
            "--bag",
            str(bag),
            "--checkpoint",
            str(tiny_checkpoint),
            "--task",
            "arm2/reach",
            "--out",
            str(out),
            "--steps",
            "200",
            "--no-progress",
            "--json",
            "optim.lr=5e-4",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    before, after = summary["heldout_before"], summary["heldout_after"]
    assert after["fit"] < before["fit"], summary
    # the trust-region actor takes one step with every world-model step
    assert summary["policy_updates"] == 200 and summary["heldout_transitions"] > 50
    agent = load_agent(out, device="cpu")
    assert agent.tasks == ["arm2/reach"]
    meta = agent.checkpoint_meta
    assert meta["step"] == 400 + 200 and meta["trainer_state"]["finetune"]["steps"] == 200
    # a second run into the same directory keeps the first checkpoint
    _cli(
        [
            "--bag",
            str(bag),
            "--checkpoint",
            str(out),
            "--task",
            "arm2/reach",
            "--out",
            str(out),
            "--steps",
            "5",
            "--no-progress",
        ]
    )
    assert len(list((out / "checkpoints").glob("finetune_*"))) == 2


def test_new_task_starts_from_nearest_embedding(tmp_path, tiny_checkpoint):
    from m3po_learning.config import FinetuneConfig
    from m3po_learning.training.finetune import finetune_checkpoint

    bag = tmp_path / "track"
    write_sim_bag(bag, "arm2/track", 300, seed=2)
    result, path = finetune_checkpoint(
        tiny_checkpoint,
        [bag],
        "arm2/track",
        tmp_path / "out",
        FinetuneConfig(steps=20, policy_every=10),
        progress=False,
        device="cpu",
    )
    assert result.nearest_task == "arm2/reach"
    agent = load_agent(path, device="cpu")
    assert agent.tasks == ["arm2/reach", "arm2/track"]
    emb = agent.model.task_emb.weight
    assert emb.shape[0] == 2


def test_finetune_refuses_task_of_another_robot(tmp_path, tiny_checkpoint):
    from m3po_learning.datasets import BagError
    from m3po_learning.training.finetune import finetune_checkpoint

    bag = tmp_path / "pend"
    write_sim_bag(bag, "pendulum/swingup", 40)
    # The bag has no goal topic and pendulum joints: refused with the reason, nothing written.
    with pytest.raises(BagError):
        finetune_checkpoint(
            tiny_checkpoint, [bag], "arm2/reach", tmp_path / "out", progress=False, device="cpu"
        )
    assert not (tmp_path / "out").exists()


def test_schedule_is_the_checkpoints_finetune_section(tmp_path, tiny_checkpoint):
    """Overrides and a mapping of finetune keys change the section; bad values are named."""
    from m3po_learning.config import ConfigError
    from m3po_learning.training.finetune import finetune_checkpoint

    bag = tmp_path / "bag"
    write_sim_bag(bag, "arm2/reach", 200, seed=3)
    out = tmp_path / "out"
    result, path = finetune_checkpoint(
        tiny_checkpoint,
        [bag],
        "arm2/reach",
        out,
        overrides=["finetune.steps=7", "finetune.holdout_frac=0.25"],
        progress=False,
        device="cpu",
    )
    assert result.steps == 7 and path.name == "finetune_000000407"
    stored = load_agent(path, device="cpu").checkpoint_meta["trainer_state"]["finetune"]
    assert stored["config"]["steps"] == 7 and stored["config"]["holdout_frac"] == 0.25
    result, path = finetune_checkpoint(
        tiny_checkpoint, [bag], "arm2/reach", out, {"steps": 3}, progress=False, device="cpu"
    )
    assert result.steps == 3 and path.name == "finetune_000000403"
    with pytest.raises(ConfigError, match=r"finetune\.holdout_frac=1\.5"):
        finetune_checkpoint(
            tiny_checkpoint, [bag], "arm2/reach", out, {"holdout_frac": 1.5}, device="cpu"
        )


def test_cli_refuses_a_bad_holdout_with_its_key(tmp_path, tiny_checkpoint):
    from m3po_learning.config import ConfigError

    bag = tmp_path / "bag"
    write_sim_bag(bag, "arm2/reach", 60, seed=4)
    args = ["--bag", str(bag), "--checkpoint", str(tiny_checkpoint), "--task", "arm2/reach"]
    with pytest.raises(ConfigError, match=r"finetune\.holdout_frac=1\.5"):
        _cli([*args, "--out", str(tmp_path / "out"), "--holdout", "1.5", "--no-progress"])
