"""Fuzzing the YAML readers: topic maps, config files and dotted overrides.

A topic map, a config file and the `--set KEY=VALUE` overrides come from outside (a user's
file, a CLI, a learner's launch file), so `load_topic_map`, `load_config` and
`parse_overrides` must turn any text into either a valid result or their documented error
(BagError for topic maps, ConfigError for configs and overrides) whose message says what
is wrong: never another exception, never a hang, never memory blown up by YAML aliases,
never code run from a YAML tag. Generated documents go through hypothesis; the hostile
ones (code-running tags, billion laughs, deep nesting, scalars PyYAML cannot construct)
are listed, and every run tries each of them.
"""

from __future__ import annotations

import resource
from itertools import count
from pathlib import Path

import pytest
import yaml
from fuzzlib import fuzz_settings, verdict
from hypothesis import given
from hypothesis import strategies as st

from m3po_learning.config import Config, load_config
from m3po_learning.datasets import BagError, TopicMap, load_topic_map
from m3po_learning.overrides import ConfigError, dataclass_schema, parse_overrides

SCHEMA = dataclass_schema(Config)
SECTIONS = sorted(SCHEMA)
CONFIG_KEYS = sorted(f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys)
TOPIC_KEYS = ["namespace", "joint_states", "commands", "inputs", "split_on"]
MAX_RSS_GROWTH_KIB = 512 * 1024  # no input may cost the reader half a GiB

