"""`m3po train` killed with SIGKILL three times at random moments resumes without losing work.

The shortened version of bench/kill_train.py (20 kills there): real processes, real SIGKILL,
the real checkpoint and replay files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kill_train.py"


def test_three_kills_then_finish(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_train", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # every=128: a multiple of the trainer's 64-step chunks, so checkpoints fall on it exactly
    result = bench.run_kills(3, steps=640, every=128, work=tmp_path, seed=1, delay=(5.0, 11.0))
    print(result)
    assert result["problems"] == []
    assert result["steps_backwards_beyond_one_interval"] == []
    assert result["final_step"] == 640
    killed = [r for r in result["kills"] if not r["finished_before_kill"]]
    assert len(killed) >= 2, "the kills should land before training ends"
    assert any(r["resumed"] for r in result["kills"][1:]), "no start resumed a checkpoint"
    assert result["final_return"] is not None
