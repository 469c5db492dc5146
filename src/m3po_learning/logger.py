"""Run metrics to CSV (always) and TensorBoard (optional)."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


class MetricsLogger:
    """Long-format `metrics.csv` (step, time_s, name, value) and per-task `eval.csv`."""

    def __init__(self, out_dir: str | Path, tensorboard: bool = True, append: bool = False):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        mode = "a" if append else "w"
        self._metrics_f = open(self.dir / "metrics.csv", mode, newline="")
        self._eval_f = open(self.dir / "eval.csv", mode, newline="")
        self._metrics = csv.writer(self._metrics_f)
        self._eval = csv.writer(self._eval_f)
        if not append or self._metrics_f.tell() == 0:
            self._metrics.writerow(["step", "time_s", "name", "value"])
        if not append or self._eval_f.tell() == 0:
            self._eval.writerow(["step", "time_s", "task", "return", "episodes"])
        # The headers are on disk from the start: a reader (a plot, a dashboard) of a run
        # still seeding or pretraining sees the columns, not an empty file.
        self._metrics_f.flush()
        self._eval_f.flush()
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append one metrics.csv row per metric at `step` (and TensorBoard scalars); flushes."""
        t = round(time.time() - self.t0, 3)
        for name, value in metrics.items():
            self._metrics.writerow([step, t, name, f"{float(value):.6g}"])
            if self.tb is not None:
                self.tb.add_scalar(name, float(value), step)
        self._metrics_f.flush()

    def log_eval(self, step: int, returns: dict[str, float], episodes: int) -> None:
        """Append per-task mean returns at `step` to eval.csv, then a "mean" row over tasks.

        `episodes` is the number of episodes per task behind each mean.
        """
        t = round(time.time() - self.t0, 3)
        for task, ret in returns.items():
            self._eval.writerow([step, t, task, f"{ret:.4f}", episodes])
            if self.tb is not None:
                self.tb.add_scalar(f"eval/{task}", ret, step)
        mean = sum(returns.values()) / max(len(returns), 1)
        self._eval.writerow([step, t, "mean", f"{mean:.4f}", episodes])
        if self.tb is not None:
            self.tb.add_scalar("eval/mean", mean, step)
        self._eval_f.flush()

    def close(self) -> None:
        """Flush and close the files; closing twice is harmless."""
        self._metrics_f.close()
        self._eval_f.close()
        if self.tb is not None:
            self.tb.close()


def read_eval_csv(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """eval.csv -> {task: [(step, return), ...]}, 'mean' included."""
    out: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["task"], []).append((int(row["step"]), float(row["return"])))
    return out
