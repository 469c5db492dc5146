"""CLI habits: `--config NAME` from any directory, `m3po tasks`, suggestions for typos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from m3po_learning.cli import main
from m3po_learning.cli.common import config_path
from m3po_learning.envs import TaskSetError, make_env


def test_config_names_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = Path(config_path("m3po"))
    assert path.is_file() and path.name == "m3po.yaml" and path.parent.name == "train"
    own = tmp_path / "mine.yaml"
    own.write_text("train: {steps: 10}\n")
    assert config_path(str(own)) == str(own)  # a file is taken as given


def test_config_typo_is_refused_with_the_nearest_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", "no_bonsu"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean no_bonus" in err and "m3po" in err, err


def test_task_typo_suggests_the_nearest_task():
    with pytest.raises(TaskSetError, match=r"did you mean 'arm2/reach'"):
        make_env("arm2/reech")


def test_tasks_lists_tasks_sets_variants_and_configs(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "arm2/reach",
        "dmc/cheetah-run",
        "small ",
        "heavy",
        "no_trust_region",
        "swingup, balance",
        "mt10 ",
        "mw/<task>-v3",
        "mw/assembly-v3, mw/basketball-v3",  # the 50-task set, shortened
        "... (50 tasks)",
    ):
        assert expected in out, (expected, out)


def test_plot_of_a_run_without_evaluations_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.csv").write_text("step,time_s,task,return,episodes\n")  # header only
    assert main(["plot", str(run), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "has no evaluations yet" in err and "m3po eval --checkpoint" in err, err
    assert not (tmp_path / "p.png").exists()


def _m3po(args: list[str], env_changes: dict, drop: tuple = ()):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_changes, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.run(
        [sys.executable, "-m", "m3po_learning.cli", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


SHIPPED = Path(__file__).resolve().parents[1] / "m3po_ros" / "fixtures" / "arm2_reach_tiny"


def test_eval_video_chooses_an_offscreen_backend_when_mujoco_gl_is_unset(tmp_path):
    out = _m3po(
        ["eval", "--checkpoint", str(SHIPPED), "--episodes", "1", "--policy-only",
         "--video", str(tmp_path / "v")],
        {}, drop=("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rendering with MUJOCO_GL=" in out.stderr
    assert (tmp_path / "v" / "arm2_reach.mp4").stat().st_size > 0


def test_eval_video_with_a_broken_backend_fails_before_evaluating(tmp_path):
    out = _m3po(
        ["eval", "--checkpoint", str(SHIPPED), "--episodes", "1", "--video", str(tmp_path)],
        {"MUJOCO_GL": "nonsense"},
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert "MUJOCO_GL=nonsense cannot create an OpenGL context" in out.stderr
    assert "MUJOCO_GL=egl" in out.stderr and "Traceback" not in out.stderr
    assert "mean" not in out.stdout  # refused before the evaluation, not after it


def test_building_the_cli_does_not_import_mujoco():
    """MuJoCo reads MUJOCO_GL on import: the parser (stack names, config names) must not."""
    import subprocess
    import sys

    code = "import sys; from m3po_learning.cli import build_parser; build_parser(); " + (
        "sys.exit(int('mujoco' in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, "building the m3po parser imported mujoco"


def test_finetune_over_a_folder_skips_a_bad_bag_once_and_fails_only_when_none_is_usable(
    tmp_path,
):
    from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag

    folder = tmp_path / "bags"
    write_sim_bag(folder / "good_a", "arm2/reach", 300, seed=1)
    write_sim_bag(folder / "good_b", "arm2/reach", 300, seed=2)
    write_sim_bag(
        folder / "other_robot", "arm2/reach", 300, seed=3,
        options=SimBagOptions(joint_names=("hip", "knee")),
    )  # fmt: skip
    args = ["finetune", "--checkpoint", str(SHIPPED), "--task", "arm2/reach", "--steps", "20",
            "--no-progress", "--device", "cpu"]  # fmt: skip
    out = _m3po([*args, "--bag", str(folder), "--out", str(tmp_path / "ft")], {})
    assert out.returncode == 0, out.stderr[-3000:]
    skipped = [ln for ln in out.stderr.splitlines() if "other_robot" in ln and "skipped" in ln]
    assert len(skipped) == 1, out.stderr[-3000:]  # named, and printed once
    assert "from 3 bag(s)" in out.stdout and "1 bag(s) skipped" in out.stdout, out.stdout

    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (folder / "other_robot").rename(only_bad / "other_robot")
    write_sim_bag(
        only_bad / "other_robot_2", "arm2/reach", 300, seed=4,
        options=SimBagOptions(joint_names=("hip", "knee")),
    )  # fmt: skip
    out = _m3po([*args, "--bag", str(only_bad), "--out", str(tmp_path / "ft2")], {})
    assert out.returncode == 2, out.stderr[-3000:]
    assert "no bag was usable" in out.stderr and "Traceback" not in out.stderr


def test_finetune_joint_map_reads_a_robot_with_other_joint_names(tmp_path):
    """A driver that calls the joints j1, j2: refused with the hint, read with --joint-map."""
    from m3po_learning.datasets import load_bag_dataset, load_topic_map
    from m3po_learning.datasets.errors import BagError
    from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag

    bag = tmp_path / "renamed"
    write_sim_bag(bag, "arm2/reach", 300, seed=5, options=SimBagOptions(joint_names=("j1", "j2")))
    with pytest.raises(BagError, match="--joint-map"):
        load_bag_dataset([bag], "arm2/reach", progress=False)
    tmap = load_topic_map(None, ["joint_map=j1=shoulder,j2=elbow"])
    data = load_bag_dataset([bag], "arm2/reach", topic_map=tmap, progress=False)
    plain = tmp_path / "plain"
    write_sim_bag(plain, "arm2/reach", 300, seed=5)
    same = load_bag_dataset([plain], "arm2/reach", progress=False)
    assert data.num_transitions == same.num_transitions > 200
    np.testing.assert_allclose(data.episodes[0].obs, same.episodes[0].obs)
    out = _m3po(
        ["finetune", "--checkpoint", str(SHIPPED), "--task", "arm2/reach", "--steps", "10",
         "--no-progress", "--device", "cpu", "--bag", str(bag), "--out", str(tmp_path / "ft"),
         "--joint-map", "j1=shoulder,j2=elbow"],
        {},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    with pytest.raises(BagError, match="BAG_JOINT=TASK_JOINT"):
        load_topic_map(None, ["joint_map=j1:shoulder"])


def test_run_files_have_their_headers_from_the_start(tmp_path):
    from m3po_learning.logger import MetricsLogger

    logger = MetricsLogger(tmp_path, tensorboard=False)
    try:  # nothing logged yet, the files still open
        assert (tmp_path / "eval.csv").read_text() == "step,time_s,task,return,episodes\n"
        assert (tmp_path / "metrics.csv").read_text().startswith("step,time_s,name,value")
    finally:
        logger.close()


def _eval_run(path: Path, rows: list[tuple[int, str, float]]) -> Path:
    path.mkdir(parents=True)
    lines = ["step,time_s,task,return,episodes"]
    lines += [f"{step},0,{task},{ret},1" for step, task, ret in rows]
    (path / "eval.csv").write_text("\n".join(lines) + "\n")
    return path


def test_plot_seeds_share_a_band_and_settings_keep_their_colour(tmp_path):
    import matplotlib.pyplot as plt

    from m3po_learning.cli.plot import plot_runs

    def rows(scale, tasks=("a", "b")):
        out = []
        for step in (100, 200):
            per = [(step, t, scale * step / 100 + i) for i, t in enumerate(tasks)]
            out += per + [(step, "mean", sum(r for *_, r in per) / len(per))]
        return out

    runs = [
        _eval_run(tmp_path / "s1", rows(1.0)),
        _eval_run(tmp_path / "s2", rows(3.0)),
        _eval_run(tmp_path / "base", rows(0.5, tasks=("b",))),  # no task "a"
    ]
    fig = plot_runs(runs, None, ["m3po", "m3po", "baseline"], per_task=True)
    try:
        mean_ax, a_ax, b_ax = fig.axes[:3]
        labels = [ln.get_label() for ln in mean_ax.get_lines()]
        assert labels == ["m3po (2 seeds)", "baseline"]
        assert len(mean_ax.collections) == 1  # the seeds' min-max band
        np.testing.assert_allclose(mean_ax.get_lines()[0].get_ydata(), [2.5, 4.5])  # mean
        baseline_colour = {ln.get_color() for ax in (mean_ax, b_ax) for ln in ax.get_lines()
                           if ln.get_label() == "baseline"}  # fmt: skip
        assert len(baseline_colour) == 1 and [ln.get_label() for ln in a_ax.get_lines()] == [
            "m3po (2 seeds)"
        ]
    finally:
        plt.close(fig)
