"""Overrides of frozen dataclasses: typed coercion, presets, dotted strings, merge, schema."""

from dataclasses import dataclass, field

import pytest

from m3po_learning.overrides import (
    ConfigError,
    apply_updates,
    coerce_value,
    dataclass_schema,
    merge,
    parse_overrides,
)


@dataclass(frozen=True)
class Inner:
    preset: str = "small"
    width: int = 1
    rate: float = 0.5

    def __post_init__(self) -> None:
        if self.width <= 0:
            raise ConfigError(f"inner.width={self.width} must be > 0")


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    names: tuple[str, ...] = ()
    on: bool = False


PRESETS = {"inner": {"small": {"width": 1}, "big": {"width": 8, "rate": 0.1}}}


def test_coercion_by_field_type():
    assert coerce_value("3", int, "k") == 3 and coerce_value(2.0, int, "k") == 2
    assert coerce_value("false", bool, "k") is False and coerce_value(1, float, "k") == 1.0
    assert coerce_value("a, b,", tuple[str, ...], "k") == ("a", "b")
    assert coerce_value(["x:y", 1], tuple[str, ...], "k") == ("x:y", "1")
    for value, typ in (
        (2.5, int),
        ("maybe", bool),
        (True, float),
        ([1], str),
        (3, tuple[str, ...]),
    ):
        with pytest.raises(ConfigError, match="k: cannot use"):
            coerce_value(value, typ, "k")


def test_nested_updates_presets_and_named_errors():
    out = apply_updates(
        Outer(), {"inner": {"preset": "big", "rate": 0.3}, "on": "true"}, "", PRESETS
    )
    assert out == Outer(Inner("big", 8, 0.3), (), True)
    with pytest.raises(ConfigError, match=r"inner\.preset='huge' not in \['small', 'big'\]"):
        apply_updates(Outer(), {"inner": {"preset": "huge"}}, "", PRESETS)
    with pytest.raises(ConfigError, match=r"unknown config key 'inner\.depth'"):
        apply_updates(Outer(), {"inner": {"depth": 2}})
    with pytest.raises(ConfigError, match="inner must be a mapping"):
        apply_updates(Outer(), {"inner": 3})
    with pytest.raises(ConfigError, match="inner.width=0 must be > 0"):
        apply_updates(Outer(), {"inner": {"width": 0}})


def test_dotted_overrides_merge_and_schema():
    parsed = parse_overrides(["inner.width=4", "names=[a, b]", "inner.rate=0.25"])
    assert parsed == {"inner": {"width": 4, "rate": 0.25}, "names": ["a", "b"]}
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_overrides(["width"])
    with pytest.raises(ConfigError, match="empty key part"):
        parse_overrides(["inner..width=1"])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_overrides(["inner=1", "inner.width=2"])
    base = {"inner": {"width": 1, "rate": 0.5}, "on": False}
    assert merge(base, {"inner": {"width": 2}}) == {
        "inner": {"width": 2, "rate": 0.5},
        "on": False,
    }
    assert base["inner"]["width"] == 1  # a copy
    assert dataclass_schema(Outer) == {
        "inner": {"preset": None, "width": None, "rate": None},
        "names": None,
        "on": None,
    }
