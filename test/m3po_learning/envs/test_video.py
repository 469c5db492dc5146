"""Offscreen rendering, MP4/GIF videos and the contact sheet."""

import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from m3po_learning.envs import make_env  # noqa: E402
from m3po_learning.envs.video import contact_sheet, record_video  # noqa: E402


def test_render_video_and_contact_sheet(tmp_path):
    env = make_env("arm2/track", seed=0)
    env.reset()
    frame = env.render(160, 120)
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8 and frame.std() > 5
    mp4 = record_video(
        env, lambda obs: np.zeros(2), tmp_path / "arm2.mp4", steps=12, width=160, height=120
    )
    assert mp4.path.stat().st_size > 1000 and len(mp4.frames) == 13
    assert mp4.path.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    gif = record_video(
        "pendulum/swingup", None, tmp_path / "pend.gif", steps=5, width=160, height=120
    )
    assert gif.path.read_bytes()[:3] == b"GIF"
    assert not np.array_equal(gif.frames[0], gif.frames[-1])
    env.close()
    sheet = contact_sheet(
        {"arm2/track": mp4.frames, "pendulum/swingup": gif.frames[0]},
        tmp_path / "sheet.png",
        frames_per_task=3,
    )
    from PIL import Image

    with Image.open(sheet) as im:
        assert im.size[0] == 3 * 160 and im.size[1] > 2 * 120


def test_fast_quality_drops_shadows_only():
    """`quality="fast"` (the video default) draws the same scene without the shadow passes."""
    import pytest

    env = make_env("arm2/reach", seed=0)
    env.reset(seed=0)
    full = env.render(160, 120, "full").astype(np.int16)
    fast = env.render(160, 120, "fast").astype(np.int16)
    assert env.render(160, 120, "full").astype(np.int16).tolist() == full.tolist()  # cached
    differs = np.abs(full - fast).max(axis=2) > 24
    # Shadows darken a few pixels under the robot; the rest of the frame is the same.
    assert 0 < differs.mean() < 0.1, differs.mean()
    assert (full.sum(axis=2)[differs] < fast.sum(axis=2)[differs]).mean() > 0.8
    with pytest.raises(ValueError, match="quality='ugly'"):
        env.render(160, 120, "ugly")
    env.close()
