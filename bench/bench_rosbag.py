"""Rosbag ingest rate (messages/s, transitions/s) and offline fine-tuning throughput.

Writes a 100 Hz-style arm2/reach log (joint_states + joint_commands + goal per tick) with the
rosbags writer, reads it back through `load_bag_dataset` (MCAP and sqlite3), and times
`finetune_on_dataset` steps with a tiny agent. Prints a table and writes
bench/results/rosbag.json.

    PYTHONPATH=src python bench/bench_rosbag.py [--ticks 30000] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from m3po_learning.datasets import load_bag_dataset
from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag

TASK = "arm2/reach"


def bench_ingest(root: Path, ticks: int, storage: str, repeats: int = 3) -> dict:
    """Write a `ticks`-long sim bag in `storage` format under `root` and time reading it back.

    Returns:
        Message and transition counts, bag size in bytes, the best of `repeats` read times
        (s) with the rates it gives, and the loaded dataset under `_dataset`.
    """
    bag = root / f"bag_{storage}"
    t = time.perf_counter()
    info = write_sim_bag(
        bag, TASK, ticks, options=SimBagOptions(storage=storage, jitter_ns=1_000_000)
    )
    write_s = time.perf_counter() - t
    best = None
    for _ in range(repeats):
        t = time.perf_counter()
        ds = load_bag_dataset([bag], TASK, progress=False)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    size = sum(f.stat().st_size for f in bag.iterdir())
    return {
        "storage": storage,
        "messages": info["messages"],
        "transitions": ds.num_transitions,
        "bytes": size,
        "read_s": round(best, 4),
        "messages_per_s": round(info["messages"] / best),
        "transitions_per_s": round(ds.num_transitions / best),
        "write_s_incl_sim": round(write_s, 3),
        "_dataset": ds,
    }


def bench_finetune(ds, steps: int) -> dict:
    """Time `steps` fine-tuning steps on `ds`: fresh tiny (batch 64) and 1M (batch 256) agents."""
    from m3po_learning.agent import M3POAgent
    from m3po_learning.config import FinetuneConfig, load_config
    from m3po_learning.envs import make_env
    from m3po_learning.training.finetune import finetune_on_dataset

    out = {}
    for preset, batch in (("tiny", 64), ("1M", 256)):
        cfg = load_config(None, [f"model.preset={preset}", f"optim.batch_size={batch}"])
        agent = M3POAgent(cfg, [make_env(TASK).spec], device="cpu")
        res = finetune_on_dataset(
            agent, ds, FinetuneConfig(steps=steps, policy_every=25), progress=False
        )
        out[preset] = {
            "batch_size": batch,
            "steps": steps,
            "policy_updates": res.policy_updates,
            "elapsed_s": round(res.elapsed_s, 2),
            "steps_per_s": round(steps / res.elapsed_s, 2),
            "transitions_per_s": round(steps * batch * cfg.planner.horizon / res.elapsed_s),
        }
    return out


def main() -> None:
    """Benchmark MCAP and sqlite3 ingest and fine-tuning, print a table and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=30_000, help="control ticks in the bench bag")
    ap.add_argument("--steps", type=int, default=100, help="fine-tuning steps to time")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rosbag.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        ingest = [bench_ingest(Path(tmp), args.ticks, s) for s in ("mcap", "sqlite3")]
        ds = ingest[0].pop("_dataset")
        ingest[1].pop("_dataset")
        finetune = bench_finetune(ds, args.steps)
    print(f"{'storage':8} {'messages':>9} {'read s':>8} {'msgs/s':>9} {'trans/s':>9}")
    for r in ingest:
        print(
            f"{r['storage']:8} {r['messages']:9d} {r['read_s']:8.3f} {r['messages_per_s']:9d} "
            f"{r['transitions_per_s']:9d}"
        )
    for preset, r in finetune.items():
        print(
            f"finetune {preset:5} batch {r['batch_size']:4d}: {r['steps_per_s']:6.2f} steps/s "
            f"({r['transitions_per_s']} transitions/s, {r['policy_updates']} policy updates)"
        )
    result = {
        "ingest": ingest,
        "finetune": finetune,
        "task": TASK,
        "ticks": args.ticks,
        "target_messages_per_s": 20_000,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
