"""The disk fills up under `m3po train`: the previous checkpoint stays, the error says why.

In a private mount namespace (`unshare -rm`, no root needed where user namespaces are
allowed) a small tmpfs holds a run directory. A first `m3po train` writes a checkpoint;
then a filler file takes all but a few KiB of the tmpfs and the run is resumed for more
steps, so its next checkpoint write meets a full disk (ENOSPC). Checked:
  - the resumed run exits with status 2 and one line on stderr naming the checkpoint path
    and the cause, no traceback;
  - the checkpoint written before is still listed by `latest` and loads (`load_agent`);
  - the same for a direct `save_run_checkpoint` (the learner node's and `m3po finetune`'s
    writer): CheckpointError naming the checkpoint and the cause, `latest` unchanged;
  - no half-written checkpoint or temporary directory is left behind;
  - after freeing space, `--resume` continues from that checkpoint and finishes.

    PYTHONPATH=src python bench/disk_full.py          # ~1 minute
Writes bench/results/disk_full.json (--out). Exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import save_result  # noqa: E402
from kill_train import REPO, _env, train_args  # noqa: E402

TMPFS_MIB = 48
EVERY = 64


def _inside(work: Path) -> dict:
    """The scenario, run inside the namespace with the tmpfs mounted on `work`/disk."""
    from m3po_learning.checkpoint import CheckpointError, load_agent, read_checkpoint

    disk = work / "disk"
    run = disk / "run"
    out: dict = {"tmpfs_mib": TMPFS_MIB}
    first = subprocess.run(
        train_args(run, EVERY, EVERY), env=_env(), capture_output=True, text=True
    )
    out["first_exit"] = first.returncode
    if first.returncode != 0:
        out["first_stderr"] = first.stderr[-2000:]
        return out
    before = read_checkpoint(run).path
    out["checkpoint_before"] = before.name
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as f:  # leave 8 KiB: less than any checkpoint file
        chunk = b"\0" * (1 << 20)
        left = free - 8192
        while left > 0:
            try:
                left -= f.write(chunk[: min(left, len(chunk))])
            except OSError:
                break
    out["free_bytes_after_filler"] = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    full = subprocess.run(
        train_args(run, 2 * EVERY, EVERY), env=_env(), capture_output=True, text=True
    )
    err_lines = [ln for ln in full.stderr.splitlines() if ln.strip()]
    out["full_exit"] = full.returncode
    out["full_stderr_tail"] = err_lines[-5:]
    out["traceback"] = "Traceback" in full.stderr
    out["error_names_cause"] = any("No space left on device" in ln for ln in err_lines)
    out["error_names_path"] = any(str(run) in ln for ln in err_lines)
    after = read_checkpoint(run).path
    out["latest_after"] = after.name
    try:
        load_agent(run, device="cpu", load_optimizer=True)
        out["previous_loads"] = True
    except CheckpointError as exc:
        out["previous_loads"] = str(exc)
    # The same full disk met by the checkpoint writer itself (the learner node and
    # `m3po finetune` call it directly): model weights are the file that does not fit.
    from m3po_learning.checkpoint import save_run_checkpoint

    agent = load_agent(run, device="cpu", load_optimizer=True)
    try:
        save_run_checkpoint(run, agent, step=999)
        out["direct_write_error"] = None
    except CheckpointError as exc:
        out["direct_write_error"] = str(exc)
    out["latest_after_direct_write"] = read_checkpoint(run).path.name
    ckdir = run / "checkpoints"
    out["leftovers"] = sorted(p.name for p in ckdir.iterdir() if p.name.startswith("."))
    (disk / "filler").unlink()
    again = subprocess.run(
        train_args(run, 2 * EVERY, EVERY), env=_env(), capture_output=True, text=True
    )
    out["resume_after_freeing_exit"] = again.returncode
    out["final_checkpoint"] = read_checkpoint(run).path.name
    return out


def failures(r: dict) -> list[str]:
    """What went wrong (empty: every check held)."""
    checks = {
        "first run trains and saves": r.get("first_exit") == 0,
        "full disk: exit status 2": r.get("full_exit") == 2,
        "full disk: no traceback": r.get("traceback") is False,
        "full disk: error names the cause": r.get("error_names_cause") is True,
        "full disk: error names the path": r.get("error_names_path") is True,
        "latest still names the previous checkpoint": r.get("latest_after")
        == r.get("checkpoint_before"),
        "previous checkpoint loads": r.get("previous_loads") is True,
        "direct write: error names path and cause": "step_000000999"
        in str(r.get("direct_write_error"))
        and "No space left on device" in str(r.get("direct_write_error")),
        "direct write: latest unchanged": r.get("latest_after_direct_write")
        == r.get("checkpoint_before"),
        "no temporary leftovers": r.get("leftovers") == [],
        "resume after freeing space": r.get("resume_after_freeing_exit") == 0
        and r.get("final_checkpoint") == f"step_{2 * EVERY:09d}",
    }
    return [name for name, ok in checks.items() if not ok]


def run_disk_full(work: Path) -> dict:
    """Run the scenario in a new mount namespace with a tmpfs on `work`/disk."""
    (work / "disk").mkdir(parents=True, exist_ok=True)
    if shutil.which("unshare") is None:
        raise RuntimeError("the disk-full check needs util-linux `unshare` to mount a tmpfs")
    script = (
        f'mount -t tmpfs -o size={TMPFS_MIB}m tmpfs "$1/disk" && '
        f'exec "{sys.executable}" "{Path(__file__).resolve()}" --inside "$1"'
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(work)],
        env=_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not (work / "result.json").is_file():
        raise RuntimeError(
            f"could not run in a private tmpfs (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    result = json.loads((work / "result.json").read_text())
    result["failures"] = failures(result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the check (or, with --inside, its namespaced half), print and save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inside", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "disk_full.json"))
    args = ap.parse_args(argv)
    if args.inside:
        work = Path(args.inside)
        (work / "result.json").write_text(json.dumps(_inside(work), indent=1))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        result = run_disk_full(Path(tmp))
    save_result(result, args.out, "disk_full.py", [])
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
