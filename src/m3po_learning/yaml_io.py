"""The one YAML reader for config files: a mapping, with unknown keys refused by file and key."""

from __future__ import annotations

import reprlib
from collections.abc import Collection, Mapping
from pathlib import Path

import yaml

# A key schema: the allowed keys of a mapping. A Mapping schema also checks the value of each
# key whose schema is not None (a nested mapping); a plain collection checks one level only.
Schema = Mapping[str, "Schema | None"] | Collection[str]

# Bounded reprs for messages: a value read from a file may be huge, deeply nested or, through
# YAML aliases, exponentially large once expanded ("billion laughs"); its full repr could
# exhaust memory, so messages show only its first few levels and items.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 4, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 40


def short_repr(value: object) -> str:
    """repr(value) cut to a few levels and items, safe for any value read from a file."""
    return _REPR.repr(value)


def load_yaml_text(text: str | bytes, what: str, error: type[Exception] = ValueError):
    """yaml.safe_load(text), with every way a document can fail raised as `error`.

    Besides YAMLError, PyYAML's safe constructors raise ValueError for scalars that look
    like a type but do not fit it (a date 2020-13-45, an int of more than 4300 digits) and
    the composer overflows the stack on documents nested a few hundred levels deep.

    Args:
        text: the YAML document.
        what: what it is, for the message (e.g. "config file conf.yaml").
        error: the exception type raised.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} is not valid YAML: {exc}") from exc
    except (ValueError, OverflowError) as exc:
        raise error(f"{what} holds a value YAML cannot construct: {exc}") from exc
    except RecursionError as exc:
        raise error(f"{what} is nested too deeply to read") from exc


def _unknown_paths(data: Mapping, known: Schema, path: tuple = ()) -> list[tuple]:
    """Key paths (tuples of keys) in `data` that `known` does not allow, in `data`'s order."""
    bad: list[tuple] = []
    for key, value in data.items():
        if key not in known:
            bad.append((*path, key))
        elif isinstance(known, Mapping) and known[key] is not None and isinstance(value, Mapping):
            bad += _unknown_paths(value, known[key], (*path, key))
    return bad


def _dotted(path: tuple) -> str:
    return ".".join(str(k) for k in path)


def unknown_keys(data: Mapping, known: Schema, prefix: str = "") -> list[str]:
    """Dotted names of the keys of `data` that `known` does not allow, sorted.

    Args:
        data: the mapping read from YAML.
        known: allowed keys; where it is a mapping, a key whose value is itself a schema
            is checked one level down when `data` holds a mapping there.
        prefix: dotted path of `data` inside the file (for nested names).
    """
    return sorted(f"{prefix}{_dotted(p)}" for p in _unknown_paths(data, known))


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
        error: the file is unreadable, not UTF-8, not valid YAML (or holds a value YAML
            cannot construct, or is nested too deeply), not a mapping, or has unknown keys;
            the message names the file (and the keys).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text: {exc}") from exc
    data = load_yaml_text(text, f"{what} {path}", error)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping, got {type(data).__name__}")
    if known is not None:
        paths = _unknown_paths(data, known)
        if paths:
            bad = sorted(_dotted(p) for p in paths)
            first = min(paths, key=_dotted)
            section, level = _level(known, first)
            where = f" in {section}" if section else ""
            raise error(f"{what} {path}: unknown keys {bad}; known{where}: {sorted(level)}")
    return data


def _level(known: Schema, path: tuple) -> tuple[str, Schema]:
    """The section holding the key at `path` (("train", "stepz") -> "train") and its schema.

    Walks the key path itself, not its dotted name, so keys that contain dots are safe.
    """
    for part in path[:-1]:
        known = known[part]  # type: ignore[index]  # _unknown_paths only descends mappings
    return _dotted(path[:-1]), known
