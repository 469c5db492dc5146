"""M3PO learning library: world model, planner, trust-region policy, environments, datasets.

Pure PyTorch + MuJoCo (never imports ROS). Names load on first use so that `m3po --help`
stays fast.
"""

from importlib import import_module

_EXPORTS = {
    "Config": "config",
    "ConfigError": "config",
    "load_config": "config",
    "EnvSpec": "types",
    "Batch": "types",
    "WorldModel": "world_model",
    "MPPIPlanner": "planner",
    "M3POAgent": "agent",
    "ReplayBuffer": "buffer",
    "OnlineTrainer": "training.online",
    "build_trainer": "training.online",
    "finetune_from_bags": "training.finetune",
    "evaluate": "evaluation",
    "CheckpointError": "checkpoint",
    "load_agent": "checkpoint",
    "save_checkpoint": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'm3po_learning' has no attribute {name!r}")
    return getattr(import_module(f"m3po_learning.{_EXPORTS[name]}"), name)
