"""Tasks: reset distribution, observation parts, reward and termination, per robot."""

from m3po_learning.envs.tasks.base import Task
from m3po_learning.envs.tasks.catalog import BUILTIN_TASKS
from m3po_learning.envs.tasks.reach import ReachTask, Workspace
from m3po_learning.envs.tasks.swing import SwingTask

__all__ = ["BUILTIN_TASKS", "ReachTask", "SwingTask", "Task", "Workspace"]
