"""Task registry (`make_env`, `list_tasks`) and task sets from config/tasks/*.yaml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from m3po_learning.envs.dmc import PREFIX as DMC_PREFIX
from m3po_learning.envs.dmc import REFERENCE_TASKS as DMC_TASKS
from m3po_learning.envs.dmc import DmcEnv, check_dmc_name
from m3po_learning.envs.env import Env
from m3po_learning.envs.paths import config_dir
from m3po_learning.envs.randomization import (
    Randomization,
    load_randomization,
    load_reality_gap,
)
from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.catalog import BUILTIN_TASKS

_EXTRA_TASKS: dict[str, Callable[[], Task]] = {}


class TaskSetError(ValueError):
    """An unknown task name or a malformed task-set file."""


def register_task(name: str, factory: Callable[[], Task], overwrite: bool = False) -> None:
    """Add a task (e.g. a user's robot) to the registry under `name` ("robot/task")."""
    if "/" not in name:
        raise TaskSetError(f"task name {name!r} must look like 'robot/task'")
    if name in BUILTIN_TASKS or (not overwrite and name in _EXTRA_TASKS):
        raise TaskSetError(f"task {name!r} is already registered")
    _EXTRA_TASKS[name] = factory


def builtin_tasks() -> list[str]:
    """Names of the built-in URDF robot tasks, in registry order."""
    return list(BUILTIN_TASKS)


def list_tasks() -> list[str]:
    """Every registered task name: built-ins, registered extras, then the DMC reference tasks.

    Any other dm_control suite task is also accepted by `make_env` as "dmc/<domain>-<task>".
    """
    return list(BUILTIN_TASKS) + list(_EXTRA_TASKS) + list(DMC_TASKS)


def _unknown(name: str) -> TaskSetError:
    return TaskSetError(
        f"unknown task {name!r}; known tasks: {', '.join(list_tasks())} (and any dm_control "
        "suite task as dmc/<domain>-<task>)"
    )


def make_task(name: str) -> Task:
    """A fresh task object for registry name `name`."""
    factory = BUILTIN_TASKS.get(name) or _EXTRA_TASKS.get(name)
    if factory is None:
        raise _unknown(name)
    return factory()


def _resolve_randomization(
    randomize: bool | str | Path | Mapping | None, reality_gap: str | None
) -> Randomization | None:
    config = load_randomization(randomize)
    if reality_gap:
        gap = load_reality_gap(reality_gap)
        config = config.merged(gap) if config is not None else gap
    return config


def make_env(
    name: str,
    seed: int = 0,
    randomize: bool | str | Path | Mapping | None = False,
    reality_gap: str | None = None,
) -> Env | DmcEnv:
    """Build the env for task `name`.

    Args:
        name: registry name, e.g. "arm2/reach", or a DMC task "dmc/cheetah-run".
        seed: seeds the env's generator (initial states, goals, randomisation).
        randomize: False; True for config/randomization/default.yaml; or a YAML path, a
            file name in config/randomization/, or a mapping of `Randomization` fields.
        reality_gap: evaluation variant from config/randomization/reality_gap.yaml
            ("heavy", "delayed", "noisy", "all", ...), applied on top of `randomize`.
    """
    if name.startswith(DMC_PREFIX):
        if randomize or reality_gap:
            raise ValueError(
                f"{name}: randomisation and reality-gap variants apply to the URDF robots only"
            )
        return DmcEnv(name, seed=seed)
    task = make_task(name)
    return Env(name, task, seed=seed, randomization=_resolve_randomization(randomize, reality_gap))


def resolve_tasks(names) -> list[str]:
    """Task names and task-set names -> task names, in order, without repeats.

    A name is a registered task, any dm_control suite task ("dmc/hopper-stand"), or a task
    set (config/tasks/<name>.yaml or a YAML path). A wrong "dmc/..." name is refused with the
    suite's task list; any other unknown name with the known tasks and sets.
    """
    known = set(list_tasks())
    out: list[str] = []
    for name in names:
        if name in known:
            found = [name]
        elif name.startswith(DMC_PREFIX):
            try:
                check_dmc_name(name)
            except ValueError as exc:
                raise TaskSetError(str(exc)) from None
            found = [name]
        elif "/" in name and not Path(name).suffix:
            sets = sorted(p.stem for p in (config_dir() / "tasks").glob("*.yaml"))
            raise TaskSetError(f"{_unknown(name)}; task sets: {sets}")
        else:
            found = load_task_set(name)
        out += [t for t in found if t not in out]
    return out


def _task_set_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    return config_dir() / "tasks" / f"{name_or_path}.yaml"


def load_task_set(name_or_path: str | Path) -> list[str]:
    """Task names of a task set: a name in config/tasks/ ("default", "arms") or a YAML path.

    The file holds `tasks: [names]`; `include: [other sets]` pulls in other sets first.
    """
    path = _task_set_path(name_or_path)
    if not path.is_file():
        available = sorted(p.stem for p in (config_dir() / "tasks").glob("*.yaml"))
        raise TaskSetError(
            f"task set {str(name_or_path)!r} not found at {path}; sets: {available}"
        )
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict) or not isinstance(data.get("tasks", []), list):
        raise TaskSetError(f"task set {path}: expected a mapping with a 'tasks' list")
    unknown_keys = sorted(set(data) - {"tasks", "include", "description"})
    if unknown_keys:
        raise TaskSetError(f"task set {path}: unknown keys {unknown_keys}")
    names: list[str] = []
    for inc in data.get("include", []) or []:
        names += [n for n in load_task_set(inc) if n not in names]
    known = set(list_tasks())
    for n in data.get("tasks", []) or []:
        if not isinstance(n, str):
            raise TaskSetError(f"task set {path}: task entry {n!r} is not a string")
        if n.startswith(DMC_PREFIX):
            try:
                check_dmc_name(n)
            except ValueError as exc:
                raise TaskSetError(f"task set {path}: {exc}") from exc
        elif n not in known:
            raise TaskSetError(f"task set {path}: {_unknown(n)}")
        if n not in names:
            names.append(n)
    if not names:
        raise TaskSetError(f"task set {path} lists no tasks")
    return names
