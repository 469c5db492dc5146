"""Checkpoint directories: config, pickle-free weights, metadata with hashes; atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from m3po_learning.config import Config, ConfigError, config_from_dict
from m3po_learning.config_upgrade import upgrade_stored_config
from m3po_learning.types import EnvSpec
from m3po_learning.yaml_io import read_mapping

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIM_FILE = "optim.safetensors"
CONFIG_FILE = "config.yaml"
META_FILE = "metadata.json"
LATEST_FILE = "latest"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, tampered with or incompatible (the message says)."""


@dataclass
class Checkpoint:
    """A verified checkpoint read from disk: config, env specs, metadata and tensors.

    `optim_state` is None when the optimiser state was not asked for or not saved.
    """

    path: Path
    config: Config
    specs: list[EnvSpec]
    metadata: dict
    model_state: dict[str, torch.Tensor]
    optim_state: dict | None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flatten_optim(state: dict, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON-able structure."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton: dict = {"param_groups": state["param_groups"], "state": {}}
    for pid, pstate in state["state"].items():
        entry = {}
        for k, v in pstate.items():
            if torch.is_tensor(v):
                key = f"{prefix}.{pid}.{k}"
                tensors[key] = v.detach().cpu().contiguous()
                entry[k] = {"tensor": key}
            else:
                entry[k] = v
        skeleton["state"][str(pid)] = entry
    return tensors, skeleton


def _unflatten_optim(tensors: dict[str, torch.Tensor], skeleton: dict) -> dict:
    state = {}
    for pid, entry in skeleton["state"].items():
        state[int(pid)] = {
            k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v
            for k, v in entry.items()
        }
    return {"state": state, "param_groups": skeleton["param_groups"]}


def save_checkpoint(
    path: str | Path,
    agent,
    step: int = 0,
    trainer_state: dict | None = None,
    include_optimizer: bool = True,
) -> Path:
    """Write `agent` to the directory `path` atomically (temp dir + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir()
    try:
        model_state = {
            k: v.detach().cpu().contiguous() for k, v in agent.model.state_dict().items()
        }
        save_file(model_state, str(tmp / MODEL_FILE))
        files = [MODEL_FILE, CONFIG_FILE]
        optim_meta = None
        if include_optimizer:
            tensors, skeletons = {}, {}
            for name, st in agent.optimizer_state().items():
                t, sk = _flatten_optim(st, name)
                tensors.update(t)
                skeletons[name] = sk
            save_file(tensors, str(tmp / OPTIM_FILE))
            files.append(OPTIM_FILE)
            optim_meta = skeletons
        (tmp / CONFIG_FILE).write_text(yaml.safe_dump(agent.cfg.to_dict(), sort_keys=False))
        meta = {
            "format_version": FORMAT_VERSION,
            "step": int(step),
            "tasks": list(agent.tasks),
            "specs": [s.to_dict() for s in agent.specs],
            "obs_dim": agent.obs_dim,
            "action_dim": agent.action_dim,
            "versions": {
                "torch": torch.__version__,
                "python": platform.python_version(),
                "m3po": _package_version(),
            },
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "trainer_state": trainer_state or {},
            "optimizer": optim_meta,
            "files": {
                f: {"sha256": _sha256(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files
            },
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("m3po_ros")
    except Exception:  # noqa: BLE001 - running from a source tree without install metadata
        return "source"


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """Accept a checkpoint dir, a run dir (uses checkpoints/latest) or a checkpoints dir."""
    p = Path(path)
    if (p / META_FILE).is_file():
        return p
    for base in (p / "checkpoints", p):
        latest = base / LATEST_FILE
        if latest.is_file():
            target = base / latest.read_text().strip()
            if (target / META_FILE).is_file():
                return target
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} is not a checkpoint directory (no {META_FILE}, no {LATEST_FILE})")


def read_checkpoint(path: str | Path, load_optimizer: bool = False) -> Checkpoint:
    """Read and verify a checkpoint; missing, truncated or altered files raise CheckpointError."""
    p = resolve_checkpoint_dir(path)
    try:
        meta = json.loads((p / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"checkpoint {p}: {META_FILE} is unreadable or not JSON: {exc}"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {p}: format_version "
            f"{meta.get('format_version') if isinstance(meta, dict) else '?'}"
            f" is not the supported {FORMAT_VERSION}"
        )
    for name, info in meta.get("files", {}).items():
        f = p / name
        if not f.is_file():
            raise CheckpointError(f"checkpoint {p}: file {name} is missing")
        size = f.stat().st_size
        if size != info["bytes"]:
            raise CheckpointError(
                f"checkpoint {p}: {name} is {size} bytes, metadata says {info['bytes']} "
                "(truncated or replaced)"
            )
        if _sha256(f) != info["sha256"]:
            raise CheckpointError(
                f"checkpoint {p}: {name} fails its sha256 check (tampered or corrupt)"
            )
    if MODEL_FILE not in meta.get("files", {}):
        raise CheckpointError(f"checkpoint {p}: metadata lists no {MODEL_FILE}")
    try:
        stored = read_mapping(p / CONFIG_FILE, what="stored config", error=ConfigError)
        cfg = config_from_dict(upgrade_stored_config(stored))
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {p}: {CONFIG_FILE} is invalid: {exc}") from exc
    try:
        specs = [EnvSpec.from_dict(d) for d in meta["specs"]]
        model_state = load_file(str(p / MODEL_FILE))
    except (KeyError, ValueError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {p}: cannot load weights/specs: {exc}") from exc
    optim_state = None
    if load_optimizer and OPTIM_FILE in meta.get("files", {}):
        try:
            tensors = load_file(str(p / OPTIM_FILE))
            optim_state = {k: _unflatten_optim(tensors, sk) for k, sk in meta["optimizer"].items()}
        except (KeyError, SafetensorError, OSError) as exc:
            raise CheckpointError(f"checkpoint {p}: optimizer state unreadable: {exc}") from exc
    return Checkpoint(p, cfg, specs, meta, model_state, optim_state)


def load_agent(
    path: str | Path,
    device: str = "auto",
    overrides: list[str] | None = None,
    load_optimizer: bool = False,
):
    """Build an M3POAgent from a checkpoint. `overrides` change runtime settings (e.g. planner)."""
    from m3po_learning.agent import M3POAgent
    from m3po_learning.config import merge, parse_overrides

    ck = read_checkpoint(path, load_optimizer=load_optimizer)
    cfg = ck.config
    if cfg.train.robots:
        # Imported here, not at the top: the env suite (MuJoCo) loads only when it is needed.
        from m3po_learning.envs.registry import register_robots

        register_robots(cfg.train.robots)
    if overrides:
        cfg = config_from_dict(merge(cfg.to_dict(), parse_overrides(overrides)))
        if cfg.model != ck.config.model:
            raise CheckpointError(
                "model settings come from the checkpoint and cannot be overridden"
            )
    agent = M3POAgent(cfg, ck.specs, device=device)
    try:
        agent.model.load_state_dict(ck.model_state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {ck.path}: weights do not match its config: {exc}"
        ) from exc
    if ck.optim_state is not None:
        agent.load_optimizer_state(ck.optim_state)
    agent.mark_weights_changed()
    agent.checkpoint_path = ck.path
    agent.checkpoint_meta = ck.metadata
    return agent


def write_latest(checkpoints_dir: Path, name: str) -> None:
    """Point `checkpoints_dir`/latest at the checkpoint `name` (atomic rename)."""
    tmp = checkpoints_dir / f".{LATEST_FILE}.tmp-{os.getpid()}"
    tmp.write_text(name + "\n")
    os.replace(tmp, checkpoints_dir / LATEST_FILE)


def save_run_checkpoint(
    run_dir: str | Path,
    agent,
    step: int,
    trainer_state: dict | None = None,
    prefix: str = "step",
    unique: bool = False,
    keep: int = 0,
) -> Path:
    """Save `agent` into the run directory `run_dir` and point its `latest` at it.

    The checkpoint goes to `run_dir`/checkpoints/<prefix>_<step, 9 digits>, written
    atomically (see `save_checkpoint`); then `checkpoints/latest` names it, so every command
    and node that takes a run directory loads it.

    Args:
        run_dir: the run directory (created if missing).
        agent: the M3POAgent to save.
        step: the step recorded in the metadata and the name.
        trainer_state: JSON-able state stored with it (`metadata.json` trainer_state).
        prefix: name prefix: "step" (online training), "finetune", "bag" (learner node).
        unique: never replace a checkpoint: add "_1", "_2", ... to a name already taken.
            Otherwise a checkpoint of the same name is replaced (atomically).
        keep: when > 0, delete all but the newest `keep` checkpoints with this prefix.

    Returns:
        The checkpoint directory.
    """
    ckpt_dir = Path(run_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = base = f"{prefix}_{int(step):09d}"
    k = 1
    while unique and (ckpt_dir / name).exists():
        name, k = f"{base}_{k}", k + 1
    path = save_checkpoint(ckpt_dir / name, agent, step, trainer_state)
    write_latest(ckpt_dir, name)
    if keep > 0:
        ckpts = sorted(p for p in ckpt_dir.glob(f"{prefix}_*") if p.is_dir())
        for old in ckpts[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return path
