"""Paths from topics resolve inside the configured roots or are refused with the reason."""

from __future__ import annotations

import os

import pytest
from ros_harness import assert_imports_without_ros

from m3po_ros.path_guard import (
    PathRefused,
    checkpoint_roots,
    parse_roots,
    resolve_inside,
    resolve_roots,
)


def test_roots_parse_from_colon_or_comma_lists(tmp_path):
    assert parse_roots("") == ()
    assert parse_roots(f"/a{os.pathsep}/b, /c,") == (
        parse_roots("/a")[0],
        parse_roots("/b")[0],
        parse_roots("/c")[0],
    )
    ck = tmp_path / "runs" / "x"
    roots = checkpoint_roots(f"{tmp_path}{os.pathsep}{tmp_path}", str(ck))
    assert roots == (tmp_path.resolve(), (tmp_path / "runs").resolve())  # duplicate dropped


def test_inside_outside_dotdot_symlink_missing_nul(tmp_path):
    root = tmp_path / "root"
    (root / "ck").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (root / "link").symlink_to(tmp_path / "other")
    roots = resolve_roots([root])
    assert resolve_inside(root / "ck", roots) == (root / "ck").resolve()
    assert resolve_inside(root, roots) == root.resolve()
    for bad, why in (
        (tmp_path / "other", "outside the allowed roots"),
        (root / ".." / "other", "outside the allowed roots"),
        (root / "link", "outside the allowed roots"),
        (root / "nope", "does not exist"),
        ("", "empty path"),
        (f"{root}/ck\x00", "NUL"),
    ):
        with pytest.raises(PathRefused, match=why):
            resolve_inside(bad, roots, "checkpoint")
    with pytest.raises(PathRefused, match=r"\(none configured\)"):
        resolve_inside(root / "ck", (), "checkpoint")


def test_path_guard_imports_without_ros():
    assert_imports_without_ros("m3po_ros.path_guard")
