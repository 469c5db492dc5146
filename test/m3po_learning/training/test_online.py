"""Trainer wiring: external episodes (sim nodes, robots) join replay in their own stream."""

import numpy as np
import pytest

from m3po_learning.config import load_config
from m3po_learning.training.online import build_trainer

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


def test_stop_request_ends_evaluation_at_once_and_training_saves(tmp_path):
    from m3po_learning.evaluation import EvaluationStopped, evaluate

    tr = build_trainer(load_config(None, FAST), tmp_path, progress=False)
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 5

    with pytest.raises(EvaluationStopped, match="stopped after 0 of"):
        evaluate(tr.agent, episodes=1, use_planner=True, should_stop=should_stop)
    assert len(polls) == 6  # polled every step, ended on the sixth

    # A stop requested before the end: training ends inside the segment, skips the final
    # evaluation and still saves where it got to.
    cfg = load_config(None, [*FAST, "train.steps=100000", "train.final_eval=true"])
    tr = build_trainer(cfg, tmp_path / "stopped", progress=False)
    log = tr.logger.log

    def log_then_stop(step: int, metrics: dict) -> None:  # the stop arrives mid-run
        log(step, metrics)
        tr.stop_requested = step >= 80

    tr.logger.log = log_then_stop
    tr.train()
    assert 80 <= tr.step < 100 and tr.last_eval == {}
    assert (tmp_path / "stopped" / "checkpoints" / f"step_{tr.step:09d}").is_dir()


def test_save_then_resume_restores_schedule_weights_and_replay(tmp_path):
    import torch

    cfg = load_config(None, [*FAST, "train.checkpoint_every=48"])
    tr = build_trainer(cfg, tmp_path, progress=False)
    tr.train()
    ckpts = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step_*")) == ["step_000000048", "step_000000096"]
    assert (ckpts / "latest").read_text().strip() == "step_000000096"
    saved = tr.buffer.state_dict()

    resumed = build_trainer(cfg, tmp_path, progress=False, resume=True)
    assert (resumed.step, resumed.episodes) == (96, tr.episodes)
    assert resumed._pretrained  # seeding is over: no second pretraining burst
    restored = resumed.buffer.state_dict()
    assert restored.keys() == saved.keys()
    for k, v in saved.items():
        np.testing.assert_array_equal(restored[k], v, err_msg=k)
    sd1, sd2 = tr.agent.model.state_dict(), resumed.agent.model.state_dict()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k
