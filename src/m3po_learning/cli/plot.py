"""`m3po plot`: learning curves of one or more runs from their eval.csv."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    """Register `m3po plot` on the subparsers action `sub`."""
    p = sub.add_parser(
        "plot",
        help="plot learning curves of runs",
        description="Plot evaluation return against environment steps.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories with eval.csv")
    p.add_argument("--labels", nargs="+", help="legend labels, one per run")
    p.add_argument("--out", default="learning_curve.png", help="output PNG")
    p.add_argument("--per-task", action="store_true", help="one panel per task")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plot the given runs to --out."""
    out = plot_runs([Path(r) for r in args.runs], Path(args.out), args.labels, args.per_task)
    print(f"wrote {out}")
    return 0


def plot_runs(
    runs: list[Path],
    out: Path | None,
    labels: list[str] | None = None,
    per_task: bool = False,
    title: str = "M3PO learning curves",
) -> Path:
    """Plot eval return against environment steps for each run's eval.csv; returns `out`.

    With `out=None` the matplotlib figure is returned instead of written.

    Args:
        runs: run directories, each with an eval.csv.
        out: PNG path to write (parent directories are created).
        labels: legend label per run (default: the directory names); runs with the same
            label are seeds of one setting, drawn as their mean with a min-max band.
        per_task: add one panel per task after the mean-over-tasks panel.
        title: figure title.

    Raises:
        FileNotFoundError: a run has no eval.csv.
        ValueError: a run has no evaluations yet, or the number of labels differs from the
            number of runs.
    """
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from m3po_learning.logger import read_eval_csv

    if labels and len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    curves = []
    for r in runs:
        f = r / "eval.csv"
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist (is {r} a run directory?)")
        curve = read_eval_csv(f)
        if not any(curve.values()):
            raise ValueError(
                f"{f} has no evaluations yet: the run stopped before its first one, or it ran "
                "with train.eval_every=0 (evaluate it with `m3po eval --checkpoint "
                f"{r}`)"
            )
        curves.append(curve)
    keys = ["mean"]
    if per_task:
        keys += sorted({k for c in curves for k in c if k != "mean"})
    cols = min(len(keys), 4)
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    # Runs with the same label are seeds of one setting: one colour, their mean as the line
    # and min-max as a band. A setting keeps its colour in every panel.
    names = labels or [r.name for r in runs]
    groups: dict[str, list[dict]] = {}
    for name, c in zip(names, curves, strict=True):
        groups.setdefault(name, []).append(c)
    for ax, key in zip(axes.flat, keys, strict=False):
        for g, (name, members) in enumerate(groups.items()):
            series = [dict(c[key]) for c in members if key in c]
            if not series:
                continue
            steps = sorted(set.intersection(*(set(d) for d in series)))
            values = np.array([[d[t] for t in steps] for d in series])
            n = f" ({len(series)} seeds)" if len(series) > 1 else ""
            ax.plot(steps, values.mean(0), marker="o", ms=3, color=f"C{g}", label=name + n)
            if len(series) > 1:
                ax.fill_between(steps, values.min(0), values.max(0), color=f"C{g}", alpha=0.2)
        ax.set_title("mean over tasks" if key == "mean" else key)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    axes.flat[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    if out is None:
        return fig
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
