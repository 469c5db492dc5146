"""The one YAML reader for config files: a mapping, with unknown keys refused by file and key."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

# A key schema: the allowed keys of a mapping. A Mapping schema also checks the value of each
# key whose schema is not None (a nested mapping); a plain collection checks one level only.
Schema = Mapping[str, "Schema | None"] | Collection[str]


def unknown_keys(data: Mapping, known: Schema, prefix: str = "") -> list[str]:
    """Dotted names of the keys of `data` that `known` does not allow, sorted.

    Args:
        data: the mapping read from YAML.
        known: allowed keys; where it is a mapping, a key whose value is itself a schema
            is checked one level down when `data` holds a mapping there.
        prefix: dotted path of `data` inside the file (for nested names).
    """
    bad: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            bad.append(name)
        elif isinstance(known, Mapping) and known[key] is not None and isinstance(value, Mapping):
            bad += unknown_keys(value, known[key], f"{name}.")
    return sorted(bad)


def read_mapping(
    path: str | Path,
    known: Schema | None = None,
    what: str = "file",
    error: type[Exception] = ValueError,
) -> dict:
    """Read the YAML file `path`, which must hold a mapping (an empty file reads as {}).

    Args:
        path: the YAML file.
        known: the allowed keys (see `unknown_keys`); None allows any key.
        what: what the file is, for messages ("config file", "task set", "stack").
        error: the exception type raised, so each caller keeps its own error class.

    Returns:
        The mapping, as a dict.

    Raises:
        error: the file is unreadable, not valid YAML, not a mapping, or has unknown keys;
            the message names the file (and the keys).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping, got {type(data).__name__}")
    if known is not None:
        bad = unknown_keys(data, known)
        if bad:
            section, level = _level(known, bad[0])
            where = f" in {section}" if section else ""
            raise error(f"{what} {path}: unknown keys {bad}; known{where}: {sorted(level)}")
    return data


def _level(known: Schema, dotted: str) -> tuple[str, Schema]:
    """The section holding the key `dotted` ("train.stepz" -> "train") and its schema."""
    parts = dotted.split(".")[:-1]
    for part in parts:
        known = known[part]  # type: ignore[index]  # unknown_keys only descends mappings
    return ".".join(parts), known
