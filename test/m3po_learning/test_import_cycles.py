"""No import cycles: every module of m3po_learning and m3po_ros imports on its own, first.

Two checks: each module is imported in a clean interpreter state (no m3po module loaded
before it), so a top-level cycle fails whichever module starts it; and the import graph,
function-level imports included, has no cycle, so a lazy import cannot hide one either.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("m3po_learning", "m3po_ros")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (SRC / pkg).rglob("*.py"):
            if p.name == "__main__.py":
                continue
            parts = p.relative_to(SRC).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The m3po modules `path` imports anywhere in the file (not only at the top)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state and (cycle := visit(w)):
                return cycle
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (cycle := visit(v)):
            return cycle
    return None


def test_cycle_finder_finds_a_lazy_cycle():
    graph = {"a.checkpoint": {"a.trainer"}, "a.trainer": {"a.checkpoint"}, "a.cli": {"a.trainer"}}
    assert _find_cycle(graph) == ["a.checkpoint", "a.trainer", "a.checkpoint"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_has_no_cycle_even_through_function_level_imports():
    modules = _modules()
    assert len(modules) > 40
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_first_in_a_clean_state():
    names = sorted(_modules())
    code = (
        "import importlib, sys, traceback\n"
        f"failed = []\nfor name in {names!r}:\n"
        f"    for k in [k for k in sys.modules if k.split('.')[0] in {PACKAGES!r}]:\n"
        "        del sys.modules[k]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=-3))\n"
        "print('\\n'.join(failed) if failed else 'ALL_IMPORTED')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ALL_IMPORTED"), out.stdout[-5000:]
