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
