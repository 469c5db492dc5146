"""Old import path of the online trainer, kept for m3po_ros.learner_node: see training.online."""

from m3po_learning.training.online import OnlineTrainer as Trainer
from m3po_learning.training.online import build_trainer

__all__ = ["Trainer", "build_trainer"]
