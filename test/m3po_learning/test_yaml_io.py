"""The one YAML reader: a mapping or a clear error naming the file, the keys, the caller's type."""

import pytest

from m3po_learning.yaml_io import read_mapping, unknown_keys


class MyError(ValueError):
    pass


def test_mapping_read_and_empty_file_is_empty(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("x: 1\ny: [2, 3]\n")
    assert read_mapping(f) == {"x": 1, "y": [2, 3]}
    assert read_mapping(f, known=("x", "y", "z")) == {"x": 1, "y": [2, 3]}
    f.write_text("")
    assert read_mapping(f, known=()) == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("x: [1\n", "is not valid YAML"),
        ("[1, 2]\n", "must hold a mapping, got list"),
        ("x: 1\nbad: 2\nworse: 3\n", r"unknown keys \['bad', 'worse'\]; known: \['x'\]"),
    ],
)
def test_errors_name_the_file_and_use_the_callers_type(tmp_path, text, message):
    f = tmp_path / "conf.yaml"
    f.write_text(text)
    with pytest.raises(MyError, match=message) as err:
        read_mapping(f, known=("x",), what="thing", error=MyError)
    assert str(err.value).startswith(f"thing {f}")


def test_nested_schema_names_the_dotted_key_and_its_section(tmp_path):
    f = tmp_path / "n.yaml"
    f.write_text("top: 1\nsec:\n  a: 1\n  b: 2\nfree:\n  anything: 3\n")
    schema = {"top": None, "sec": {"a": None}, "free": None}
    assert unknown_keys({"sec": {"a": 1, "b": 2}, "free": {"z": 1}}, schema) == ["sec.b"]
    with pytest.raises(ValueError, match=r"unknown keys \['sec\.b'\]; known in sec: \['a'\]"):
        read_mapping(f, known=schema)
    with pytest.raises(ValueError, match="cannot be read"):
        read_mapping(tmp_path / "missing.yaml")
