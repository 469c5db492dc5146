"""Parameter dataclasses: defaults validated, out-of-range values named in the error."""

import pytest

from m3po_ros.params import (
    ControllerParams,
    LearnerParams,
    ParamError,
    SimParams,
    check_value,
    convert_value,
    defaults,
)


@pytest.mark.parametrize("cls", [ControllerParams, SimParams, LearnerParams])
def test_defaults_are_valid_and_documented(cls):
    obj = cls()
    for name, value in defaults(cls).items():
        assert getattr(obj, name) == value
        assert cls.__dataclass_fields__[name].metadata["doc"]


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("control_rate_hz", 5000.0, "'control_rate_hz'=5000.0 is out of range"),
        ("control_rate_hz", -1.0, "-1.0"),
        ("planner_budget_fraction", 1.5, "'planner_budget_fraction'=1.5"),
        ("sensor_timeout_s", float("nan"), "must be finite"),
        ("num_threads", 0, "'num_threads'=0"),
        ("device", "tpu", "'device'='tpu' is not one of"),
        ("use_planner", "yes", "expected bool"),
    ],
)
def test_out_of_range_refused_with_name_and_value(name, value, needle):
    with pytest.raises(ParamError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        ControllerParams(**{name: value})
    with pytest.raises(ParamError):
        check_value(ControllerParams, name, value)


def test_int_accepted_for_float_and_launch_strings_converted():
    assert ControllerParams(control_rate_hz=100).control_rate_hz == 100
    assert convert_value(ControllerParams, "control_rate_hz", "200") == 200.0
    assert convert_value(ControllerParams, "use_planner", "false") is False
    assert convert_value(SimParams, "seed", "7") == 7
    assert convert_value(ControllerParams, "checkpoint", "/x") == "/x"
    with pytest.raises(ParamError, match="'use_planner'='maybe'"):
        convert_value(ControllerParams, "use_planner", "maybe")
