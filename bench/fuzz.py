"""Long fuzzing run of every parser of outside input; counts of inputs tried per target.

Runs the property-based fuzz tests (test/**/test_fuzz_*.py, hypothesis) in the `soak`
profile of test/fuzzlib.py: random seeds, `--scale` times the inputs `make test` tries
(which runs the same tests with a fixed seed). For each target it records how many inputs
were tried and how they ended (accepted, or refused with which error); any other outcome
(an unexpected exception, a hang past --hang-s) fails the run and pytest prints the
shrunk input that did it.

    PYTHONPATH=src python bench/fuzz.py                 # scale 20, ~20 minutes on 2 cores
    PYTHONPATH=src python bench/fuzz.py --scale 2       # a quick look
Writes bench/results/fuzz.json (--out). Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fuzz_files() -> list[str]:
    """Every fuzz test module in the repository's test tree."""
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "test").rglob("test_fuzz_*.py"))


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz tests in the soak profile and write their per-target counts."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20, help="inputs per target vs make test")
    ap.add_argument("--hang-s", type=float, default=30.0, help="an input parsing longer hangs")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fuzz.json"))
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k bag)")
    args = ap.parse_args(argv)
    files = fuzz_files()
    if not files:
        ap.error("no test/**/test_fuzz_*.py found")
    with tempfile.TemporaryDirectory() as tmp:
        counts = Path(tmp) / "counts.json"
        env = dict(
            os.environ,
            FUZZ_PROFILE="soak",
            FUZZ_SCALE=str(args.scale),
            FUZZ_HANG_S=str(args.hang_s),
            FUZZ_COUNTS=str(counts),
            PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        )
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files,
             *args.pytest_args],
            cwd=REPO,
            env=env,
        )  # fmt: skip
        seconds = time.monotonic() - t0
        data = json.loads(counts.read_text()) if counts.is_file() else {"targets": {}}
    targets = data["targets"]
    result = {
        "pytest_exit": done.returncode,
        "seconds": round(seconds, 1),
        "scale": args.scale,
        "files": files,
        "inputs_per_target": {t: sum(c.values()) for t, c in targets.items()},
        "outcomes_per_target": targets,
        "inputs_total": sum(sum(c.values()) for c in targets.values()),
        "peak_rss_mib": round(data.get("peak_rss_kib", 0) / 1024, 1),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "command": "PYTHONPATH=src python bench/fuzz.py " + " ".join(argv or sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    for t, n in sorted(result["inputs_per_target"].items()):
        print(f"{t:40s} {n:7d} inputs  {targets[t]}")
    print(f"{result['inputs_total']} inputs in {seconds:.0f} s; pytest exit {done.returncode}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
