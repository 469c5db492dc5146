"""SIGKILL `m3po finetune` at random moments: nothing it started from or wrote is damaged.

A fine-tuning run reads a checkpoint and bags and writes one checkpoint into `--out` at the
end (atomically: temporary directory, then rename, then `latest`). Killed `--kills` times,
each time followed by a check, then run once more to completion: even kills at random
moments (loading, reading the bag, fitting), odd ones the moment its checkpoint write
starts (the output's checkpoints/ polled every millisecond for a temporary directory).
Checked:
  - the checkpoint it started from is byte-for-byte unchanged and loads;
  - every checkpoint in the output directory loads, and `latest` (when there) names one;
  - the run after the kills finishes and its checkpoint loads.

    PYTHONPATH=src python bench/kill_finetune.py              # 10 kills, ~3 minutes
    PYTHONPATH=src python bench/kill_finetune.py --kills 3    # the make-test version
Writes bench/results/kill_finetune.json (--out). Exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import save_result  # noqa: E402
from kill_train import REPO, writing_checkpoint  # noqa: E402

CHECKPOINT = REPO / "test" / "m3po_ros" / "fixtures" / "arm2_reach_tiny"
TASK = "arm2/reach"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")


def digest(folder: Path) -> str:
    """sha256 over the names and bytes of every file under `folder`."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def check_out_dir(out: Path) -> list[str]:
    """Problems with the fine-tuning output directory (empty: everything in it loads)."""
    from m3po_learning.checkpoint import CheckpointError, load_agent

    problems = []
    ckpts = out / "checkpoints"
    for d in sorted(p for p in ckpts.glob("finetune_*") if p.is_dir()) if ckpts.is_dir() else []:
        try:
            load_agent(d, device="cpu")
        except CheckpointError as exc:
            problems.append(f"{d.name}: {exc}")
    if (ckpts / "latest").is_file():
        try:
            load_agent(out, device="cpu")
        except CheckpointError as exc:
            problems.append(f"latest: {exc}")
    return problems


def run_kills(kills: int, work: Path, seed: int = 0, steps: int = 300, delay=(2.0, 12.0)) -> dict:
    """Kill `m3po finetune` `kills` times, checking after each, then let it finish."""
    from m3po_learning.checkpoint import CheckpointError, load_agent
    from m3po_learning.datasets.sim_bag import write_sim_bag

    rng = np.random.default_rng(seed)
    start = work / "start"
    start.mkdir(parents=True)
    ckpt = start / "ckpt"
    subprocess.run(["cp", "-r", str(CHECKPOINT), str(ckpt)], check=True)
    before = digest(ckpt)
    bag = work / "bag"
    write_sim_bag(bag, TASK, 1500, seed=seed)
    out = work / "out"
    args = [
        sys.executable, "-m", "m3po_learning.cli", "finetune", "--checkpoint", str(ckpt),
        "--bag", str(bag), "--task", TASK, "--out", str(out), "--steps", str(steps),
        "--no-progress", "--device", "cpu",
    ]  # fmt: skip
    rows, problems = [], []
    for k in range(kills):
        aimed = k % 2 == 1
        wait = float(rng.uniform(*delay))
        log = work / f"attempt_{k}.log"
        t0 = time.monotonic()
        with open(log, "w") as f:
            proc = subprocess.Popen(args, env=_env(), stdout=f, stderr=subprocess.STDOUT)
            if aimed:  # the moment its checkpoint write starts (a temporary directory appears)
                ckpts = out / "checkpoints"
                while proc.poll() is None and not writing_checkpoint(ckpts, proc.pid):
                    time.sleep(0.001)
            else:
                try:
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
            during_write = writing_checkpoint(out / "checkpoints", proc.pid)
            finished = proc.poll() is not None
            if not finished:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        found = check_out_dir(out)
        if digest(ckpt) != before:
            found.append("the starting checkpoint changed")
        problems += [f"after kill {k}: {p}" for p in found]
        rows.append(
            {"kill": k, "aimed_at_write": aimed, "after_s": round(time.monotonic() - t0, 2),
             "during_write": during_write, "finished_before_kill": finished, "problems": found}
        )  # fmt: skip
    t0 = time.monotonic()
    final = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=1800)
    if final.returncode != 0:
        problems.append(f"final run failed: {final.stderr[-2000:]}")
    problems += [f"at the end: {p}" for p in check_out_dir(out)]
    try:
        load_agent(ckpt, device="cpu")
        start_loads = True
    except CheckpointError as exc:
        start_loads = False
        problems.append(f"starting checkpoint: {exc}")
    finished_ckpts = sorted(p.name for p in (out / "checkpoints").glob("finetune_*"))
    return {
        "kills": rows,
        "kills_during_a_write": sum(r["during_write"] for r in rows),
        "steps": steps,
        "final_seconds": round(time.monotonic() - t0, 1),
        "final_exit": final.returncode,
        "starting_checkpoint_unchanged": digest(ckpt) == before,
        "starting_checkpoint_loads": start_loads,
        "checkpoints_written": finished_ckpts,
        "leftover_tmp_dirs": sorted(p.name for p in (out / "checkpoints").glob(".*tmp-*")),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the kills, print and save the JSON; exit 1 when a check failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "kill_finetune.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_kills(args.kills, Path(tmp), args.seed, args.steps)
    save_result(result, args.out, "kill_finetune.py", argv)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
