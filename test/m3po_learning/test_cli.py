"""The real `m3po` CLI: train a few hundred steps, leave a loadable checkpoint, resume, eval."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from m3po_learning.checkpoint import load_agent

SRC = Path(__file__).resolve().parents[2] / "src"
FAST = ["model.preset=tiny", "planner.num_samples=64", "planner.num_elites=16",
        "planner.iterations=2", "planner.num_pi_trajs=8", "optim.batch_size=32",
        "train.seed_steps=100", "train.segment_steps=32", "train.eval_episodes=1",
        "train.tensorboard=false", "train.utd=0.5"]


def m3po(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "m3po_learning.cli", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_help_documents_options():
    out = m3po("train", "--help")
    assert out.returncode == 0
    for opt in ("--config", "--out", "--resume", "--tasks", "KEY=VALUE"):
        assert opt in out.stdout
    out = m3po("--help")
    for cmd in ("train", "eval", "demo", "plot"):
        assert cmd in out.stdout


def test_train_leaves_loadable_checkpoint_then_resume_and_eval(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--no-progress", "--tasks", "pendulum/swingup",
            "train.steps=256", "train.checkpoint_every=128", "train.eval_every=0", *FAST]
    out = m3po(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "final evaluation" in out.stdout and "pendulum/swingup" in out.stdout
    agent = load_agent(run, device="cpu")
    assert agent.tasks == ["pendulum/swingup"]
    assert agent.checkpoint_meta["step"] == 256
    assert (run / "metrics.csv").read_text().count("wm/total") > 0
    assert "pendulum/swingup" in (run / "eval.csv").read_text()

    # resume: continues from step 256 instead of starting over
    out = m3po(*[a if a != "train.steps=256" else "train.steps=384" for a in args], "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed from" in out.stderr
    assert load_agent(run, device="cpu").checkpoint_meta["step"] == 384
    steps = [int(line.split(",")[0]) for line in
             (run / "metrics.csv").read_text().splitlines()[1:]]
    assert min(s for s in steps if s > 256) > 256 and max(steps) == 384

    res = tmp_path / "ret.json"
    out = m3po("eval", "--checkpoint", str(run), "--episodes", "1", "--json", str(res),
               "planner.iterations=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert set(json.loads(res.read_text())) == {"pendulum/swingup"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--tasks", "nope/task", "train.steps=10"], "nope/task"),
        (["train", "planner.num_samples=-3"], "planner.num_samples=-3"),
        (["train", "bogus.key=1"], "unknown config key 'bogus'"),
        (["eval", "--checkpoint", "/nonexistent/ckpt"], "does not exist"),
    ],
)
def test_bad_input_exits_with_clear_error(args, message):
    out = m3po(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
