"""Training throughput: agent steps/s, the cost of one world-model update, and peak RSS.

Agent steps/s are measured with planning on and update-to-data 1, one task, batch 256.

    python bench/bench_training.py [--preset 1M] [--steps 300] [--out bench/results/training.json]

`--peer` runs TD-MPC2's own code (../shared/peer: 1M, walker-walk, default planning, UTD 1,
batch 256) between two runs of ours with the same settings, and records its figures and the
ratios (ours / TD-MPC2 for steps/s, TD-MPC2 / ours for update time) for each of our runs:

    export TDMPC2_DIR=../tdmpc2 TDMPC2_PYTHON=../tdmpc2-venv/bin/python
    python bench/bench_training.py --peer
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from m3po_learning.config import load_config
from m3po_learning.training.online import build_trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import add_peer_args, cpu_name, run_peer, save_result  # noqa: E402

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
    """Run one training benchmark (twice around TD-MPC2 with --peer), print and save JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="1M")
    ap.add_argument("--task", default="dmc/walker-walk")
    ap.add_argument("--steps", type=int, default=300, help="measured agent steps")
    ap.add_argument("--seed-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="extra config overrides")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "training.json"))
    add_peer_args(ap)
    args = ap.parse_args()
    if args.peer and (args.preset != "1M" or args.task != "dmc/walker-walk"):
        raise SystemExit("--peer compares the 1M preset on dmc/walker-walk (the driver's)")
    torch.set_num_threads(args.threads)
    r = run(args.preset, args.task, args.steps, args.seed_steps, args.threads, args.overrides)
    r["machine"] = {"cpu": cpu_name(), "threads": args.threads, "torch": torch.__version__}
    if args.peer:
        peer = run_peer(args, args.threads, act_calls=20)
        print(
            f"TD-MPC2 1M: {peer['train']['steps_per_s']:.3f} agent steps/s, one update "
            f"{peer['update_isolated']['p50_ms']:.1f} ms; ours {r['agent_steps_per_s']:.3f}, "
            f"{r['update_ms_p50']:.1f} ms",
            flush=True,
        )
        after = run(
            args.preset, args.task, args.steps, args.seed_steps, args.threads, args.overrides
        )
        ratios = {}
        for when, mine in (("before", r), ("after", after)):
            ratios[when] = {
                "steps_per_s": mine["agent_steps_per_s"] / peer["train"]["steps_per_s"],
                "update": peer["update_isolated"]["p50_ms"] / mine["update_ms_p50"],
                "rss": mine["peak_rss_mb"] / peer["rss_peak_total_mb"],
            }
        r["peer"] = {
            "tdmpc2": {
                k: peer[k]
                for k in (
                    "commit",
                    "params",
                    "cfg",
                    "act",
                    "train",
                    "update_isolated",
                    "rss_peak_total_mb",
                    "versions",
                )
            },
            "ours_after": after,
            "ratio_before": ratios["before"],
            "ratio_after": ratios["after"],
            "target_steps_per_s_ratio": 5.0,
        }
    save_result(r, args.out, "bench_training.py", None)


if __name__ == "__main__":
    main()
