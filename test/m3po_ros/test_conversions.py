"""Message conversions: joint order by name, exact round trips, shape errors."""

import numpy as np
import pytest

from m3po_ros.conversions import (
    MessageError,
    command_to_msg,
    joint_state_to_dicts,
    make_joint_state,
    make_point,
    msg_to_command,
    point_to_array,
)


def test_joint_state_by_name_any_order_exact():
    msg = make_joint_state(["elbow", "shoulder"], [0.25, -1.0 / 3], [1e-9, 7.0])
    pos, vel = joint_state_to_dicts(msg)
    assert pos == {"elbow": 0.25, "shoulder": -1.0 / 3}
    assert vel == {"elbow": 1e-9, "shoulder": 7.0}


def test_joint_state_shape_errors():
    msg = make_joint_state(["a", "b"], [0.0], [0.0, 0.0])
    with pytest.raises(MessageError, match="2 names but 1 positions"):
        joint_state_to_dicts(msg)
    with pytest.raises(MessageError, match="repeated"):
        joint_state_to_dicts(make_joint_state(["a", "a"], [0, 0], [0, 0]))
    pos, vel = joint_state_to_dicts(make_joint_state(["a"], [1.0], []))
    assert vel == {}


def test_point_and_command_round_trip_bit_exact():
    xyz = np.array([0.1, -0.2, 1.0 / 3])
    np.testing.assert_array_equal(point_to_array(make_point(xyz, "world")), xyz)
    u = np.array([1.5, -2.0 / 7])
    msg = command_to_msg(u, ["shoulder", "elbow"])
    assert msg.layout.dim[0].label == "shoulder,elbow"
    np.testing.assert_array_equal(msg_to_command(msg, 2), u)
    with pytest.raises(MessageError, match="2 values, expected 3"):
        msg_to_command(msg, 3)
