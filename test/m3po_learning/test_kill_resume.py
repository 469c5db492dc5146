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
    result = bench.run_kills(3, steps=512, every=128, work=tmp_path, seed=1, delay=(5.0, 11.0))
    print(result)
    assert result["problems"] == []
    assert result["steps_backwards_beyond_one_interval"] == []
    assert result["final_step"] == 512
    killed = [r for r in result["kills"] if not r["finished_before_kill"]]
    assert len(killed) >= 2, "the kills should land before training ends"
    assert any(r["resumed"] for r in result["kills"][1:]), "no start resumed a checkpoint"
    assert result["final_return"] is not None


def test_ctrl_c_saves_a_checkpoint_and_says_where(tmp_path):
    """SIGINT (Ctrl-C) and SIGTERM stop `m3po train` with a checkpoint; the run resumes."""
    import signal
    import subprocess
    import time

    from m3po_learning.checkpoint import read_checkpoint

    spec = importlib.util.spec_from_file_location("kill_train", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = tmp_path / sig.name
        args = bench.train_args(run, 100_000, 100_000)  # no checkpoint before the signal
        proc = subprocess.Popen(
            args, env=bench._env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 120
        while bench.last_logged_step(run) < 64 and time.monotonic() < deadline:
            time.sleep(0.2)  # training has started (the handler is installed)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-2000:]
        assert "checkpoint saved" in err and str(run) in err, err[-2000:]
        assert "Traceback" not in err, err[-3000:]
        ck = read_checkpoint(run)
        assert ck.metadata["step"] >= 64
        assert (run / "replay.npz").is_file()
