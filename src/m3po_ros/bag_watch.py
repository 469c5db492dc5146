"""Watching a directory for complete new rosbags, without ROS (the learner's bag input).

A rosbag2 recorder writes `metadata.yaml` last, on close, so a directory with it is a
finished recording; a bare `.mcap` file is a candidate too. A candidate is offered once its
files have stopped changing for a while, and a bag already handled is not offered again
unless its files change. What was handled is kept in a small JSON file, written atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from m3po_ros.path_guard import PathRefused, resolve_inside

STATE_FILE = "bag_watch.json"  # in the learner's out_dir: bags already handled


def bag_signature(path: Path) -> tuple[int, float] | None:
    """(total bytes, newest mtime) of a bag's files; None when it is gone."""
    try:
        files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
        stats = [p.stat() for p in files]
    except OSError:
        return None
    return sum(s.st_size for s in stats), max((s.st_mtime for s in stats), default=0.0)


def bag_candidates(bag_dir: Path) -> list[Path]:
    """Entries of `bag_dir` that may be bags, sorted by name.

    rosbag2 directories with metadata.yaml (the recorder writes it last, on close) and bare
    .mcap files. A directory without metadata.yaml is a recording in progress (or a killed
    one) and is left alone; hidden entries are skipped. A missing `bag_dir` has none.
    """
    out = []
    try:
        entries = sorted(bag_dir.iterdir())
    except OSError:
        return out
    for p in entries:
        if p.name.startswith("."):
            continue
        if p.is_dir() and (p / "metadata.yaml").is_file():
            out.append(p)
        elif p.is_file() and p.suffix == ".mcap":
            out.append(p)
    return out


def escape_reason(bag: Path, bag_dir: Path) -> str:
    """Why `bag` (or a file in it) resolves outside `bag_dir`; "" when it stays inside.

    A symlink in the watched directory (or inside a bag directory) that points elsewhere
    would make the learner read any file on the computer; such bags are refused.
    """
    root = (bag_dir.resolve(),)
    try:
        resolve_inside(bag, root, "bag")
        if bag.is_dir():
            for f in bag.iterdir():
                resolve_inside(f, root, "bag file")
    except PathRefused as exc:
        return str(exc)
    except OSError as exc:
        return f"bag {bag}: {exc}"
    return ""


class BagWatcher:
    """Finds complete new bags in `bag_dir`.

    A candidate is ready once its signature (bytes, mtime) has not changed for `settle_s`
    (0: at once). Bags already handled (in `done`, keyed by path with the signature they
    had) are not offered again unless their files change.

    Args:
        bag_dir: the watched directory (it may appear later).
        settle_s: how long a candidate's files must stay unchanged, s.
        done: path -> [bytes, mtime] of bags handled before (`read_state`).
    """

    def __init__(self, bag_dir: Path, settle_s: float, done: dict[str, list] | None = None):
        self.bag_dir = bag_dir
        self.settle_s = settle_s
        self.done: dict[str, list] = dict(done or {})
        self.refused: dict[str, str] = {}  # path -> why: bags resolving outside bag_dir
        self._seen: dict[str, tuple[tuple, float]] = {}

    def ready(self, now: float | None = None) -> list[Path]:
        """Candidates complete at monotonic time `now` (default: the clock) and not handled."""
        now = time.monotonic() if now is None else now
        out = []
        for p in bag_candidates(self.bag_dir):
            sig = bag_signature(p)
            if sig is None:
                continue
            key = str(p)
            if key in self.done and tuple(self.done[key]) == sig:
                continue
            why = escape_reason(p, self.bag_dir)
            if why:
                self.refused[key] = why
                continue
            self.refused.pop(key, None)
            prev = self._seen.get(key)
            if prev is None or prev[0] != sig:
                self._seen[key] = (sig, now)
                if self.settle_s > 0:
                    continue
                prev = self._seen[key]
            if now - prev[1] >= self.settle_s:
                out.append(p)
        return out

    def mark(self, path: Path) -> None:
        """Remember `path` as handled (fine-tuned on or refused) with its current files."""
        sig = bag_signature(path)
        self.done[str(path)] = list(sig) if sig is not None else [0, 0.0]

    def save_state(self, path: Path) -> None:
        """Write the handled bags to `path` (JSON), atomically: a temporary file renamed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"done": self.done}, indent=1))
        os.replace(tmp, path)


def read_state(path: Path) -> dict[str, list]:
    """The handled bags saved by `BagWatcher.save_state` ({} when `path` does not exist).

    Raises:
        OSError: the file exists but cannot be read.
        ValueError: it is not the JSON `save_state` writes.
    """
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    done = data.get("done", {}) if isinstance(data, dict) else None
    if not isinstance(done, dict):
        raise ValueError(f"{path}: expected {{'done': {{path: [bytes, mtime]}}}}, got {data!r}")
    return done
