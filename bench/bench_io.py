"""What the bench scripts share: the CPU they ran on and how a result reaches its JSON file."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path


def cpu_name() -> str:
    """CPU model, core count and bf16 matrix extension from /proc/cpuinfo, for the JSON."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor()
    name = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln), "?"
    )
    flags = "AMX-BF16" if "amx_bf16" in text else "AVX512-BF16" if "avx512_bf16" in text else ""
    return f"{name} ({os.cpu_count()} cores{', ' + flags if flags else ''})"


def save_result(
    result: dict, out: str | Path, script: str, argv: list[str] | None, echo: bool = True
) -> Path:
    """Record the reproducing command in `result`, write it to `out` atomically, show it.

    Args:
        result: the JSON-able result; gains "command".
        out: the JSON file (parent directories are created).
        script: the bench script's file name, e.g. "kill_train.py".
        argv: the arguments it ran with (None: sys.argv[1:]).
        echo: print the whole JSON; else only "wrote <out>".
    """
    args = sys.argv[1:] if argv is None else argv
    result["command"] = " ".join(["PYTHONPATH=src python", f"bench/{script}", *args]).strip()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)
    print(json.dumps(result, indent=1) if echo else f"wrote {path}")
    return path


# ------------------------------------------------------------------ the TD-MPC2 peer
# ../shared/peer/bench_tdmpc2.py runs TD-MPC2's own, unmodified code (its README says how to
# get the checkout and which packages its Python needs). `--peer` in bench_planner.py and
# bench_training.py runs it as a child process between two runs of ours, so both sides are
# measured in one quiet stretch of the same machine and only ratios are compared.
PEER_DRIVER = Path(__file__).resolve().parents[2] / "shared" / "peer" / "bench_tdmpc2.py"


def add_peer_args(ap) -> None:
    """The `--peer` options shared by the benches that compare against TD-MPC2."""
    ap.add_argument(
        "--peer",
        action="store_true",
        help="also run TD-MPC2's own code (../shared/peer) interleaved with ours",
    )
    ap.add_argument(
        "--peer-tdmpc2",
        default=os.environ.get("TDMPC2_DIR", ""),
        help="TD-MPC2 checkout (default: $TDMPC2_DIR)",
    )
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("TDMPC2_PYTHON", sys.executable),
        help="Python with TD-MPC2's packages (default: $TDMPC2_PYTHON, else this one)",
    )
    ap.add_argument(
        "--peer-train-steps", type=int, default=50, help="TD-MPC2's timed training steps"
    )


def run_peer(args, threads: int, act_calls: int, train_steps: int | None = None) -> dict:
    """Run the shared TD-MPC2 driver for the 1M model; its result for that size.

    Args:
        args: parsed options from `add_peer_args`.
        threads: torch threads, as ours use.
        act_calls: timed act() calls per mode.
        train_steps: timed training steps (default `args.peer_train_steps`).

    Returns:
        The driver's run (act plan/policy, train, update_isolated, rss) plus "commit".

    Raises:
        SystemExit naming what is missing (driver, checkout, packages) or the driver's error.
    """
    import subprocess
    import tempfile

    if not PEER_DRIVER.is_file():
        raise SystemExit(f"--peer: no driver at {PEER_DRIVER} (../shared/peer beside the clone)")
    checkout = Path(args.peer_tdmpc2 or "")
    if not args.peer_tdmpc2 or not checkout.is_dir():
        raise SystemExit(
            "--peer: give the TD-MPC2 checkout with --peer-tdmpc2 DIR or $TDMPC2_DIR "
            f"(got {args.peer_tdmpc2!r}); ../shared/peer/README.md says how to get it"
        )
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="m3po-peer-") as tmp:
        out = Path(tmp) / "peer.json"
        cmd = [
            args.peer_python,
            str(PEER_DRIVER),
            "--tdmpc2",
            str(checkout),
            "--sizes",
            "1",
            "--threads",
            str(threads),
            "--act-calls",
            str(act_calls),
            "--train-steps",
            str(args.peer_train_steps if train_steps is None else train_steps),
            "--update-calls",
            "10",
            "--commit",
            commit,
            "--out",
            str(out),
        ]
        print("peer: " + " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            raise SystemExit(
                f"--peer: the TD-MPC2 driver failed (exit {proc.returncode}):\n"
                + proc.stderr[-3000:]
            )
        data = json.loads(out.read_text())
    run = data["runs"][0]
    if "error" in run:
        raise SystemExit(
            f"--peer: TD-MPC2's worker failed ({run['error']}); run the driver by hand with "
            f"{args.peer_python} to see why (missing packages: ../shared/peer/README.md)"
        )
    run["commit"] = commit
    run["versions"] = data.get("versions", {})
    return run
