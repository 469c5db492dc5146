"""Static frames into a task's base frame: URDF fixed links, explicit transforms, errors."""

import numpy as np
import pytest
from transforms3d.euler import euler2quat

from m3po_learning.envs.paths import urdf_path
from m3po_learning.frames import FrameError, FrameTree, parse_transforms, urdf_static_frames

URDF = """<robot name="bot">
  <link name="base"/><link name="table"/><link name="camera"/><link name="arm"/>
  <link name="tool"/>
  <joint name="to_table" type="fixed"><parent link="base"/><child link="table"/>
    <origin xyz="0 0 -0.5"/></joint>
  <joint name="cam" type="fixed"><parent link="table"/><child link="camera"/>
    <origin xyz="1 0 0" rpy="0 0 1.5707963267948966"/></joint>
  <joint name="j1" type="revolute"><parent link="base"/><child link="arm"/>
    <limit effort="1" lower="-1" upper="1" velocity="1"/></joint>
  <joint name="to_tool" type="fixed"><parent link="arm"/><child link="tool"/></joint>
</robot>"""


def test_urdf_fixed_links_chain_from_the_root(tmp_path):
    path = tmp_path / "bot.urdf"
    path.write_text(URDF)
    base, frames = urdf_static_frames(path)
    assert base == "base"
    assert set(frames) == {"base", "table", "camera"}  # tool moves with j1: not static
    tree = FrameTree(base, frames)
    # camera at (1, 0, -0.5), x axis along the base's y
    np.testing.assert_allclose(tree.point_to_base("camera", [0.3, 0, 0]), [1.0, 0.3, -0.5])
    with pytest.raises(FrameError, match="'tool'.*known frames: base, camera, table"):
        tree.point_to_base("tool", [0, 0, 0])


def test_shipped_robots_have_base_link_roots():
    for robot in ("arm2", "arm7", "pendulum", "cartpole", "acrobot"):
        tree = FrameTree.for_urdf(urdf_path(f"{robot}.urdf"))
        assert tree.base == "base_link" and "world" in tree.frames, robot
        np.testing.assert_array_equal(tree.point_to_base("world", [1, 2, 3]), [1, 2, 3])


def test_parse_transforms_rpy_and_quaternion():
    quat = euler2quat(0.0, 0.0, np.pi / 2)  # wxyz
    text = f"world: 0 0 1 0 0 0 ; cam: 1 2 3 {' '.join(map(str, quat))}"
    tree = FrameTree("base_link", parse_transforms(text))
    np.testing.assert_allclose(tree.point_to_base("world", [0, 0, 0]), [0, 0, 1])
    np.testing.assert_allclose(tree.point_to_base("cam", [1, 0, 0]), [1, 3, 3], atol=1e-12)
    pos, q = tree.pose_to_base("cam", [0, 0, 0], [1, 0, 0, 0])
    np.testing.assert_allclose(pos, [1, 2, 3])
    np.testing.assert_allclose(q, quat, atol=1e-12)
    for bad in ("world 0 0 0 0 0 0", "world: 0 0 0", "world: a b c 0 0 0", "w: 0 0 0 0 0 0 0"):
        with pytest.raises(FrameError):
            parse_transforms(bad)
    assert parse_transforms("") == {}
