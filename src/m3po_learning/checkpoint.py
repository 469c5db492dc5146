"""Checkpoint directories: config, pickle-free weights, metadata with hashes; atomic writes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
ROBOTS_DIR = "robots"  # copies of the URDFs (and relative meshes) of train.robots

log = logging.getLogger(__name__)


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
    recover_interrupted_writes(path.parent)
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
        robots = _copy_robots(agent.cfg.train.robots, tmp)
        files += [f for r in robots for f in r.pop("files")]
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
            "robots": robots,
            "files": {
                f: {"sha256": _sha256(tmp / f), "bytes": (tmp / f).stat().st_size} for f in files
            },
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        for d in sorted({f.parent for f in tmp.rglob("*")} | {tmp}, reverse=True):
            _fsync_dir(d)
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)  # the checkpoint that was there stays there
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (OSError, SafetensorError)):  # disk full, read-only, quota...
            raise CheckpointError(
                f"cannot write checkpoint {path}: {describe_write_error(exc)} (nothing was "
                "replaced: checkpoints saved before it are as they were)"
            ) from exc
        raise
    return path


def robot_files(urdf: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """What a checkpoint copies for one URDF: (source file, path relative to the URDF's dir).

    The URDF itself and every `<mesh filename>` given relative to it. The second list holds
    the meshes it cannot copy (package:// or absolute paths, or paths leaving the URDF's
    directory): a checkpoint moved to another machine needs those at the same place.
    """
    out, elsewhere = [(urdf, urdf.name)], []
    try:
        root = ET.parse(urdf).getroot()
    except (ET.ParseError, OSError):
        return out, elsewhere
    seen = {urdf.name}
    for mesh in root.iter("mesh"):
        name = mesh.get("filename") or ""
        rel = PurePosixPath(name)
        if not name or str(rel) in seen:
            continue
        seen.add(str(rel))
        if "://" in name or rel.is_absolute() or ".." in rel.parts:
            elsewhere.append(name)
        elif (urdf.parent / rel).is_file():
            out.append((urdf.parent / rel, str(rel)))
    return out, elsewhere


def _copy_robots(entries, tmp: Path) -> list[dict]:
    """Copy the URDF of every `train.robots` entry into `tmp`/robots/<i>/; their metadata."""
    if not entries:
        return []
    from m3po_learning.envs.registry import parse_robot_entry  # the env suite, only if needed

    robots = []
    for i, text in enumerate(entries):
        urdf = Path(parse_robot_entry(text).urdf)
        if not urdf.is_file():
            raise CheckpointError(
                f"cannot write checkpoint: robot entry {text!r}: URDF {str(urdf)!r} is missing "
                "(a checkpoint carries a copy of each robot's URDF)"
            )
        copies, elsewhere = robot_files(urdf)
        if elsewhere:
            log.warning(
                "%s: meshes %s are not copied into the checkpoint (package://, absolute or "
                "outside the URDF's directory): they must exist where the checkpoint is used",
                urdf,
                elsewhere[:3],
            )
        names = []
        for src, rel in copies:
            name = f"{ROBOTS_DIR}/{i}/{rel}"
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / name)
            names.append(name)
        robots.append({"entry": text, "urdf": names[0], "source": str(urdf), "files": names})
    return robots


def _checkpoint_robots(ck: Checkpoint) -> list[str]:
    """`train.robots` of `ck`, each pointed at the checkpoint's own copy of its URDF.

    Checkpoints written before robots were copied keep the entries as stored.
    """
    stored = ck.metadata.get("robots")
    entries = list(ck.config.train.robots)
    if stored is None:
        return entries
    from m3po_learning.envs.registry import parse_robot_entry

    files = ck.metadata.get("files", {})
    if not isinstance(stored, list) or len(stored) != len(entries):
        raise CheckpointError(
            f"checkpoint {ck.path}: {META_FILE} 'robots' does not match train.robots "
            f"({len(entries)} entries)"
        )
    out = []
    for text, info in zip(entries, stored, strict=True):
        if (
            not isinstance(info, dict)
            or info.get("entry") != text
            or info.get("urdf") not in files
        ):
            raise CheckpointError(
                f"checkpoint {ck.path}: {META_FILE} 'robots' entry {info!r:.120} does not name "
                f"a copied URDF of {text!r}"
            )
        out.append(str(parse_robot_entry(text).with_urdf(ck.path / info["urdf"])))
    return out


def register_checkpoint_robots(ck: Checkpoint) -> list[str]:
    """Register the user robots of `ck` (`train.robots`) from its own URDF copies.

    Afterwards `ck.config.train.robots` names those copies, so an agent saved again carries
    them on. Returns the registered task names (none for a checkpoint without robots).
    """
    if not ck.config.train.robots:
        return []
    # Imported here, not at the top: the env suite (MuJoCo) loads only when it is needed.
    from m3po_learning.config import merge
    from m3po_learning.envs.registry import register_robots

    robots = _checkpoint_robots(ck)  # the checkpoint's own URDF copies: it can move
    try:
        names = register_robots(robots)
    except (ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"checkpoint {ck.path}: its robots: {exc}") from exc
    ck.config = config_from_dict(merge(ck.config.to_dict(), {"train": {"robots": robots}}))
    return names


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover_interrupted_writes(folder: Path) -> list[str]:
    """Clean up after writers of `folder` that were killed (SIGKILL, power loss) mid-write.

    `save_checkpoint` writes `.NAME.tmp-PID-NS`, and when replacing moves the old checkpoint
    to `.NAME.old-PID-NS` for the instant between two renames. For a PID no longer running:
    a temporary directory is deleted; an old checkpoint whose NAME is missing is put back
    (the write never finished), else deleted; temporary files (`.latest.tmp-PID`,
    `.replay.tmp-PID.npz`) are deleted.

    Returns:
        What was done, one line per entry.
    """
    done = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return done
    for e in entries:
        name = e.name
        if not name.startswith(".") or (".tmp-" not in name and ".old-" not in name):
            continue
        kind = ".tmp-" if ".tmp-" in name else ".old-"
        base, _, tail = name[1:].rpartition(kind)
        pid_text = tail[: len(tail) - len(tail.lstrip("0123456789"))]  # leading digits
        if not base or not pid_text or _pid_alive(int(pid_text)):
            continue
        if kind == ".old-" and e.is_dir() and not (folder / base).exists():
            os.rename(e, folder / base)
            done.append(f"restored {base} (its replacement was interrupted)")
        elif e.is_dir():
            shutil.rmtree(e, ignore_errors=True)
            done.append(f"removed {name}")
        else:
            e.unlink(missing_ok=True)
            done.append(f"removed {name}")
    return done


def describe_write_error(exc: BaseException) -> str:
    """The OS's words for a failed write ("No space left on device"), else the message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return f"{type(exc).__name__}: {exc}"


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("m3po_ros")
    except Exception:  # noqa: BLE001 - running from a source tree without install metadata
        return "source"


def _plain_name(name: object) -> bool:
    """A file or directory name that stays inside its directory: no separators, no '..'."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """Accept a checkpoint dir, a run dir (uses checkpoints/latest) or a checkpoints dir.

    `latest` must name a checkpoint directory beside it (a plain name): a `latest` file that
    points elsewhere ("../..", an absolute path) is refused, so a run directory under the
    controller's checkpoint roots cannot redirect it outside them.
    """
    p = Path(path)
    if (p / META_FILE).is_file():
        return p
    for base in (p / "checkpoints", p):
        latest = base / LATEST_FILE
        if latest.is_file():
            try:
                name = latest.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise CheckpointError(f"{latest} is unreadable: {exc}") from exc
            if not _plain_name(name):
                raise CheckpointError(
                    f"{latest} names {name!r}, not a checkpoint directory beside it"
                )
            target = base / name
            if (target / META_FILE).is_file():
                return target
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} is not a checkpoint directory (no {META_FILE}, no {LATEST_FILE})")


def _inside_name(name: object) -> bool:
    """A relative path of plain names ("robots/0/arm.urdf"): it stays inside its directory."""
    return isinstance(name, str) and all(_plain_name(part) for part in name.split("/"))


def _check_files(p: Path, files: object) -> dict:
    """metadata.json's `files` table, checked entry by entry against the files on disk."""
    if not isinstance(files, dict):
        raise CheckpointError(f"checkpoint {p}: {META_FILE} 'files' is not a table of files")
    for name, info in files.items():
        if not _inside_name(name):
            raise CheckpointError(
                f"checkpoint {p}: {META_FILE} lists {name!r}, not a file name inside it"
            )
        if (
            not isinstance(info, dict)
            or not isinstance(info.get("sha256"), str)
            or not isinstance(info.get("bytes"), int)
            or isinstance(info.get("bytes"), bool)
        ):
            raise CheckpointError(
                f"checkpoint {p}: {META_FILE} entry for {name} needs sha256 (text) and bytes "
                f"(an integer), got {info!r:.80}"
            )
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
    if MODEL_FILE not in files:
        raise CheckpointError(f"checkpoint {p}: metadata lists no {MODEL_FILE}")
    return files


# Bounds on what a checkpoint's specs may ask the agent to build: anything beyond them is a
# damaged or hostile metadata.json, refused before a network of that size is allocated.
MAX_OBS_DIM, MAX_ACTION_DIM, MAX_EPISODE_LENGTH = 100_000, 10_000, 10**8


def _read_specs(p: Path, specs: object) -> list[EnvSpec]:
    if not isinstance(specs, list) or not specs:
        raise CheckpointError(f"checkpoint {p}: {META_FILE} 'specs' is not a non-empty list")
    out = []
    for d in specs:
        try:
            spec = EnvSpec.from_dict(d)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise CheckpointError(
                f"checkpoint {p}: {META_FILE} has an unreadable task spec {d!r:.80}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not (
            isinstance(spec.task, str)
            and spec.task
            and 1 <= spec.obs_dim <= MAX_OBS_DIM
            and 1 <= spec.action_dim <= MAX_ACTION_DIM
            and 1 <= spec.episode_length <= MAX_EPISODE_LENGTH
            and all(isinstance(j, str) for j in spec.joint_names)
        ):
            raise CheckpointError(
                f"checkpoint {p}: {META_FILE} task spec {d!r:.120} is out of range (task a "
                f"name, obs_dim 1..{MAX_OBS_DIM}, action_dim 1..{MAX_ACTION_DIM}, "
                f"episode_length 1..{MAX_EPISODE_LENGTH}, joint names text)"
            )
        out.append(spec)
    return out


def read_checkpoint(path: str | Path, load_optimizer: bool = False) -> Checkpoint:
    """Read and verify a checkpoint; missing, truncated or altered files raise CheckpointError.

    Every way a directory can be damaged or hostile ends in CheckpointError (the fuzz tests
    in test/m3po_learning/test_fuzz_checkpoint.py hold it to that): weights are read only
    through safetensors (never unpickled), YAML only with the safe loader.
    """
    p = resolve_checkpoint_dir(path)
    try:
        meta = json.loads((p / META_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(
            f"checkpoint {p}: {META_FILE} is unreadable or not JSON: {exc}"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {p}: format_version "
            f"{meta.get('format_version') if isinstance(meta, dict) else '?'}"
            f" is not the supported {FORMAT_VERSION}"
        )
    files = _check_files(p, meta.get("files"))
    try:
        stored = read_mapping(p / CONFIG_FILE, what="stored config", error=ConfigError)
        cfg = config_from_dict(upgrade_stored_config(stored))
    except (ConfigError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {p}: {CONFIG_FILE} is invalid: {exc}") from exc
    specs = _read_specs(p, meta.get("specs"))
    try:
        model_state = load_file(str(p / MODEL_FILE))
    except (ValueError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {p}: cannot load weights {MODEL_FILE}: {exc}") from exc
    optim_state = None
    if load_optimizer and OPTIM_FILE in files:
        try:
            tensors = load_file(str(p / OPTIM_FILE))
            optim_state = {k: _unflatten_optim(tensors, sk) for k, sk in meta["optimizer"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, SafetensorError, OSError) as exc:
            raise CheckpointError(
                f"checkpoint {p}: optimizer state unreadable: {type(exc).__name__}: {exc}"
            ) from exc
    return Checkpoint(p, cfg, specs, meta, model_state, optim_state)


def _check_weights_fit(ck: Checkpoint, cfg: Config) -> None:
    """Refuse weights whose names or shapes differ from the model `cfg` and the specs build.

    The model is laid out on torch's meta device (shapes only, no memory), so a config or
    spec sized by a damaged file is refused before a network of that size is allocated.
    """
    from m3po_learning.world_model import WorldModel

    try:
        with torch.device("meta"):
            shapes = {
                k: tuple(v.shape) for k, v in WorldModel(cfg.model, ck.specs).state_dict().items()
            }
    except (RuntimeError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise CheckpointError(
            f"checkpoint {ck.path}: its config and specs do not make a model: {exc}"
        ) from exc
    stored = {k: tuple(v.shape) for k, v in ck.model_state.items()}
    if stored != shapes:
        missing = sorted(set(shapes) - set(stored))[:3]
        extra = sorted(set(stored) - set(shapes))[:3]
        wrong = [k for k in shapes if k in stored and stored[k] != shapes[k]][:3]
        raise CheckpointError(
            f"checkpoint {ck.path}: weights do not match its config: missing {missing}, "
            f"unexpected {extra}, wrong shapes "
            f"{[(k, stored[k], shapes[k]) for k in wrong]}"
        )


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
    register_checkpoint_robots(ck)
    cfg = ck.config
    if overrides:
        cfg = config_from_dict(merge(cfg.to_dict(), parse_overrides(overrides)))
        if cfg.model != ck.config.model:
            raise CheckpointError(
                "model settings come from the checkpoint and cannot be overridden"
            )
    _check_weights_fit(ck, cfg)
    try:
        agent = M3POAgent(cfg, ck.specs, device=device)
        agent.model.load_state_dict(ck.model_state, strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint {ck.path}: weights do not match its config: {exc}"
        ) from exc
    if ck.optim_state is not None:
        try:
            agent.load_optimizer_state(ck.optim_state)
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise CheckpointError(
                f"checkpoint {ck.path}: optimizer state does not fit the model: {exc}"
            ) from exc
    agent.mark_weights_changed()
    agent.checkpoint_path = ck.path
    agent.checkpoint_meta = ck.metadata
    return agent


def write_latest(checkpoints_dir: Path, name: str) -> None:
    """Point `checkpoints_dir`/latest at the checkpoint `name` (atomic rename)."""
    tmp = checkpoints_dir / f".{LATEST_FILE}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, checkpoints_dir / LATEST_FILE)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(
            f"cannot point {checkpoints_dir / LATEST_FILE} at {name}: {describe_write_error(exc)} "
            "(it still names the checkpoint before)"
        ) from exc


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
