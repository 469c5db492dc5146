"""SIGKILL the learner node at a checkpoint write: the controller following it runs on.

The shortened version of bench/kill_learner.py: real processes over DDS (sim robot,
following controller, learner node), real SIGKILL, real checkpoint files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kill_learner.py"


def test_learner_killed_while_writing_controller_keeps_running(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_learner", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run_kills(1, tmp_path, seed=0)  # aimed at a write; 10 kills in the bench
    print(result)
    assert bench.failures(result) == [], result
    assert result["kills"][0]["aimed_at_write"]
    for row in result["kills"]:
        assert row["first_step_after_restart"] > row["latest_step_at_kill"], row  # resumed
