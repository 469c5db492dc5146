"""Fuzzing the checkpoint reader: every hostile checkpoint directory ends in CheckpointError.

A checkpoint arrives from outside (a learner on another machine, a download, a path on a
topic), so `read_checkpoint` / `load_agent` must turn any directory into either an agent or
a CheckpointError that names the problem: never another exception (the controller's
hot-swap and the CLI catch CheckpointError), never a hang, never an allocation sized by a
header field, never code execution from a pickle or a YAML tag.

Two kinds of damage: as it comes (the sha256 and size in metadata.json catch it), and
re-signed (metadata.json updated to match the damaged file), which gets the damage past
the integrity check to the JSON, YAML and safetensors parsers behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import shutil
import struct
from pathlib import Path

import pytest
import torch
from fuzzlib import edits_strategy, fuzz_settings, mutate, verdict
from hypothesis import given
from hypothesis import strategies as st

from m3po_learning.agent import M3POAgent
from m3po_learning.checkpoint import (
    CONFIG_FILE,
    META_FILE,
    MODEL_FILE,
    OPTIM_FILE,
    CheckpointError,
    load_agent,
    read_checkpoint,
    save_checkpoint,
)
from m3po_learning.config import load_config
from m3po_learning.types import Batch, EnvSpec

SPECS = [EnvSpec("toy/a", 5, 2, 100, joint_names=("j0", "j1"))]
ERRORS = (CheckpointError,)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A small valid checkpoint with optimizer state: the seed every mutation starts from."""
    cfg = load_config(None, ["model.preset=tiny", "optim.batch_size=8"])
    torch.manual_seed(0)
    agent = M3POAgent(cfg, SPECS, device="cpu")
    g = torch.Generator().manual_seed(0)
    batch = Batch(  # one update, so the optimizer has moments to save
        torch.randn(4, 8, 5, generator=g),
        torch.rand(3, 8, 2, generator=g),
        torch.rand(3, 8, generator=g),
        torch.zeros(3, 8),
        torch.zeros(8, dtype=torch.long),
        torch.zeros(3, 8),
    )
    agent.update_world_model(batch)
    return save_checkpoint(tmp_path_factory.mktemp("good") / "ck", agent, step=7)


@pytest.fixture
def work(tmp_path_factory):
    """A fresh directory per hypothesis example (function-scoped fixtures are shared)."""
    root = tmp_path_factory.mktemp("fuzz")
    counter = iter(range(10**9))

    def fresh(good: Path) -> Path:
        d = root / f"ck{next(counter)}"
        shutil.copytree(good, d)
        return d

    return fresh


