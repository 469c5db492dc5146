"""Training: online (MuJoCo) and offline (rosbag) trainers over one base, and their parts.

`online.OnlineTrainer` / `build_trainer` run `m3po train`; `finetune.OfflineTrainer` and
`finetune_from_bags` / `finetune_checkpoint` run `m3po finetune` and the learner node's bag
fine-tuning; `holdout` splits and scores held-out bag data; `task_growth` adds a task.
Names load on first use, so importing one trainer does not import the other's dependencies.
"""

from importlib import import_module

_EXPORTS = {
    "TrainerBase": "base",
    "OnlineTrainer": "online",
    "build_trainer": "online",
    "OfflineTrainer": "finetune",
    "FinetuneResult": "finetune",
    "behaviour_log_prob": "finetune",
    "finetune_checkpoint": "finetune",
    "finetune_from_bags": "finetune",
    "finetune_on_dataset": "finetune",
    "split_holdout": "holdout",
    "windows_batch": "holdout",
    "world_model_loss": "holdout",
    "add_task": "task_growth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'm3po_learning.training' has no attribute {name!r}")
    return getattr(import_module(f"m3po_learning.training.{_EXPORTS[name]}"), name)
