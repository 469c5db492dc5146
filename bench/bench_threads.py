"""Torch threads alone and beside another CPU-bound job: one update and one planning act().

For each setting of train.num_threads (1, 2, 0 = auto) it times `--calls` agent updates and
planning act() calls, first on a quiet machine, then with `--hogs` other processes each
running a one-thread torch matmul loop (a training job beside it). Writes JSON.

    python bench/bench_threads.py [--calls 20] [--hogs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HOG = (
    "import torch; torch.set_num_threads(1); a = torch.randn(512, 512)\n"
    "while True: a = torch.tanh(a @ a)"
)


def measure(requested: int, calls: int) -> dict:
    """Time `calls` 1M-model updates (batch 256, horizon 3) and planning act() calls.

    Args:
        requested: train.num_threads setting (0 = auto), passed to configure_threads.
        calls: timed calls of each, after 3 warm-up calls.

    Returns:
        Threads actually used and p50/max ms of update and act.
    """
    import torch

    from m3po_learning.agent import M3POAgent
    from m3po_learning.config import load_config
    from m3po_learning.threads import configure_threads
    from m3po_learning.types import Batch, EnvSpec

    n = configure_threads(requested)
    cfg = load_config(None, ["model.preset=1M", "model.task_dim=0"])
    spec = EnvSpec("dmc/walker-walk", obs_dim=24, action_dim=6, episode_length=500)
    agent = M3POAgent(cfg, [spec], device="cpu")
    g = torch.Generator().manual_seed(0)
    H, B = 3, 256
    batch = Batch(
        torch.randn(H + 1, B, 24, generator=g),
        torch.rand(H, B, 6, generator=g) * 2 - 1,
        torch.rand(H, B, generator=g),
        torch.zeros(H, B),
        torch.zeros(B, dtype=torch.long),
        torch.zeros(H, B),
    )
    obs = np.zeros((1, 24), np.float32)
    for _ in range(3):
        agent.update(batch)
        agent.act(obs, [0], explore=True, use_planner=True)
    upd, act = [], []
    for _ in range(calls):
        t = time.perf_counter()
        agent.update(batch)
        upd.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        agent.act(obs, [0], explore=True, use_planner=True)
        act.append((time.perf_counter() - t) * 1e3)
    return {
        "requested": requested,
        "threads": n,
        "update_ms_p50": float(np.median(upd)),
        "update_ms_max": float(np.max(upd)),
        "act_ms_p50": float(np.median(act)),
        "act_ms_max": float(np.max(act)),
    }


def main() -> None:
    """Measure each thread setting in a fresh process, alone and beside `--hogs` CPU hogs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--hogs", type=int, default=1)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "threads.json"))
    args = ap.parse_args()
    if args.child is not None:  # one measurement in a fresh process (threads are per process)
        print(json.dumps(measure(args.child, args.calls)))
        return
    results = {}
    for scenario in ("alone", f"beside {args.hogs} cpu-bound process(es)"):
        hogs = []
        if scenario != "alone":
            hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(args.hogs)]
            time.sleep(2.0)
        try:
            for req in (1, 2, 0):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(req), "--calls", str(args.calls)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault(scenario, []).append(r)
                print(scenario, r, flush=True)
        finally:
            for h in hogs:
                h.kill()
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
