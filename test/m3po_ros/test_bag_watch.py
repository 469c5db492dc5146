"""Watching a bag directory without ROS, on real rosbag2 bags written with `rosbags`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from ros_harness import assert_imports_without_ros

from m3po_ros.bag_watch import (
    STATE_FILE,
    BagWatcher,
    bag_candidates,
    bag_signature,
    read_state,
)


def open_bag(path: Path, storage: str = "mcap", messages: int = 3):
    """A rosbag2 writer with `messages` std_msgs/String written; close() completes the bag."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    text = store.types["std_msgs/msg/String"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    writer.open()
    conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
    for i in range(messages):
        data = store.serialize_cdr(text(data=f"message {i}"), "std_msgs/msg/String")
        writer.write(conn, 1_000_000_000 + i, data)
    return writer


def write_bag(path: Path, storage: str = "mcap", messages: int = 3) -> Path:
    open_bag(path, storage, messages).close()
    return path


def test_candidates_are_finished_recordings_and_bare_mcap_files(tmp_path):
    assert bag_candidates(tmp_path / "missing") == []
    write_bag(tmp_path / "b_sqlite", "sqlite3")
    write_bag(tmp_path / "a_mcap")
    mcap = next((tmp_path / "a_mcap").glob("*.mcap"))
    shutil.copy(mcap, tmp_path / "c_bare.mcap")
    recording = open_bag(tmp_path / "d_recording")  # open: no metadata.yaml yet
    write_bag(tmp_path / ".hidden")
    (tmp_path / "notes.txt").write_text("not a bag")
    try:
        assert [p.name for p in bag_candidates(tmp_path)] == ["a_mcap", "b_sqlite", "c_bare.mcap"]
    finally:
        recording.close()
    assert "d_recording" in [p.name for p in bag_candidates(tmp_path)]  # closed: complete


def test_signature_is_total_bytes_and_newest_mtime(tmp_path):
    bag = write_bag(tmp_path / "bag")
    files = [p for p in bag.iterdir() if p.is_file()]
    size, mtime = bag_signature(bag)
    assert size == sum(p.stat().st_size for p in files)
    assert mtime == max(p.stat().st_mtime for p in files)
    assert bag_signature(tmp_path / "gone") is None


def test_a_bag_is_ready_once_settled_and_offered_again_only_when_it_changes(tmp_path):
    watcher = BagWatcher(tmp_path, settle_s=2.0)
    assert watcher.ready(now=0.0) == []
    bag = write_bag(tmp_path / "run_000")
    assert watcher.ready(now=10.0) == []  # first seen now: not settled yet
    assert watcher.ready(now=11.9) == []
    assert watcher.ready(now=12.0) == [bag]
    watcher.mark(bag)
    assert watcher.ready(now=20.0) == []  # handled
    mcap = next(bag.glob("*.mcap"))
    os.utime(mcap, (mcap.stat().st_atime, mcap.stat().st_mtime + 5.0))  # rewritten
    assert watcher.ready(now=30.0) == []  # changed: it has to settle again
    assert watcher.ready(now=32.0) == [bag]


def test_a_bag_still_changing_is_not_ready(tmp_path):
    watcher = BagWatcher(tmp_path, settle_s=1.0)
    bag = write_bag(tmp_path / "growing")
    assert watcher.ready(now=0.0) == []
    extra = bag / "more.bin"
    extra.write_bytes(b"x" * 10)  # files still growing between scans
    assert watcher.ready(now=0.5) == []
    assert watcher.ready(now=1.25) == []  # changed at 0.5: settles at 1.5
    assert watcher.ready(now=1.5) == [bag]


def test_zero_settle_offers_at_once(tmp_path):
    bag = write_bag(tmp_path / "now", "sqlite3")
    assert BagWatcher(tmp_path, settle_s=0.0).ready(now=0.0) == [bag]


def test_handled_bags_survive_a_restart(tmp_path):
    bags = tmp_path / "bags"
    first, second = write_bag(bags / "first"), write_bag(bags / "second", "sqlite3")
    state = tmp_path / "out" / STATE_FILE
    assert read_state(state) == {}
    watcher = BagWatcher(bags, settle_s=0.0)
    assert watcher.ready(now=0.0) == [first, second]
    watcher.mark(first)
    watcher.save_state(state)
    assert [p.name for p in state.parent.iterdir()] == [STATE_FILE]  # no temporary left
    done = read_state(state)
    assert done == {str(first): list(bag_signature(first))}
    assert BagWatcher(bags, settle_s=0.0, done=done).ready(now=0.0) == [second]


def test_a_state_file_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / STATE_FILE
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"expected \{'done'"):
        read_state(path)
    path.write_text("{not json")
    with pytest.raises(ValueError):
        read_state(path)


def test_bags_resolving_outside_the_watched_directory_are_refused(tmp_path):
    watched, elsewhere = tmp_path / "bags", tmp_path / "elsewhere"
    watched.mkdir()
    outside = write_bag(elsewhere / "secret")
    (watched / "linked").symlink_to(outside)  # the whole bag is a link out
    inner = write_bag(watched / "inner")
    mcap = next(inner.glob("*.mcap"))
    mcap.unlink()
    mcap.symlink_to(next(outside.glob("*.mcap")))  # one file of the bag is a link out
    good = write_bag(watched / "good", "sqlite3")
    watcher = BagWatcher(watched, settle_s=0.0)
    assert watcher.ready(now=0.0) == [good]
    assert set(watcher.refused) == {str(watched / "linked"), str(inner)}
    assert all("outside the allowed roots" in why for why in watcher.refused.values())
    assert str(elsewhere) in watcher.refused[str(watched / "linked")]


def test_bag_watch_imports_without_ros():
    assert_imports_without_ros("m3po_ros.bag_watch")
