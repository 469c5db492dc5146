"""Overrides of frozen config dataclasses: typed values, dotted KEY=VALUE strings, merging."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any, get_type_hints

from m3po_learning.yaml_io import load_yaml_text, short_repr


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


def coerce_value(value: Any, typ: Any, where: str) -> Any:
    """Convert a YAML/CLI value to the field type `typ`, or raise ConfigError naming `where`.

    Lists and tuples of scalars become tuples of strings for `tuple[str, ...]` fields; a
    string there is split on commas.
    """
    origin = getattr(typ, "__origin__", None)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValueError(value)
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if typ is str:
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
        if origin is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple):
                raise ValueError(value)
            if not all(isinstance(v, str | int | float) for v in value):
                raise ValueError(value)  # a nested list or mapping is no name
            return tuple(str(v) for v in value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf), 1e999
        raise ConfigError(
            f"{where}: cannot use {short_repr(value)} as {getattr(typ, '__name__', typ)}"
        ) from exc
    raise ConfigError(f"{where}: unsupported type {typ}")


def apply_updates(
    obj: Any,
    updates: Mapping,
    prefix: str = "",
    presets: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> Any:
    """A copy of the frozen dataclass `obj` with the nested `updates` applied and validated.

    Args:
        obj: a frozen dataclass whose dataclass-valued fields are sections.
        updates: {field: value}, a mapping for a section.
        prefix: dotted path of `obj` ("" for the root), used in messages.
        presets: {section path: {preset name: field values}}; a section's `preset` key fills
            those fields before the explicit keys override them (`model.preset=5M`).

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or a failed validation.
    """
    presets = presets or {}
    hints = get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    if prefix in presets and "preset" in updates:
        preset = updates["preset"]
        if not isinstance(preset, str) or preset not in presets[prefix]:
            raise ConfigError(
                f"{prefix}.preset={short_repr(preset)} not in {list(presets[prefix])}"
            )
        changes.update({"preset": preset, **presets[prefix][preset]})
    for key, value in updates.items():
        where = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(f"unknown config key {where!r}; known: {sorted(names)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where} must be a mapping, got {short_repr(value)}")
            changes[key] = apply_updates(current, value, where, presets)
        else:
            changes[key] = coerce_value(value, hints[key], where)
    try:
        return replace(obj, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix or 'config'}: {exc}") from exc


def parse_overrides(items: list[str]) -> dict:
    """['planner.num_samples=256', 'train.tasks=[a,b]'] -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. planner.num_samples=256)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r} has an empty key part")
        value = ""
        if raw.strip():
            value = load_yaml_text(raw, f"override {item!r}: value", ConfigError)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override")
        node[parts[-1]] = value
    return out


def merge(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in, section by section (a copy; `extra` wins)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dataclass_schema(cls: type) -> dict:
    """{field: nested schema or None} of a dataclass tree, for `yaml_io.read_mapping`."""
    hints = get_type_hints(cls)
    return {
        f.name: dataclass_schema(hints[f.name]) if is_dataclass(hints[f.name]) else None
        for f in fields(cls)
    }
