"""Old import path of offline fine-tuning, kept for m3po_ros.learner_node: training.finetune."""

from m3po_learning.config import FinetuneConfig
from m3po_learning.training.finetune import (
    FinetuneResult,
    finetune_checkpoint,
    finetune_from_bags,
    finetune_on_dataset,
)

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "finetune_checkpoint",
    "finetune_from_bags",
    "finetune_on_dataset",
]
