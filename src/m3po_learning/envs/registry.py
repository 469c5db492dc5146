"""The one task registry: what a name is (task, dm_control task, task set, URDF robot), resolved.

Every lookup goes through here: `make_env`, `resolve_tasks` (training and evaluation task
lists), `load_task_set` (config/tasks/*.yaml) and `register_robots` (bring-your-own URDF
robots named in `train.robots`, re-registered when a checkpoint trained on one is loaded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from m3po_learning.envelope import Envelope
from m3po_learning.envs.byo import robot_task
from m3po_learning.envs.dmc import PREFIX as DMC_PREFIX
from m3po_learning.envs.dmc import REFERENCE_TASKS as DMC_TASKS
from m3po_learning.envs.dmc import DmcEnv, check_dmc_name
from m3po_learning.envs.drive import SEPARATOR, DriveError, split_drive
from m3po_learning.envs.env import Env
from m3po_learning.envs.metaworld import PREFIX as MW_PREFIX
from m3po_learning.envs.metaworld import MetaWorldEnv, check_metaworld_name
from m3po_learning.envs.paths import config_dir
from m3po_learning.envs.randomization import (
    Randomization,
    load_randomization,
    load_reality_gap,
)
from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.catalog import BUILTIN_TASKS
from m3po_learning.yaml_io import read_mapping

_EXTRA_TASKS: dict[str, Callable[[], Task]] = {}
# Simulator suites by name prefix: the task kind and the check that names a wrong task.
_SUITES: dict[str, tuple[str, Callable[[str], object]]] = {
    DMC_PREFIX: ("dmc", check_dmc_name),
    MW_PREFIX: ("metaworld", check_metaworld_name),
}


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
    import difflib

    near = difflib.get_close_matches(name, list_tasks(), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    return TaskSetError(
        f"unknown task {name!r}; {hint}known tasks: {', '.join(list_tasks())} (and any "
        "dm_control suite task as dmc/<domain>-<task>; any MetaWorld v3 task as "
        "mw/<task>-v3; any URDF robot task through a "
        "position or velocity servo as <task>@position or <task>@velocity; `m3po tasks` "
        "lists them)"
    )


def task_kind(name: str) -> str:
    """What the task name `name` is: "builtin", "registered", "dmc" or "metaworld".

    "builtin" is a URDF robot task of the suite, "registered" one added with `register_task`
    (e.g. a bring-your-own URDF robot), "dmc" a dm_control suite task, "dmc/<domain>-<task>",
    "metaworld" a MetaWorld v3 task, "mw/<task>-v3".

    Raises:
        TaskSetError: `name` is no task; a wrong "dmc/..." or "mw/..." name gets the list of
            that suite's tasks.
    """
    try:
        base, drive = split_drive(name)
    except DriveError as exc:
        raise TaskSetError(str(exc)) from None
    if base in BUILTIN_TASKS:
        return "builtin"
    if base in _EXTRA_TASKS:
        return "registered"
    if drive != "effort" and base.startswith(tuple(_SUITES)):
        raise TaskSetError(
            f"task {name!r}: dm_control tasks keep their own actuators, as MetaWorld's do; the "
            f"{SEPARATOR}position and {SEPARATOR}velocity drives apply to URDF robot tasks"
        )
    for prefix, (kind, check) in _SUITES.items():
        if name.startswith(prefix):
            try:
                check(name)
            except ValueError as exc:
                raise TaskSetError(str(exc)) from None
            return kind
    raise _unknown(name)


def make_task(name: str) -> Task:
    """A fresh task object for the URDF-robot task `name` (built-in or registered).

    "robot/task@position" and "robot/task@velocity" are the same task on a robot driven
    through a position or velocity servo (`m3po_learning.envs.drive`).
    """
    task_kind(name)  # a wrong drive suffix is named
    base, drive = split_drive(name)
    factory = BUILTIN_TASKS.get(base) or _EXTRA_TASKS.get(base)
    if factory is None:
        raise _unknown(name)
    task = factory()
    if drive != task.robot.drive:
        task.robot = dataclasses.replace(task.robot, drive=drive)
    return task


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
    envelope: Envelope | None = None,
) -> Env | DmcEnv | MetaWorldEnv:
    """Build the env for task `name`.

    Args:
        name: registry name, e.g. "arm2/reach", a DMC task "dmc/cheetah-run" or a MetaWorld
            task "mw/reach-v3".
        seed: seeds the env's generator (initial states, goals, randomisation).
        randomize: False; True for config/randomization/default.yaml; or a YAML path, a
            file name in config/randomization/, or a mapping of `Randomization` fields.
        reality_gap: evaluation variant from config/randomization/reality_gap.yaml
            ("heavy", "delayed", "noisy", "all", ...), applied on top of `randomize`.
        envelope: the limits an effort-drive robot's actions run within (None: the
            default, its velocity limits and the controller's safety limits; see
            `m3po_learning.envelope`). dm_control and MetaWorld tasks have none.

    Raises:
        TaskSetError: `name` is no task (see `task_kind`).
        ValueError: randomisation asked of a dm_control or MetaWorld task.
    """
    kind = task_kind(name)
    if kind in ("dmc", "metaworld"):
        if randomize or reality_gap:
            raise ValueError(
                f"{name}: randomisation and reality-gap variants apply to the URDF robots only"
            )
        return DmcEnv(name, seed=seed) if kind == "dmc" else MetaWorldEnv(name, seed=seed)
    task = make_task(name)
    return Env(
        name,
        task,
        seed=seed,
        randomization=_resolve_randomization(randomize, reality_gap),
        envelope=envelope,
    )


# -- bring-your-own URDF robots ------------------------------------------------------------------
ENTRY_OPTIONS = ("end_effector", "gravity_compensation")


@dataclasses.dataclass(frozen=True)
class RobotEntry:
    """One `train.robots` entry: a task of a URDF robot and how its simulation is built.

    Written "path/to/robot.urdf:TASK[,end_effector=LINK][,gravity_compensation=off]"; the
    path may hold colons (the task is after the last one), the options follow the task.
    """

    urdf: str
    task: str
    end_effector: str | None = None  # None: the leaf link farthest down the chain
    # the robot's driver (or the controller) cancels gravity; None: the task kind's default
    # (on for reach/track, off for swingup/balance)
    gravity_compensation: bool | None = None

    def __str__(self) -> str:
        text = f"{self.urdf}:{self.task}"
        if self.end_effector:
            text += f",end_effector={self.end_effector}"
        if self.gravity_compensation is not None:
            text += f",gravity_compensation={'on' if self.gravity_compensation else 'off'}"
        return text

    def with_urdf(self, urdf: str | Path) -> RobotEntry:
        """The same entry for a copy of the URDF at `urdf` (a checkpoint's own copy)."""
        return dataclasses.replace(self, urdf=str(urdf))


def make_robot_task(
    urdf_path: str | Path,
    task: str = "reach",
    end_effector: str | None = None,
    episode_length: int | None = None,
    control_dt: float = 0.02,
    gravity_compensation: bool | None = None,
) -> str:
    """Register a task (`byo.BYO_TASKS`) of the robot in `urdf_path`; returns its task name.

    The name is "<robot name from the URDF>/<task>" ("<name>_byo/<task>" when the name is a
    built-in robot's) and works with `make_env`, `VectorEnv` and task lists
    (`m3po train --robot path/to/robot.urdf --task reach`). Registering the same robot again
    replaces the earlier registration. `gravity_compensation=False` simulates the robot
    with gravity acting on it (a driver that does not cancel it); None: the task kind's
    default (see `byo.robot_task`).

    Raises:
        UrdfError: the file is missing, not a URDF, cannot be loaded by MuJoCo, or has no
            actuated joints.
        ValueError: `task` is not one of `byo.BYO_TASKS`, or a swing task with gravity
            compensated.
    """
    name, factory = robot_task(
        urdf_path, task, end_effector, episode_length, control_dt, gravity_compensation
    )
    register_task(name, factory, overwrite=True)
    return name


def robot_entry(
    urdf_path: str | Path,
    task: str,
    end_effector: str | None = None,
    gravity_compensation: bool | None = None,
) -> str:
    """The `train.robots` entry for a task of a URDF robot (see `RobotEntry`), absolute path."""
    urdf = str(Path(urdf_path).expanduser().resolve())
    return str(RobotEntry(urdf, task, end_effector or None, gravity_compensation))


def parse_robot_entry(entry: str) -> RobotEntry:
    """A `train.robots` entry "path/to/robot.urdf:TASK[,key=value...]" -> RobotEntry."""
    urdf, sep, rest = str(entry).rpartition(":")
    task, *options = rest.split(",")
    if not sep or not urdf or not task:
        raise TaskSetError(
            f"robot entry {entry!r} is not 'path/to/robot.urdf:TASK[,end_effector=LINK]"
            "[,gravity_compensation=on|off]'"
        )
    values: dict = {}
    for option in options:
        key, eq, value = option.partition("=")
        if key not in ENTRY_OPTIONS or not eq or not value:
            raise TaskSetError(
                f"robot entry {entry!r}: {option!r} is not one of "
                f"{', '.join(k + '=...' for k in ENTRY_OPTIONS)}"
            )
        if key == "gravity_compensation":
            if value not in ("on", "off"):
                raise TaskSetError(
                    f"robot entry {entry!r}: gravity_compensation={value!r}, use on or off"
                )
            values[key] = value == "on"
        else:
            values[key] = value
    return RobotEntry(urdf, task, **values)


def register_robot_entry(entry: RobotEntry) -> str:
    """Register one parsed robot entry; its task name."""
    return make_robot_task(
        entry.urdf,
        entry.task,
        end_effector=entry.end_effector,
        gravity_compensation=entry.gravity_compensation,
    )


def register_robots(entries: Iterable[str]) -> list[str]:
    """Register the bring-your-own robot tasks of `entries` (`train.robots`); their names."""
    return [register_robot_entry(parse_robot_entry(e)) for e in entries]


# -- task lists and task sets --------------------------------------------------------------------
def resolve_tasks(names: Iterable[str], robots: Iterable[str] = ()) -> list[str]:
    """Task names, task-set names and robot entries -> task names, in order, without repeats.

    A name is a task (see `task_kind`) or a task set (config/tasks/<name>.yaml or a YAML
    path). `robots` are `train.robots` entries: they are registered first (so `names` may
    name their tasks) and their tasks come after those of `names`. A wrong "dmc/..." name is
    refused with the suite's task list; any other unknown name with the known tasks and sets.
    """
    robot_tasks = register_robots(robots)
    out: list[str] = []
    for name in names:
        if is_task(name):
            found = [name]
        elif name.startswith(DMC_PREFIX) or SEPARATOR in name:
            task_kind(name)  # raises, listing the suite's tasks or the drives
        elif "/" in name and not Path(name).suffix:
            raise TaskSetError(f"{_unknown(name)}; task sets: {task_sets()}")
        else:
            found = load_task_set(name)  # refused there, naming where the set was looked for
        out += [t for t in found if t not in out]
    return out + [t for t in robot_tasks if t not in out]


def is_task(name: str) -> bool:
    """True when `name` is a task `make_env` builds (see `task_kind`)."""
    try:
        task_kind(name)
    except TaskSetError:
        return False
    return True


def is_task_set(name: str | Path) -> bool:
    """True when `name` is no task but a task-set file (a YAML path) or a config/tasks/ set."""
    return not is_task(str(name)) and _task_set_path(name).is_file()


def task_sets() -> list[str]:
    """Names of the task sets in config/tasks/."""
    return sorted(p.stem for p in (config_dir() / "tasks").glob("*.yaml"))


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
        raise TaskSetError(
            f"task set {str(name_or_path)!r} not found at {path}; sets: {task_sets()}"
        )
    data = read_mapping(
        path, known=("tasks", "include", "description"), what="task set", error=TaskSetError
    )
    if not isinstance(data.get("tasks", []), list):
        raise TaskSetError(f"task set {path}: expected a mapping with a 'tasks' list")
    names: list[str] = []
    for inc in data.get("include", []) or []:
        names += [n for n in load_task_set(inc) if n not in names]
    for n in data.get("tasks", []) or []:
        if not isinstance(n, str):
            raise TaskSetError(f"task set {path}: task entry {n!r} is not a string")
        try:
            task_kind(n)
        except TaskSetError as exc:
            raise TaskSetError(f"task set {path}: {exc}") from None
        if n not in names:
            names.append(n)
    if not names:
        raise TaskSetError(f"task set {path} lists no tasks")
    return names
