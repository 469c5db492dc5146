"""A full disk during `m3po train`'s checkpoint write loses nothing already saved.

Runs bench/disk_full.py's scenario: real `m3po train` processes on a real 48 MiB tmpfs
(mounted in a private namespace with `unshare -rm`), filled until the next checkpoint
write fails with ENOSPC.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "disk_full.py"


def test_full_disk_keeps_previous_checkpoint_and_names_the_cause(tmp_path):
    spec = importlib.util.spec_from_file_location("disk_full", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.run_disk_full(tmp_path)
    print(result)
    assert result["failures"] == [], result
