"""Fuzzing the rosbag reader: every damaged bag ends in a valid dataset or in BagError.

Bags come from outside (a robot's recorder, a copy from another machine, a killed
recording), so `load_bag_dataset` must turn any bag directory into either episodes of
finite, well-shaped transitions or a BagError naming the bag and the problem: never
another exception, never a hang. Each test starts from a small valid bag per storage (MCAP
and sqlite3) and damages one part of it: the storage file's bytes, its metadata.yaml (as
bytes and as YAML values of the wrong type), the MCAP chunks behind a recomputed CRC (so the
damage reaches the message decoders), and the sqlite3 tables through SQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import zlib
from itertools import count
from pathlib import Path

import numpy as np
import pytest
import yaml
from fuzzlib import edits_strategy, fuzz_settings, mutate, verdict
from hypothesis import given
from hypothesis import strategies as st

from m3po_learning.datasets import BagDataset, BagError, load_bag_dataset
from m3po_learning.datasets.sim_bag import SimBagOptions, write_sim_bag

TASK = "arm2/reach"
STORAGES = ("mcap", "sqlite3")
SUFFIX = {"mcap": ".mcap", "sqlite3": ".db3"}
ERRORS = (BagError,)

_names = count()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, tuple[Path, BagDataset]]:
    """Storage -> (a small valid bag, what it reads as): the seed of every mutation."""
    out = {}
    for storage in STORAGES:
        path = tmp_path_factory.mktemp(f"good_{storage}") / "bag"
        write_sim_bag(path, TASK, 40, seed=2, options=SimBagOptions(storage, chunk_messages=30))
        out[storage] = (path, load_bag_dataset([path], TASK, progress=False))
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """Where each example copies its bag (hypothesis reuses fixtures across examples)."""
    return tmp_path_factory.mktemp("fuzz_bags")


def _copy(good, storage: str, scratch: Path) -> tuple[Path, Path]:
    """A fresh copy of the good bag of `storage`: (bag directory, its storage file)."""
    dst = scratch / f"b{next(_names)}"
    shutil.copytree(good[storage][0], dst)
    return dst, next(dst.glob(f"*{SUFFIX[storage]}"))


def _read(target: str, bag: Path, ref: BagDataset) -> BagDataset | None:
    """load_bag_dataset under `verdict`; a dataset it returns must be sound."""
    try:
        ds = verdict(target, lambda: load_bag_dataset([bag], TASK, progress=False), ERRORS)
    finally:
        shutil.rmtree(bag, ignore_errors=True)
    if ds is None:
        return None
    assert isinstance(ds, BagDataset) and ds.episodes and ds.task == TASK
    obs_dim = ref.episodes[0].obs.shape[1]
    act_dim = ref.episodes[0].action.shape[1]
    for e in ds.episodes:
        n = len(e)
        assert n >= 1
        assert e.obs.shape == (n + 1, obs_dim) and e.action.shape == (n, act_dim)
        assert e.reward.shape == e.terminated.shape == (n,) and e.time_s.shape == (n + 1,)
        for a in (e.obs, e.action, e.reward, e.time_s):
            assert np.all(np.isfinite(a))
        assert np.all(np.abs(e.action) <= 1.0)
    assert ds.stats["transitions"] == ds.num_transitions
    return ds


# -- storage bytes ------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", STORAGES)
@fuzz_settings(60)
@given(edits=edits_strategy(), keep_metadata=st.booleans())
def test_storage_file_bytes(good, scratch, storage, edits, keep_metadata):
    bag, file = _copy(good, storage, scratch)
    file.write_bytes(mutate(file.read_bytes(), edits))
    if not keep_metadata:  # the killed-recorder path: storage files read one by one
        (bag / "metadata.yaml").unlink()
    _read(f"bag/{storage}", bag, good[storage][1])


def _chunk_regions(data: bytes) -> list[tuple[int, int, int]]:
    """(crc offset, records start, records end) of each uncompressed MCAP chunk."""
    out, pos = [], 8
    while pos + 9 <= len(data):
        op, length = data[pos], struct.unpack_from("<Q", data, pos + 1)[0]
        body = pos + 9
        if op == 0x06:
            (n,) = struct.unpack_from("<I", data, body + 28)
            compression = data[body + 32 : body + 32 + n]
            (size,) = struct.unpack_from("<Q", data, body + 32 + n)
            start = body + 40 + n
            if compression == b"":
                out.append((body + 24, start, start + size))
        pos = body + length
    return out


@fuzz_settings(60)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from([0, 0, 1]), st.integers(0, 2**31 - 1), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_mcap_chunk_contents_behind_a_valid_crc(good, scratch, edits):
    """Flipped or set bytes inside the chunks, CRCs recomputed: the records and CDR parse."""
    bag, file = _copy(good, "mcap", scratch)
    data = bytearray(file.read_bytes())
    regions = _chunk_regions(bytes(data))
    assert regions, "the sim bag's MCAP chunks are expected uncompressed"
    offsets = [i for _, a, b in regions for i in range(a, b)]
    for kind, pos, value in edits:
        i = offsets[pos % len(offsets)]
        data[i] = data[i] ^ (1 << (value % 8)) if kind == 0 else value
    for crc_at, a, b in regions:
        struct.pack_into("<I", data, crc_at, zlib.crc32(data[a:b]))
    file.write_bytes(bytes(data))
    _read("bag/mcap", bag, good["mcap"][1])


# -- metadata.yaml ------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", STORAGES)
@fuzz_settings(40)
@given(edits=edits_strategy())
def test_metadata_yaml_bytes(good, scratch, storage, edits):
    bag, _ = _copy(good, storage, scratch)
    meta = bag / "metadata.yaml"
    meta.write_bytes(mutate(meta.read_bytes(), edits))
    _read("bag/metadata.yaml", bag, good[storage][1])


yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**63 - 2, max_value=2**64 + 1),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["mcap", "sqlite3", "zstd", "file", "message", "cdr", "", "bag_0.db3"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path inside the parsed metadata (mappings and lists), the root excluded."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        out.append((*prefix, k))
        if isinstance(v, dict | list):
            out += _paths(v, (*prefix, k))
    return out


@pytest.mark.parametrize("storage", STORAGES)
@fuzz_settings(40)
@given(
    changes=st.lists(
        st.tuples(st.integers(0, 10**6), st.one_of(st.just("delete"), yaml_values)),
        min_size=1,
        max_size=4,
    )
)
def test_metadata_yaml_values(good, scratch, storage, changes):
    """Values of the wrong type or range anywhere in metadata.yaml, or keys deleted."""
    bag, _ = _copy(good, storage, scratch)
    meta = bag / "metadata.yaml"
    data = yaml.safe_load(meta.read_text())
    for index, value in changes:
        paths = _paths(data)
        if not paths:
            break
        *parent_path, key = paths[index % len(paths)]
        parent = data
        for k in parent_path:
            parent = parent[k]
        if value == "delete":
            del parent[key]
        else:
            parent[key] = value
    meta.write_text(yaml.safe_dump(data))
    _read("bag/metadata.yaml", bag, good[storage][1])


# -- sqlite3 through SQL ------------------------------------------------------------------------
sql_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), 2**31]),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        [
            "sensor_msgs/msg/JointState",
            "std_msgs/msg/Float64MultiArray",
            "std_msgs/msg/String",
            "geometry_msgs/msg/PointStamped",
            "my_msgs/msg/Unknown",
            "/joint_states",
            "/joint_commands",
            "/goal",
            "cdr",
            "ros2msg",
            "",
        ]
    ),
    st.binary(max_size=40),
)
sql_ops = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 99), st.integers(1, 5), st.integers(0, 4)),
    st.tuples(
        st.just("update"),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 10**6),
        sql_values,
    ),
    st.tuples(st.just("blob"), st.integers(0, 10**6), edits_strategy(4)),
    st.tuples(st.just("drop"), st.integers(0, 99)),
)


def _apply_sql(db: Path, ops) -> None:
    con = sqlite3.connect(db)
    try:
        for op in ops:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
                )
            ]
            if not tables:
                return
            if op[0] == "blob":  # corrupt one serialized message
                if "messages" not in tables:
                    continue
                rows = con.execute("SELECT id, data FROM messages ORDER BY id").fetchall()
                if rows:
                    mid, blob = rows[op[1] % len(rows)]
                    new = mutate(bytes(blob), op[2]) if blob else b""
                    con.execute("UPDATE messages SET data = ? WHERE id = ?", (new, mid))
                continue
            table = tables[op[1] % len(tables)]
            if op[0] == "drop":
                con.execute(f'DROP TABLE "{table}"')
            elif op[0] == "delete":
                _, _, modulus, residue = op
                con.execute(f'DELETE FROM "{table}" WHERE rowid % ? = ?', (modulus, residue))
            else:
                _, _, col, row, value = op
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                rowids = [r[0] for r in con.execute(f'SELECT rowid FROM "{table}"')]
                if cols and rowids:
                    try:
                        con.execute(
                            f'UPDATE "{table}" SET "{cols[col % len(cols)]}" = ? WHERE rowid = ?',
                            (value, rowids[row % len(rowids)]),
                        )
                    except sqlite3.IntegrityError:
                        pass  # e.g. a duplicate primary key: the table keeps its row
        con.commit()
    finally:
        con.close()


@fuzz_settings(60)
@given(ops=st.lists(sql_ops, min_size=1, max_size=4), keep_metadata=st.booleans())
def test_sqlite3_tables(good, scratch, ops, keep_metadata):
    """Rows deleted, cells of any type (a topic's type string, a timestamp), blobs damaged."""
    bag, db = _copy(good, "sqlite3", scratch)
    _apply_sql(db, ops)
    if not keep_metadata:
        (bag / "metadata.yaml").unlink()
    _read("bag/sqlite3", bag, good["sqlite3"][1])


# -- known damage, named ------------------------------------------------------------------------
def test_known_damage_is_refused_by_name(good, scratch):
    """A few damages that once escaped as other exceptions; each is now a BagError or read."""
    # A topic's name replaced by a blob (sqlite3 columns take any type).
    bag, db = _copy(good, "sqlite3", scratch)
    con = sqlite3.connect(db)
    con.execute("UPDATE topics SET name = X'ff00' WHERE name = '/goal'")
    con.commit()
    con.close()
    (bag / "metadata.yaml").unlink()
    with pytest.raises(BagError, match="malformed name or type"):
        load_bag_dataset([bag], TASK, progress=False)
    # A log time that is no int64 (a u64 past 2**63 in an MCAP chunk behind a valid CRC, in a
    # file without summary so the scanner reads it; text in an sqlite3 cell): the message is
    # skipped with a warning.
    bag, file = _copy(good, "mcap", scratch)
    data = bytearray(file.read_bytes())
    regions = _chunk_regions(bytes(data))
    crc_at, start, end = regions[0]
    pos = start
    while data[pos] != 0x05:  # the chunk's first message record
        pos += 9 + struct.unpack_from("<Q", data, pos + 1)[0]
    struct.pack_into("<Q", data, pos + 9 + 6, 2**64 - 1)  # after channel id u16, sequence u32
    struct.pack_into("<I", data, crc_at, zlib.crc32(data[start:end]))
    file.write_bytes(bytes(data[: regions[-1][2]]))  # no summary, no footer
    (bag / "metadata.yaml").unlink()
    ds = load_bag_dataset([bag], TASK, progress=False)
    assert any("invalid log time 18446744073709551615" in w for w in ds.warnings)
    bag, db = _copy(good, "sqlite3", scratch)
    con = sqlite3.connect(db)
    con.execute("UPDATE messages SET timestamp = 'soon' WHERE id = 1")
    con.commit()
    con.close()
    ds = load_bag_dataset([bag], TASK, progress=False)
    assert any("invalid log time" in w for w in ds.warnings)
    # metadata.yaml with a string where rosbags adds numbers: read from the storage file.
    bag, _ = _copy(good, "mcap", scratch)
    meta = bag / "metadata.yaml"
    data = yaml.safe_load(meta.read_text())
    data["rosbag2_bagfile_information"]["duration"]["nanoseconds"] = "long"
    meta.write_text(yaml.safe_dump(data))
    ds = load_bag_dataset([bag], TASK, progress=False)
    assert any("rosbags cannot open it" in w for w in ds.warnings)
    assert ds.num_transitions == good["mcap"][1].num_transitions
