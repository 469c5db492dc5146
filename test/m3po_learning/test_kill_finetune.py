"""`m3po finetune` killed with SIGKILL at random moments damages nothing (bench/kill_finetune.py).

Real processes, real SIGKILL, real bag and checkpoint files; 2 kills here, 10 in the bench.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kill_finetune.py"


def test_two_kills_then_finish(tmp_path):
    spec = importlib.util.spec_from_file_location("kill_finetune", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run_kills(2, tmp_path, seed=0, steps=150, delay=(3.0, 8.0))  # 2nd: at the write
    print(result)
    assert result["problems"] == []
    assert result["final_exit"] == 0
    assert result["starting_checkpoint_unchanged"] and result["starting_checkpoint_loads"]
    assert result["checkpoints_written"], "the final run wrote no checkpoint"
    assert result["kills"][1]["aimed_at_write"]