_names = count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Where each example writes its files (unique names; hypothesis reuses fixtures)."""
    return tmp_path_factory.mktemp("fuzz_yaml")


def _fresh(folder: Path, suffix: str = ".yaml") -> Path:
    return folder / f"f{next(_names)}{suffix}"


# -- generated YAML ----------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "/", "//", "a.b", "0", "-1", "1e999", "nan", "true", "[a, b]", "a,b"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _dump(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, default_flow_style=None)


def _topic_docs():
    """Topic-map documents: known keys with values of any type, plus unknown keys."""
    keys = st.one_of(st.sampled_from(TOPIC_KEYS), st.text(max_size=10))
    return st.dictionaries(keys, values, max_size=6).map(_dump)


def _config_docs():
    """Config documents: sections holding known and unknown keys with values of any type."""
    section_body = st.one_of(
        st.dictionaries(
            st.one_of(st.sampled_from(sorted({k.split(".")[1] for k in CONFIG_KEYS})), st.text()),
            values,
            max_size=5,
        ),
        values,
    )
    keys = st.one_of(st.sampled_from([*SECTIONS, "inherit"]), st.text(max_size=10))
    return st.dictionaries(keys, section_body, max_size=4).map(_dump)


# Hostile documents every reader sees: code-running tags, aliases, depth, odd scalars.
MARKER = "{marker}"
TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    "!!python/object/apply:subprocess.check_call [[touch, {marker}]]",
    '!!python/object/new:os.system ["touch {marker}"]',
    "!!python/name:os.system",
    "!!python/object:pathlib.Path {}",
    "!!python/tuple [1, 2]",
    "!!binary 'not base64!'",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!timestamp 2020-13-45",
    "!<tag:yaml.org,2002:int> abc",
    "!custom 1",
]


def _laughs(levels: int = 9, width: int = 10) -> str:
    """The billion laughs as one flow sequence: over `width`**`levels` strings expanded."""
    items = [f"&l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        items.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return f"[{', '.join(items)}]"


def _hostile(key: str) -> list[str]:
    """Documents that put hostile values under `key` (a known key of the reader)."""
    docs = [f"{key}: {tag}\n" for tag in TAGS]
    docs += [f"{tag}\n" for tag in TAGS[:4]]
    laughs = _laughs()
    docs += [
        f"{key}: {laughs}\n",
        f"{key}: {{a: {laughs}}}\n",
        f"{key}: &a [*a]\n",
        f"{key}: &a {{x: *a}}\n",
        f"{key}: " + "[" * 2000 + "]" * 2000 + "\n",
        f"{key}: " + "{a: " * 400 + "1" + "}" * 400 + "\n",
        f"{key}: 2020-13-45\n",
        f"{key}: 0000-01-01\n",
        f"{key}: 2001-12-14 21:59:43.10 +99:00\n",
        f"{key}: {'9' * 5000}\n",
        f"{key}: 1e999\n",
        f"{key}: .nan\n",
        f"{key}:\n",
        f"{key}: ~\n",
        "a.b.c: 1\n",
        f"{key}.x: 1\n",
        "? [a, b]\n: 1\n",
        "&a [*a]\n",
        "x: *undefined\n",
        "\t" + key + ": 1\n",
        "%YAML 9.9\n---\na: 1\n",
        "--- 1\n--- 2\n",
        "\x00\x01: 2\n",
        "\ufeff" + key + ": 1\n",
    ]
    return docs


raw_text = st.one_of(st.text(max_size=200), st.binary(max_size=200))


def _write(path: Path, doc: str | bytes, marker: Path) -> Path:
    if isinstance(doc, str):
        path.write_text(doc.replace(MARKER, str(marker)), encoding="utf-8")
    else:
        path.write_bytes(doc)
    return path


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- topic maps ---------------------------------------------------------------------------------
def _check_topic_map(tm: TopicMap | None) -> None:
    if tm is None:
        return
    assert isinstance(tm, TopicMap)
    for name in (tm.joint_states, tm.commands):
        assert isinstance(name, str) and name.strip("/")
    assert all(isinstance(k, str) and isinstance(v, str) and v.strip("/") for k, v in tm.inputs)
    assert all(isinstance(s, str) for s in tm.split_on)
    assert isinstance(tm.namespace, str)


remaps = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from(
                [
                    "joint_states",
                    "commands",
                    "namespace",
                    "split_on",
                    "inputs.goal",
                    "inputs.",
                    "x",
                ]
            ),
            st.text(max_size=12),
        ),
    ),
    max_size=4,
)


@fuzz_settings(60)
@given(doc=st.one_of(_topic_docs(), raw_text), remap=remaps)
def test_topic_map_generated_documents(folder, doc, remap):
    marker = _fresh(folder, ".marker")
    path = _write(_fresh(folder), doc, marker)
    tm = verdict("yaml/topic_map", lambda: load_topic_map(path, remap), (BagError,))
    _check_topic_map(tm)


TOPIC_HOSTILE = _hostile("joint_states") + _hostile("inputs") + _hostile("split_on")


@pytest.mark.parametrize("doc", TOPIC_HOSTILE, ids=[f"h{i}" for i in range(len(TOPIC_HOSTILE))])
def test_topic_map_hostile_documents(folder, doc):
    marker = _fresh(folder, ".marker")
    path = _write(_fresh(folder), doc, marker)
    before = _rss_kib()
    tm = verdict("yaml/topic_map", lambda: load_topic_map(path), (BagError,))
    _check_topic_map(tm)
    assert not marker.exists(), f"a YAML tag ran code: {doc!r}"
    assert _rss_kib() - before < MAX_RSS_GROWTH_KIB


# -- config files -------------------------------------------------------------------------------
@fuzz_settings(60)
@given(doc=st.one_of(_config_docs(), raw_text), parent=st.one_of(st.none(), _config_docs()))
def test_config_generated_documents(folder, doc, parent):
    marker = _fresh(folder, ".marker")
    path = _write(_fresh(folder), doc, marker)
    if parent is not None:  # the file `inherit:`s a generated parent
        base = _write(_fresh(folder), parent, marker)
        text = path.read_bytes().decode("utf-8", "replace")
        path.write_text(text + f"\ninherit: {base.name}\n", encoding="utf-8")
    cfg = verdict("yaml/config", lambda: load_config(path), (ConfigError,))
    assert cfg is None or isinstance(cfg, Config)


def _config_hostile() -> list[str]:
    docs = []
    for key in ("model", "train", "inherit"):
        docs += _hostile(key)
    for key in ("model: {preset: %s}", "train: {tasks: %s}", "train: {steps: %s}"):
        docs += [key % v for v in ("[a]", "{a: 1}", "1e999", "-1e999", ".inf", "'1e400'", "''")]
    docs += [
        f"train: {{tasks: {_laughs()}}}\n",
        f"model: {{preset: {_laughs()}}}\n",
        f"model: {{enc_dim: {_laughs()}}}\n",
        "train: {tasks: &a [*a]}\n",
        "model: &a {enc_dim: *a}\n",
        "model: {simnorm_dim: 0}\n",
        "model: {simnorm_dim: -8}\n",
        "train: {steps: 1e400}\n",
        "optim: {lr: '1e999'}\n",
        "inherit: [a, b]\n",
        "inherit: {a: 1}\n",
        "inherit: 5\n",
        f"inherit: {'x' * 300}.yaml\n",
        "inherit: .\n",
        "inherit: /dev/null\n",
        "inherit: ../\n",
        "inherit: 'a\\0b'\n",
    ]
    return docs


CONFIG_HOSTILE = _config_hostile()


@pytest.mark.parametrize("doc", CONFIG_HOSTILE, ids=[f"h{i}" for i in range(len(CONFIG_HOSTILE))])
def test_config_hostile_documents(folder, doc):
    marker = _fresh(folder, ".marker")
    path = _write(_fresh(folder), doc, marker)
    before = _rss_kib()
    cfg = verdict("yaml/config", lambda: load_config(path), (ConfigError,))
    assert cfg is None or isinstance(cfg, Config)
    assert not marker.exists(), f"a YAML tag ran code: {doc!r}"
    assert _rss_kib() - before < MAX_RSS_GROWTH_KIB


def test_config_inherits_itself_through_another_file(folder):
    a, b = _fresh(folder), _fresh(folder)
    a.write_text(f"inherit: {b.name}\n")
    b.write_text(f"inherit: {a.name}\n")
    with pytest.raises(ConfigError, match="inherits itself"):
        load_config(a)


# -- dotted overrides ---------------------------------------------------------------------------
def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.replace("\n...", "").strip()


override_values = st.one_of(
    values.map(_flow),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "1e400",
            "'1e400'",
            "inf",
            "-inf",
            ".nan",
            "9" * 5000,
            "2020-13-45",
            "[" * 1000,
            "[" * 2000 + "]" * 2000,
            "!!python/object/apply:os.system [touch {marker}]",
            "[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a],"
            " &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c,"
            " *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], &f [*e, *e, *e, *e, *e, *e,"
            " *e, *e, *e, *e], &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f], *g]",
        ]
    ),
)
override_keys = st.one_of(
    st.sampled_from([*CONFIG_KEYS, *SECTIONS, "model.preset", "a..b", ".", "", "x.y.z"]),
    st.text(max_size=15),
)
overrides = st.lists(
    st.one_of(st.builds(lambda k, v: f"{k}={v}", override_keys, override_values), st.text()),
    max_size=5,
)


@fuzz_settings(30)
@given(items=overrides)
def test_overrides(folder, items):
    marker = _fresh(folder, ".marker")
    items = [i.replace(MARKER, str(marker)) for i in items]
    before = _rss_kib()
    parsed = verdict("overrides", lambda: parse_overrides(items), (ConfigError,))
    assert parsed is None or isinstance(parsed, dict)
    cfg = verdict("yaml/config", lambda: load_config(None, items), (ConfigError,))
    assert cfg is None or isinstance(cfg, Config)
    assert parsed is not None or cfg is None  # what the parser refuses, load_config refuses
    assert not marker.exists()
    assert _rss_kib() - before < MAX_RSS_GROWTH_KIB
