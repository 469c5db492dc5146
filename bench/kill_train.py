"""Training that survives SIGKILL: `m3po train` killed at random moments, resumed each time.

Starts `m3po train --resume` on pendulum/swingup (tiny model), kills it with SIGKILL after a
random delay (it lands in collection, updates, evaluation, checkpoint or replay writes), and
starts it again, `--kills` times; then lets it finish. After every kill it checks:

    every checkpoint directory loads (metadata, config, weights with their hashes)
    checkpoints/latest names one that loads
    the resumed step is at least (last step logged before the kill - checkpoint_every)
    the resumed run restored its replay ("resumed from" and replay.npz loads)

With `--compare`, an uninterrupted run of the same length and seed is trained too and both
final evaluations are reported side by side (same range expected, not equality: CPU
training is not bit-reproducible across restarts).

    PYTHONPATH=src python bench/kill_train.py --kills 20 --steps 6000 --compare
Writes bench/results/kill_train.json (--out).
"""

from __future__ import annotations

import argparse
import csv
import json
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

REPO = Path(__file__).resolve().parents[1]
TASK = "pendulum/swingup"
SETTINGS = [
    "model.preset=tiny",
    "planner.num_samples=64",
    "planner.num_elites=16",
    "planner.iterations=2",
    "planner.num_pi_trajs=8",
    "optim.batch_size=32",
    "train.seed_steps=100",
    "train.pretrain_updates=10",
    "train.eval_episodes=1",
    "train.tensorboard=false",
    "train.num_threads=1",
    "train.utd=0.5",
]


def train_args(run: Path, steps: int, every: int) -> list[str]:
    """The `m3po train` command line of the run (always with --resume)."""
    return [
        sys.executable, "-m", "m3po_learning.cli", "train", "--out", str(run), "--resume",
        "--no-progress", "--tasks", TASK, f"train.steps={steps}",
        f"train.checkpoint_every={every}", f"train.eval_every={2 * every}", *SETTINGS,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")


def last_logged_step(run: Path) -> int:
    """The last step in metrics.csv (0 when none); a half-written last line is skipped."""
    path = run / "metrics.csv"
    if not path.is_file():
        return 0
    step = 0
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row and row[0].isdigit():
                step = int(row[0])
    return step


def check_run_dir(run: Path) -> list[str]:
    """Problems with the run directory's checkpoints and replay (empty: all sound)."""
    from m3po_learning.checkpoint import CheckpointError, load_agent

    problems = []
    ckpts = run / "checkpoints"
    for d in sorted(p for p in ckpts.glob("step_*") if p.is_dir()) if ckpts.is_dir() else []:
        try:
            load_agent(d, device="cpu")
        except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
            problems.append(f"{d.name}: {exc}")
    if (ckpts / "latest").is_file():
        try:
            load_agent(run, device="cpu")
        except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
            problems.append(f"latest: {exc}")
    replay = run / "replay.npz"
    if (ckpts / "latest").is_file() and not replay.is_file():
        problems.append("replay.npz missing although a checkpoint exists (it is saved first)")
    if replay.is_file():
        try:
            with np.load(replay) as z:
                z["count"].sum()
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"replay.npz: {exc}")
    return problems


def writing_checkpoint(ckpts: Path, pid: int) -> bool:
    """Process `pid` is writing a checkpoint: its temporary directory is in `ckpts`."""
    try:
        return any(f".tmp-{pid}-" in p.name for p in ckpts.iterdir())
    except OSError:
        return False


def latest_step(run: Path) -> int:
    """The step of checkpoints/latest (0 when there is none, or it is being replaced).

    Polled while a trainer runs: `latest` may name a checkpoint pruned a moment later, so a
    missing or unreadable one reads as 0 (`check_run_dir` reports real damage).
    """
    ck = run / "checkpoints"
    try:
        name = (ck / "latest").read_text().strip()
        return int(json.loads((ck / name / "metadata.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def run_kills(
    kills: int, steps: int, every: int, work: Path, seed: int = 0, delay=(3.0, 12.0)
) -> dict:
    """Kill and resume `kills` times, then finish; returns what was seen."""
    rng = np.random.default_rng(seed)
    run = work / "killed"
    args = train_args(run, steps, every)
    rows, problems = [], []
    for k in range(kills):
        log = work / f"attempt_{k}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(args, env=_env(), stdout=out, stderr=subprocess.STDOUT)
            wait = float(rng.uniform(*delay))
            try:
                proc.wait(timeout=wait)
                finished = True
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                finished = False
        text = log.read_text()
        logged = last_logged_step(run)
        found = check_run_dir(run)
        problems += [f"after kill {k}: {p}" for p in found]
        rows.append(
            {
                "kill": k,
                "after_s": round(wait, 2),
                "finished_before_kill": finished,
                "resumed": "resumed from" in text,
                "resumed_step": _resumed_step(text),
                "last_logged_step": logged,
                "latest_step": latest_step(run),
                "problems": found,
            }
        )
        if finished:
            break
    t0 = time.monotonic()
    final = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=3600)
    if final.returncode != 0:
        problems.append(f"final run failed: {final.stderr[-2000:]}")
    problems += [f"at the end: {p}" for p in check_run_dir(run)]
    backwards = steps_backwards(rows, _resumed_step(final.stderr), every)
    return {
        "kills": rows,
        "final_seconds": round(time.monotonic() - t0, 1),
        "final_step": latest_step(run),
        "final_resumed_step": _resumed_step(final.stderr),
        "final_return": _final_return(final.stdout),
        "problems": problems,
        "steps_backwards_beyond_one_interval": backwards,
        "leftover_tmp_files": sorted(p.name for p in run.rglob("*.tmp-*")),
    }


def steps_backwards(rows: list[dict], final_resumed: int | None, every: int) -> list:
    """Starts that resumed more than one checkpoint interval before the step reached.

    Each start that resumed is compared with the last step logged before it. A start killed
    before it got as far as resuming (SIGKILL during imports) made no progress and is
    skipped; the final start must resume once a checkpoint exists.

    Returns:
        [(kill index before the start, step reached, step resumed at)], empty when sound.
    """
    out = []
    starts = [(r["resumed_step"], not r["finished_before_kill"]) for r in rows[1:]]
    for prev, (resumed, killed) in zip(rows, [*starts, (final_resumed, False)], strict=True):
        if prev["latest_step"] == 0 or (resumed is None and killed):
            continue
        if resumed is None or resumed < prev["last_logged_step"] - every:
            out.append((prev["kill"], prev["last_logged_step"], resumed))
    return out


def _resumed_step(text: str) -> int | None:
    for line in text.splitlines():
        if "resumed from" in line and "at step" in line:
            return int(line.rsplit("at step", 1)[1].split()[0])
    return None


def _final_return(stdout: str) -> float | None:
    for line in stdout.splitlines():
        if line.strip().startswith(TASK):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the kills (and with --compare an uninterrupted run); print and save JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument(
        "--every", type=int, default=512, help="train.checkpoint_every (a multiple of 64)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", action="store_true", help="also train once without kills")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "kill_train.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_kills(args.kills, args.steps, args.every, Path(tmp), args.seed)
        if args.compare:
            clean = Path(tmp) / "clean"
            done = subprocess.run(
                train_args(clean, args.steps, args.every),
                env=_env(),
                capture_output=True,
                text=True,
            )
            result["uninterrupted_return"] = _final_return(done.stdout)
    save_result(result, args.out, "kill_train.py", argv)
    return 1 if result["problems"] or result["steps_backwards_beyond_one_interval"] else 0


if __name__ == "__main__":
    sys.exit(main())
