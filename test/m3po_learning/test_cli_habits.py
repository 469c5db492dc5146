"""CLI habits: `--config NAME` from any directory, `m3po tasks`, suggestions for typos."""

from __future__ import annotations

from pathlib import Path

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
    for expected in ("arm2/reach", "dmc/cheetah-run", "small ", "heavy", "no_trust_region"):
        assert expected in out, (expected, out)


def test_plot_of_a_run_without_evaluations_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.csv").write_text("step,time_s,task,return,episodes\n")  # header only
    assert main(["plot", str(run), "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "has no evaluations yet" in err and "m3po eval --checkpoint" in err, err
    assert not (tmp_path / "p.png").exists()
