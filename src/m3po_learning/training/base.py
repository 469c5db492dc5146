"""What online and offline training share: agent and replay, update metrics, bars, run dirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from m3po_learning.agent import M3POAgent
from m3po_learning.buffer import ReplayBuffer
from m3po_learning.checkpoint import save_run_checkpoint


class TrainerBase:
    """The base of `OnlineTrainer` and `OfflineTrainer` (TD-MPC2's `trainer/base.py`).

    It holds the agent and the replay it is updated from, runs world-model updates and
    averages their metrics, makes progress bars, and saves checkpoints into a run directory.
    The subclasses own their schedules.
    """

    def __init__(
        self,
        agent: M3POAgent,
        buffer: ReplayBuffer,
        out_dir: str | Path | None = None,
        progress: bool = True,
    ):
        self.agent = agent
        self.buffer = buffer
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.stop_requested = False  # set from another thread to end training early
        self.on_checkpoint: Callable[[Path], None] | None = None  # called after each save
        self._update_sums: dict[str, float] = {}
        self._update_count = 0

    @property
    def ckpt_dir(self) -> Path:
        """The run directory's checkpoints folder (holds `latest`)."""
        if self.out_dir is None:
            raise ValueError("this trainer has no run directory (out_dir=None)")
        return self.out_dir / "checkpoints"

    def progress_bar(self, total: int, desc: str, unit: str = "step", **kwargs):
        """A tqdm bar when `progress` is on, else None (tqdm loads only when used)."""
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, **kwargs)

    def update_once(self, batch_size: int) -> dict[str, float]:
        """One `agent.update` on a replay sample of `batch_size` sub-trajectories.

        Returns its metrics, which are also summed for `pop_update_metrics`.
        """
        metrics = self.agent.update(self.buffer.sample(batch_size, self.agent.device))
        for k, v in metrics.items():
            self._update_sums[k] = self._update_sums.get(k, 0.0) + v
        self._update_count += 1
        return metrics

    def pop_update_metrics(self) -> dict[str, float]:
        """Mean update metrics since the last call, plus `wm/updates` (their count)."""
        out = {k: v / self._update_count for k, v in self._update_sums.items()}
        if self._update_count:
            out["wm/updates"] = float(self._update_count)
        self._update_sums, self._update_count = {}, 0
        return out

    def save_to_run_dir(
        self,
        step: int,
        trainer_state: dict | None = None,
        prefix: str = "step",
        unique: bool = False,
        keep: int = 0,
    ) -> Path:
        """Save the agent into the run directory and return the checkpoint's path.

        See `save_run_checkpoint` for the arguments; `on_checkpoint`, if set, is then called
        with the path.
        """
        if self.out_dir is None:
            raise ValueError("this trainer has no run directory (out_dir=None)")
        path = save_run_checkpoint(
            self.out_dir, self.agent, step, trainer_state, prefix=prefix, unique=unique, keep=keep
        )
        if self.on_checkpoint is not None:
            self.on_checkpoint(path)
        return path