def resign(ck: Path, *names: str) -> None:
    """Update metadata.json's sha256 and size of `names` to the files as they now are."""
    meta = json.loads((ck / META_FILE).read_text())
    for name in names:
        data = (ck / name).read_bytes()
        meta["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (ck / META_FILE).write_text(json.dumps(meta))


def load_both(ck: Path):
    """What a user's load does: the reader with optimizer state, then a whole agent."""
    read_checkpoint(ck, load_optimizer=True)
    return load_agent(ck, device="cpu", load_optimizer=True)


# -- metadata.json ---------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
META_KEYS = ["format_version", "step", "tasks", "specs", "obs_dim", "action_dim", "files",
             "optimizer", "trainer_state"]  # fmt: skip


@fuzz_settings(60)
@given(edits=edits_strategy())
def test_metadata_bytes_mutated(good, work, edits):
    ck = work(good)
    p = ck / META_FILE
    p.write_bytes(mutate(p.read_bytes(), edits))
    verdict("checkpoint/metadata.json bytes", lambda: load_both(ck), ERRORS)


@fuzz_settings(80)
@given(key=st.sampled_from(META_KEYS), value=JSON)
def test_metadata_field_replaced(good, work, key, value):
    """Any JSON value in place of one field: wrong types, missing sub-keys, nesting."""
    ck = work(good)
    meta = json.loads((ck / META_FILE).read_text())
    meta[key] = value
    (ck / META_FILE).write_text(json.dumps(meta))
    verdict("checkpoint/metadata.json fields", lambda: load_both(ck), ERRORS)


@fuzz_settings(40)
@given(
    name=st.sampled_from(["../outside", "/etc/hostname", "sub/../../x", "..", ".", "", "a\0b"]),
    entry=JSON,
)
def test_metadata_file_names_cannot_leave_the_checkpoint(good, work, name, entry):
    """A listed file name that points outside the directory is refused, not read."""
    ck = work(good)
    (ck.parent / "outside").write_bytes(b"secret")
    meta = json.loads((ck / META_FILE).read_text())
    meta["files"][name] = entry
    (ck / META_FILE).write_text(json.dumps(meta))
    assert verdict("checkpoint/metadata.json names", lambda: load_both(ck), ERRORS) is None


# -- config.yaml -----------------------------------------------------------------------------
@fuzz_settings(60)
@given(edits=edits_strategy(), sign=st.booleans())
def test_config_yaml_mutated(good, work, edits, sign):
    ck = work(good)
    p = ck / CONFIG_FILE
    p.write_bytes(mutate(p.read_bytes(), edits))
    if sign:
        resign(ck, CONFIG_FILE)
    verdict("checkpoint/config.yaml", lambda: load_both(ck), ERRORS)


def test_config_yaml_tags_do_not_run_code(good, work, tmp_path):
    """A re-signed config.yaml with Python object tags is refused, and nothing ran."""
    marker = tmp_path / "ran"
    for payload in (
        f'!!python/object/apply:os.system ["touch {marker}"]\n',
        f'model: !!python/object/apply:os.system ["touch {marker}"]\n',
        f"model: !!python/object/new:subprocess.Popen [[touch, {marker}]]\n",
    ):
        ck = work(good)
        (ck / CONFIG_FILE).write_text(payload)
        resign(ck, CONFIG_FILE)
        with pytest.raises(CheckpointError, match="config.yaml"):
            load_both(ck)
    assert not marker.exists()


# -- safetensors -----------------------------------------------------------------------------
def safetensors_parts(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def safetensors_bytes(header: dict | bytes, body: bytes, claimed: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if claimed is None else claimed) + raw + body


@fuzz_settings(60)
@given(edits=edits_strategy(), which=st.sampled_from([MODEL_FILE, OPTIM_FILE]))
def test_safetensors_bytes_mutated_and_resigned(good, work, edits, which):
    ck = work(good)
    p = ck / which
    p.write_bytes(mutate(p.read_bytes(), edits))
    resign(ck, which)
    verdict("checkpoint/safetensors bytes", lambda: load_both(ck), ERRORS)


@fuzz_settings(80)
@given(
    which=st.sampled_from([MODEL_FILE, OPTIM_FILE]),
    field=st.sampled_from(["dtype", "shape", "data_offsets", "drop", "rename", "extra"]),
    value=JSON | st.sampled_from(["F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "X9"]),
    pick=st.integers(0, 10**6),
)
def test_safetensors_header_fields(good, work, which, field, value, pick):
    """Wrong dtypes, shapes that do not match the data or the model, offsets past the end."""
    ck = work(good)
    p = ck / which
    header, body = safetensors_parts(p.read_bytes())
    names = sorted(k for k in header if k != "__metadata__")
    name = names[pick % len(names)]
    if field == "drop":
        del header[name]
    elif field == "rename":
        header[f"{name}.x"] = header.pop(name)
    elif field == "extra":
        header[f"extra{pick}"] = value
    else:
        header[name][field] = value
    p.write_bytes(safetensors_bytes(header, body))
    resign(ck, which)
    verdict("checkpoint/safetensors header", lambda: load_both(ck), ERRORS)


@pytest.mark.parametrize("claimed", [2**63 - 1, 2**40, 10**8 + 1, 0, 3])
def test_safetensors_header_length_is_not_trusted(good, work, claimed):
    """A header claiming a huge (or tiny) length is refused without allocating it."""
    ck = work(good)
    p = ck / MODEL_FILE
    header, body = safetensors_parts(p.read_bytes())
    p.write_bytes(safetensors_bytes(header, body, claimed=claimed))
    resign(ck, MODEL_FILE)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="model.safetensors|weights"):
        load_both(ck)
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grew_mib < 200, f"refusing a {claimed}-byte header grew the process by {grew_mib} MiB"


class _Payload:
    """Unpickling this runs a command: what a hostile .pt/.pkl file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payloads_are_never_unpickled(good, work, tmp_path):
    """model/optim files replaced by pickles (torch.save or raw), re-signed: refused, inert."""
    marker = tmp_path / "ran"
    for which in (MODEL_FILE, OPTIM_FILE):
        for writer in ("torch", "pickle"):
            ck = work(good)
            target = ck / which
            if writer == "torch":
                torch.save({"w": _Payload(marker)}, target)
            else:
                target.write_bytes(pickle.dumps(_Payload(marker)))
            resign(ck, which)
            with pytest.raises(CheckpointError):
                load_both(ck)
    assert not marker.exists(), "a pickle inside a checkpoint was executed"


# -- the whole directory ---------------------------------------------------------------------
@fuzz_settings(40)
@given(
    remove=st.sets(st.sampled_from([META_FILE, CONFIG_FILE, MODEL_FILE, OPTIM_FILE])),
    as_dir=st.sets(st.sampled_from([CONFIG_FILE, MODEL_FILE])),
    latest=st.none() | st.sampled_from(["", "../..", "/", "nope", "ck\n\n", "\udcff"]),
)
def test_directory_shapes(good, work, remove, as_dir, latest):
    """Missing files, directories where files belong, `latest` pointing anywhere."""
    ck = work(good)
    for name in remove:
        (ck / name).unlink()
    for name in as_dir - remove:
        (ck / name).unlink()
        (ck / name).mkdir()
    target = ck
    if latest is not None:
        run = ck.parent / f"{ck.name}_run"
        (run / "checkpoints").mkdir(parents=True)
        shutil.move(str(ck), run / "checkpoints" / "ck")
        (run / "checkpoints" / "latest").write_text(latest, errors="surrogateescape")
        target = run
    verdict("checkpoint/directory", lambda: load_both(target), ERRORS)


def test_cli_reports_a_damaged_checkpoint_in_one_line(good, work, capsys):
    """`m3po eval` on damaged checkpoints: exit 2 and one line naming it, no traceback."""
    from m3po_learning.cli import main

    damaged = []
    ck = work(good)
    (ck / META_FILE).write_text('{"format_version": 1, "files": []}')
    damaged.append(ck)
    ck = work(good)
    header, body = safetensors_parts((ck / MODEL_FILE).read_bytes())
    (ck / MODEL_FILE).write_bytes(safetensors_bytes(header, body, claimed=2**62))
    resign(ck, MODEL_FILE)
    damaged.append(ck)
    for ck in damaged:
        rc = main(["eval", "--checkpoint", str(ck), "--episodes", "1"])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert "Traceback" not in err and str(ck) in err, err
