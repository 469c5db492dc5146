"""Planner latency per act() call at batch 1, on CPU and on CUDA when present.

TD-MPC2 "1M"/"5M" sizes, default and real-time planning; the CPU runs use 2 torch threads.

    python bench/bench_planner.py [--calls 200] [--out bench/results/planner.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.config import load_config, read_yaml_config
from m3po_learning.types import EnvSpec

ROOT = Path(__file__).resolve().parents[1]
# walker-walk's sizes, the task of the TD-MPC2 reference timings
SPEC = EnvSpec("dmc/walker-walk", obs_dim=24, action_dim=6, episode_length=500)
TDMPC2_MS = {"1M": 132.0, "5M": 333.0}


def realtime_overrides() -> list[str]:
    """The `planner.*` settings of config/planner/realtime.yaml as KEY=VALUE overrides."""
    data = read_yaml_config(ROOT / "config" / "planner" / "realtime.yaml")["planner"]
    return [f"planner.{k}={v}" for k, v in data.items()]


def measure(preset: str, extra: list[str], device: str, calls: int) -> dict:
    """Time `calls` planning and policy-only act() calls at batch 1 for one configuration.

    Args:
        preset: model size preset ("1M", "5M").
        extra: config overrides on top of the preset.
        device: "cpu" or "cuda".
        calls: timed calls per mode, after 10 warm-up calls.

    Returns:
        p50/p99 latency in ms of planning and of the policy alone, parameter count (target
        Q-networks excluded), act dtype and planner iterations of the last call.
    """
    cfg = load_config(None, [f"model.preset={preset}", *extra])
    agent = M3POAgent(cfg, [SPEC], device=device)
    obs = np.random.default_rng(0).normal(size=(1, SPEC.obs_dim)).astype(np.float32)
    for _ in range(10):  # warm-up (allocator, oneDNN kernels, CUDA context)
        agent.act(obs, [0], explore=False, use_planner=True)
    times = []
    for _ in range(calls):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = agent.act(obs, [0], explore=False, use_planner=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    pol = []
    for _ in range(calls):
        t = time.perf_counter()
        agent.act(obs, [0], explore=False, use_planner=False)
        pol.append((time.perf_counter() - t) * 1e3)
    params = sum(
        p.numel() for n, p in agent.model.named_parameters() if not n.startswith("target_qs.")
    )
    return {
        "preset": preset,
        "device": device,
        "overrides": extra,
        "act_dtype": str(agent.act_dtype).replace("torch.", ""),
        "params": params,
        "iterations": out.iterations,
        "plan_p50_ms": float(np.percentile(times, 50)),
        "plan_p99_ms": float(np.percentile(times, 99)),
        "policy_p50_ms": float(np.percentile(pol, 50)),
        "policy_p99_ms": float(np.percentile(pol, 99)),
    }


def main() -> None:
    """Measure every preset, case and device, print one line each and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "planner.json"))
    ap.add_argument("--quick", action="store_true", help="only the default configurations")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for preset in ("1M", "5M"):
            cases = [("default", [])]
            if not args.quick:
                cases += [
                    ("default fp32", ["planner.dtype=float32"]),
                    ("default mish", ["model.activation=mish"]),
                ]
            cases.append(("realtime", realtime_overrides()))
            for name, extra in cases:
                r = measure(preset, extra, device, args.calls)
                r["case"] = name
                if name == "default":
                    r["speedup_vs_tdmpc2"] = TDMPC2_MS[preset] / r["plan_p50_ms"]
                runs.append(r)
                print(
                    f"{device:4s} {preset:2s} {name:13s} {r['act_dtype']:8s} "
                    f"plan p50 {r['plan_p50_ms']:7.2f} ms  p99 {r['plan_p99_ms']:7.2f} ms  "
                    f"policy p50 {r['policy_p50_ms']:.3f} ms  ({r['params'] / 1e6:.2f}M params)",
                    flush=True,
                )
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": args.threads,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "targets_ms": {
            "1M_default_p50": 40,
            "5M_default_p50": 110,
            "realtime_p99": 10,
            "cuda_5M_default_p50": 3,
        },
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
