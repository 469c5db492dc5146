"""Planner latency per act() call at batch 1, on CPU and on CUDA when present.

TD-MPC2 "1M"/"5M" sizes, default and real-time planning; the CPU runs use 2 torch threads.

    python bench/bench_planner.py [--calls 200] [--out bench/results/planner.json]

`--peer` runs TD-MPC2's own code (../shared/peer, 1M, walker-walk, default planning) between
two runs of our 1M default and real-time cases, in one process tree, and records both with
the ratios (TD-MPC2 time / ours) for each of our runs:

    export TDMPC2_DIR=../tdmpc2 TDMPC2_PYTHON=../tdmpc2-venv/bin/python
    python bench/bench_planner.py --quick --peer
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.config import load_config, read_yaml_config
from m3po_learning.types import EnvSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import add_peer_args, cpu_name, run_peer, save_result  # noqa: E402

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


def _print(r: dict) -> None:
    print(
        f"{r['device']:4s} {r['preset']:2s} {r['case']:13s} {r['act_dtype']:8s} "
        f"plan p50 {r['plan_p50_ms']:7.2f} ms  p99 {r['plan_p99_ms']:7.2f} ms  "
        f"policy p50 {r['policy_p50_ms']:.3f} ms  ({r['params'] / 1e6:.2f}M params)",
        flush=True,
    )


def measure_cases(devices: list[str], presets: tuple[str, ...], quick: bool, calls: int) -> list:
    """Every case of every preset on every device: a list of `measure` results."""
    runs = []
    for device in devices:
        for preset in presets:
            cases = [("default", [])]
            if not quick:
                cases += [
                    ("default fp32", ["planner.dtype=float32"]),
                    ("default mish", ["model.activation=mish"]),
                ]
            cases.append(("realtime", realtime_overrides()))
            for name, extra in cases:
                r = measure(preset, extra, device, calls)
                r["case"] = name
                runs.append(r)
                _print(r)
    return runs


def peer_ratios(peer: dict, ours: list[dict]) -> dict:
    """TD-MPC2's act times over ours (1M default case), > 1 where ours is faster."""
    mine = next(r for r in ours if r["preset"] == "1M" and r["case"] == "default")
    plan, pol = peer["act"]["plan"], peer["act"]["policy"]
    return {
        "plan_p50": plan["p50_ms"] / mine["plan_p50_ms"],
        "plan_p99": plan["p99_ms"] / mine["plan_p99_ms"],
        "policy_p50": pol["p50_ms"] / mine["policy_p50_ms"],
        "policy_p99": pol["p99_ms"] / mine["policy_p99_ms"],
    }


def main() -> None:
    """Measure every preset, case and device, print one line each and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "planner.json"))
    ap.add_argument("--quick", action="store_true", help="only the default configurations")
    ap.add_argument("--presets", default="1M,5M", help="comma-separated model presets")
    add_peer_args(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    presets = tuple(args.presets.split(","))
    unknown = [p for p in presets if p not in TDMPC2_MS]
    if unknown:
        raise SystemExit(f"--presets: {unknown} not in {sorted(TDMPC2_MS)}")
    if args.peer and "1M" not in presets:
        raise SystemExit("--peer compares the 1M preset: include it in --presets")
    runs = measure_cases(devices, presets, args.quick, args.calls)
    for r in runs:
        if r["case"] == "default" and r["device"] == "cpu":
            r["speedup_vs_tdmpc2_table"] = TDMPC2_MS[r["preset"]] / r["plan_p50_ms"]
    result = {
        "machine": {
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "threads": args.threads,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "targets": {
            "plan_speedup_vs_tdmpc2": 3.0,
            "policy_speedup_vs_tdmpc2": 1.0,
            "realtime_p99_ms": 10,
            "cuda_5M_default_p50_ms": 1.5,
        },
        "runs": runs,
    }
    if args.peer:
        peer = run_peer(args, args.threads, args.calls, train_steps=1)
        print(
            f"TD-MPC2 1M plan p50 {peer['act']['plan']['p50_ms']:.2f} ms  "
            f"p99 {peer['act']['plan']['p99_ms']:.2f} ms  "
            f"policy p50 {peer['act']['policy']['p50_ms']:.3f} ms",
            flush=True,
        )
        after = measure_cases(["cpu"], ("1M",), True, args.calls)
        result["peer"] = {
            "tdmpc2": {k: peer[k] for k in ("commit", "params", "cfg", "act", "versions")},
            "ours_after": after,
            "ratio_before": peer_ratios(peer, runs),
            "ratio_after": peer_ratios(peer, after),
        }
        for when in ("before", "after"):
            q = result["peer"][f"ratio_{when}"]
            print(
                f"TD-MPC2 / ours ({when} the peer): plan p50 {q['plan_p50']:.2f}x, "
                f"policy p50 {q['policy_p50']:.2f}x",
                flush=True,
            )
    save_result(result, args.out, "bench_planner.py", None, echo=False)


if __name__ == "__main__":
    main()
