"""MuJoCo robot suite: URDF robots, tasks, task sets, vectorised stepping, randomisation."""

from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_learning.envs.dmc import DmcEnv
from m3po_learning.envs.env import Env
from m3po_learning.envs.observation import ObservationSpec, ObsPart
from m3po_learning.envs.randomization import (
    Randomization,
    load_randomization,
    load_reality_gap,
    reality_gap_variants,
)
from m3po_learning.envs.registry import (
    TaskSetError,
    builtin_tasks,
    list_tasks,
    load_task_set,
    make_env,
    make_robot_task,
    make_task,
    register_task,
)
from m3po_learning.envs.urdf_info import UrdfError
from m3po_learning.envs.vector import VectorEnv
from m3po_learning.envs.video import contact_sheet, record_video, record_videos

__all__ = [
    "ActionSpec",
    "DmcEnv",
    "Env",
    "JointLimit",
    "ObsPart",
    "ObservationSpec",
    "Randomization",
    "TaskSetError",
    "UrdfError",
    "VectorEnv",
    "builtin_tasks",
    "contact_sheet",
    "list_tasks",
    "load_randomization",
    "load_reality_gap",
    "load_task_set",
    "make_env",
    "make_robot_task",
    "make_task",
    "reality_gap_variants",
    "record_video",
    "record_videos",
    "register_task",
]
