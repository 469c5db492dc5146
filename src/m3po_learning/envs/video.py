"""Offscreen videos (MP4 via imageio-ffmpeg, or GIF) of policies, and contact-sheet PNGs.

Rendering uses MuJoCo's offscreen context: set MUJOCO_GL=egl (GPU or Mesa EGL) or
MUJOCO_GL=osmesa (software) before importing mujoco on a machine without a display.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from m3po_learning.envs.registry import make_env

log = logging.getLogger(__name__)

PolicyFn = Callable[[np.ndarray], np.ndarray]  # obs (obs_dim,) -> action (action_dim,)


class Recording(NamedTuple):
    """A written video: its path, the frames (T, H, W, 3) uint8, and episode returns."""

    path: Path
    frames: list[np.ndarray]
    returns: list[float]


def _write(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        imageio.mimsave(path, list(frames), duration=1000.0 / fps, loop=0)
    elif suffix == ".mp4":
        with imageio.get_writer(
            path,
            format="FFMPEG",
            fps=fps,
            codec="libx264",
            quality=7,
            macro_block_size=1,
            ffmpeg_log_level="error",
        ) as writer:
            for frame in frames:
                writer.append_data(frame)
    else:
        raise ValueError(f"video path {str(path)!r}: use a .mp4 or .gif suffix")


def record_video(
    env_or_task,
    policy_fn: PolicyFn | None,
    path: str | Path,
    steps: int | None = None,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    quality: str = "fast",
) -> Recording:
    """Run `policy_fn` (None: uniform random actions) and write every step as a frame.

    Args:
        env_or_task: an env from `make_env`, or a task name (built with `seed`).
        policy_fn: maps an observation (obs_dim,) to an action (action_dim,) in [-1, 1].
        path: output file, .mp4 (H.264 through imageio-ffmpeg) or .gif.
        steps: agent steps to record (default: one episode); episodes restart as needed.
        width: frame width, pixels.
        height: frame height, pixels.
        seed: seeds the env built from a task name, its first reset and the random actions.
        quality: "fast" (no shadows or reflections: ~7x faster without a GPU) or "full".
    """
    env = make_env(env_or_task, seed=seed) if isinstance(env_or_task, str) else env_or_task
    owned = isinstance(env_or_task, str)
    rng = np.random.default_rng(seed)
    steps = steps or env.spec.episode_length
    try:
        obs, _ = env.reset(seed=seed)
        frames, returns, ret = [env.render(width, height, quality)], [], 0.0
        for _ in range(steps):
            if policy_fn is None:
                action = rng.uniform(-1.0, 1.0, env.spec.action_dim)
            else:
                action = np.asarray(policy_fn(obs), np.float64)[: env.spec.action_dim]
            obs, reward, terminated, truncated, _ = env.step(action)
            ret += reward
            frames.append(env.render(width, height, quality))
            if terminated or truncated:
                returns.append(ret)
                ret = 0.0
                obs, _ = env.reset()
        if not returns:
            returns.append(ret)
        fps = 1.0 / env.spec.control_dt
        _write(Path(path), frames, fps)
    finally:
        if owned:
            env.close()
    log.info("wrote %s (%d frames)", path, len(frames))
    return Recording(Path(path), frames, returns)


def contact_sheet(
    frames_by_task: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    path: str | Path,
    frames_per_task: int = 4,
    label_height: int = 22,
) -> Path:
    """A PNG with one labelled row per task of `frames_per_task` evenly spaced frames.

    `frames_by_task` maps a task name to one frame (H, W, 3) or a sequence of frames; all
    frames must share one size.
    """
    from PIL import Image, ImageDraw

    if not frames_by_task:
        raise ValueError("contact_sheet: no frames given")
    rows = []
    for task, frames in frames_by_task.items():
        seq = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
        if not seq:
            raise ValueError(f"contact_sheet: task {task!r} has no frames")
        pick = np.linspace(0, len(seq) - 1, min(frames_per_task, len(seq))).round().astype(int)
        rows.append((task, [np.asarray(seq[i], np.uint8) for i in pick]))
    h, w = rows[0][1][0].shape[:2]
    cols = max(len(f) for _, f in rows)
    sheet = Image.new("RGB", (cols * w, len(rows) * (h + label_height)), (20, 22, 26))
    draw = ImageDraw.Draw(sheet)
    for r, (task, frames) in enumerate(rows):
        y = r * (h + label_height)
        draw.text((6, y + 4), task, fill=(235, 235, 235))
        for c, frame in enumerate(frames):
            if frame.shape[:2] != (h, w):
                raise ValueError(f"contact_sheet: {task!r} frame {frame.shape} != {(h, w, 3)}")
            sheet.paste(Image.fromarray(frame), (c * w, y + label_height))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def record_videos(
    tasks: Sequence[str],
    out_dir: str | Path,
    policy_for_task: Callable[[str], PolicyFn | None] | None = None,
    fmt: str = "mp4",
    steps: int | None = None,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    reality_gap: str | None = None,
    quality: str = "fast",
) -> dict[str, Path]:
    """One video per task plus `contact_sheet.png` in `out_dir` (what `m3po eval --video` writes).

    `policy_for_task(task)` returns that task's policy function (None: random actions).
    Returns {task: video path, "contact_sheet": png path}.
    """
    if fmt not in ("mp4", "gif"):
        raise ValueError(f"fmt={fmt!r}: use 'mp4' or 'gif'")
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    frames: dict[str, list[np.ndarray]] = {}
    for task in tasks:
        env = make_env(task, seed=seed, reality_gap=reality_gap)
        try:
            policy = policy_for_task(task) if policy_for_task else None
            rec = record_video(
                env,
                policy,
                out / f"{task.replace('/', '_')}.{fmt}",
                steps,
                width,
                height,
                seed,
                quality,
            )
        finally:
            env.close()
        paths[task] = rec.path
        frames[task] = rec.frames
    paths["contact_sheet"] = contact_sheet(frames, out / "contact_sheet.png")
    return paths
