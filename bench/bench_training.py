"""Training throughput: agent steps/s, the cost of one world-model update, and peak RSS.

Agent steps/s are measured with planning on and update-to-data 1, one task, batch 256.

    python bench/bench_training.py [--preset 1M] [--steps 300] [--out bench/results/training.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from m3po_learning.config import load_config
from m3po_learning.training.online import build_trainer

ROOT = Path(__file__).resolve().parents[1]
TDMPC2 = {
    "1M": {"steps_per_s": 4.3, "update_ms": 102, "rss_mb": 617},
    "5M": {"steps_per_s": 1.5, "update_ms": 341, "rss_mb": 959},
}


def run(
    preset: str, task: str, steps: int, seed_steps: int, threads: int, extra: list[str]
) -> dict:
    """Train `steps` agent steps after `seed_steps` random ones, planning on every step.

    Args:
        preset: model size preset.
        task: the single training task.
        steps: measured agent steps.
        seed_steps: random-action steps before them.
        threads: torch threads (train.num_threads).
        extra: further config overrides.

    Returns:
        The last logged agent steps/s, p50 ms of one update on a replay batch, wall time
        (s), peak RSS (MB) and TD-MPC2's figures for the preset.
    """
    out = Path(tempfile.mkdtemp(prefix="m3po-bench-train-"))
    cfg = load_config(
        None,
        [
            f"model.preset={preset}",
            f"train.tasks=[{task}]",
            f"train.steps={seed_steps + steps}",
            f"train.seed_steps={seed_steps}",
            f"train.num_threads={threads}",
            "train.utd=1",
            "train.eval_every=0",
            "train.checkpoint_every=0",
            "train.final_eval=false",
            "train.tensorboard=false",
            "explore.planner=always",  # the planner acts on every step (the expensive case)
            "train.pretrain_updates=0",  # the timed window starts right after seeding
            *extra,
        ],
    )
    trainer = build_trainer(cfg, out, progress=False)
    t0 = time.time()
    trainer.train()
    wall = time.time() - t0
    rates = [
        float(r["value"])
        for r in csv.DictReader(open(out / "metrics.csv"))
        if r["name"] == "perf/agent_steps_per_s"
    ]
    # one update in isolation, on a replay batch
    agent, batch = trainer.agent, trainer.buffer.sample(cfg.optim.batch_size)
    upd = []
    for _ in range(20):
        t = time.perf_counter()
        agent.update(batch)
        upd.append((time.perf_counter() - t) * 1e3)
    return {
        "preset": preset,
        "task": task,
        "overrides": extra,
        "agent_steps": steps,
        "agent_steps_per_s": rates[-1] if rates else float("nan"),
        "update_ms_p50": float(np.median(upd)),
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tdmpc2_same_machine": TDMPC2.get(preset),
    }


def main() -> None:
    """Run one training benchmark, print its JSON and write it to `--out`."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="1M")
    ap.add_argument("--task", default="dmc/walker-walk")
    ap.add_argument("--steps", type=int, default=300, help="measured agent steps")
    ap.add_argument("--seed-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="extra config overrides")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "training.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = run(args.preset, args.task, args.steps, args.seed_steps, args.threads, args.overrides)
    r["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
    }
    print(json.dumps(r, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
