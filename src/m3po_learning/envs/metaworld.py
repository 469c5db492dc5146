"""MetaWorld (v3) manipulation tasks as `mw/<task>`, e.g. "mw/reach-v3", with their success metric.

The protocol is TD-MPC2's: the goal-observable variant of each task (39-D observation, 4-D
action: end-effector motion and gripper), a new random goal and object placement at every
reset, action repeat 2 and 100 agent steps (200 MetaWorld steps) per episode. `info["success"]`
of every step is MetaWorld's own success flag; an episode counts as a success when any of its
steps was one (`MetaWorldEnv.episode_success`).

MuJoCo version. `metaworld` 3.1.1 pins mujoco 3.3.0 while dm-control 1.0.50 needs mujoco
3.17.0. The only part of MetaWorld that breaks on 3.17 is `SawyerMocapBase.reset_mocap_welds`:
it writes the 11 weld parameters of MuJoCo <= 3.3 (anchor 3, relative position 3, relative
quaternion 4, torque scale 1) into `model.eq_data` rows that MuJoCo 3.17 made 12 wide; the
12th is a flag that is 1 where the relative pose was left for the compiler to compute and 0
where it is given explicitly (checked by compiling a weld with and without `relpose`).
MetaWorld's values are an explicit pose, so `_patch_mocap_welds` writes them with that flag 0.
It is applied once, on the first MetaWorld env built, and only to rows MuJoCo made wider than
11; `metaworld` is installed without its mujoco pin (`pip install --no-deps`, see Makefile).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from m3po_learning.types import EnvSpec

PREFIX = "mw/"
ACTION_REPEAT = 2
EPISODE_STEPS = 100  # agent steps per episode (TD-MPC2: 100 x action repeat 2)
# MetaWorld's weld parameters for the mocap hand: zero anchor and offset, quaternion
# (-1, 0, 0, 0) (the identity), torque scale 5.
_WELD = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0)
_patched = False


def _metaworld():
    try:
        import metaworld
    except ImportError as exc:  # pragma: no cover - the venv always has it
        raise ImportError(
            "MetaWorld tasks need the `metaworld` package (3.1.1, installed with --no-deps "
            "by `make setup`)"
        ) from exc
    return metaworld


def _patch_mocap_welds() -> None:
    """Make `SawyerMocapBase.reset_mocap_welds` write MuJoCo 3.17's 12-wide weld rows."""
    global _patched
    if _patched:
        return
    import mujoco
    from metaworld.sawyer_xyz_env import SawyerMocapBase

    original = SawyerMocapBase.reset_mocap_welds

    def reset_mocap_welds(self) -> None:
        m = self.model
        if m.eq_data is None or m.eq_data.shape[1] <= len(_WELD):
            return original(self)
        for i in range(m.eq_data.shape[0]):
            if m.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                row = np.zeros(m.eq_data.shape[1])
                row[: len(_WELD)] = _WELD  # the 12th entry 0: the pose above is explicit
                m.eq_data[i] = row

    SawyerMocapBase.reset_mocap_welds = reset_mocap_welds
    _patched = True


def task_names() -> list[str]:
    """Every MetaWorld v3 task as "mw/<task>" (the 50 of MT50), in MetaWorld's order."""
    envs = _metaworld().ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
    return [PREFIX + k.removesuffix("-goal-observable") for k in envs]


def mt10_names() -> list[str]:
    """The MT10 task set as "mw/<task>", in MetaWorld's order."""
    return [PREFIX + k for k in _metaworld().env_dict.MT10_V3]


def check_metaworld_name(name: str) -> str:
    """The MetaWorld task of "mw/<task>"; ValueError listing the 50 tasks when it is none."""
    names = task_names()
    if name not in names:
        import difflib

        near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
        raise ValueError(
            f"unknown MetaWorld task {name!r}; {hint}MetaWorld has: {', '.join(names)}"
        )
    return name[len(PREFIX) :]


class MetaWorldEnv:
    """One MetaWorld v3 task, goal observable, random goal per reset, action repeat 2."""

    def __init__(self, name: str, seed: int = 0) -> None:
        task = check_metaworld_name(name)
        mw = _metaworld()
        _patch_mocap_welds()
        self.name = name
        self._env = mw.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{task}-goal-observable"](seed=seed)
        self._env._freeze_rand_vec = False  # a new goal and object placement every reset
        # ... drawn from this env's own seeded generator, not NumPy's global one (MetaWorld's
        # default), so an env's goals depend on its seed only
        self._env.seeded_rand_vec = True
        obs_dim = int(self._env.observation_space.shape[0])
        action_dim = int(self._env.action_space.shape[0])
        self.spec = EnvSpec(
            task=name,
            obs_dim=obs_dim,
            action_dim=action_dim,
            episode_length=EPISODE_STEPS,
            control_dt=float(self._env.dt) * ACTION_REPEAT,
            joint_names=tuple(f"{name}:action{i}" for i in range(action_dim)),
            obs_parts=(("state", obs_dim),),
            obs_layout=(f"state:metaworld[{obs_dim}]",),
            reward_range=(0.0, 10.0 * ACTION_REPEAT),
        )
        self.model = self._env.model
        self._t = 0
        self._success = False

    @property
    def episode_success(self) -> bool:
        """True once any step of the current episode met MetaWorld's success criterion."""
        return self._success

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (new goal); `seed` reseeds the generator. Returns (obs, info)."""
        if seed is not None:
            self._env.seed(int(seed))
        obs, _ = self._env.reset()
        self._t = 0
        self._success = False
        return obs.astype(np.float32), {"success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply `action` (action_dim,) in [-1, 1] for ACTION_REPEAT MetaWorld steps.

        Returns (obs, reward summed over the repeats, terminated (never), truncated, info);
        info["success"] is MetaWorld's flag after the last repeat, info["episode_success"]
        whether any step of the episode so far succeeded.
        """
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        if a.shape != (self.spec.action_dim,):
            raise ValueError(
                f"{self.name}: action shape {a.shape}, expected ({self.spec.action_dim},)"
            )
        reward, info = 0.0, {}
        for _ in range(ACTION_REPEAT):
            obs, r, _, _, info = self._env.step(a)
            reward += float(r)
        self._t += 1
        success = bool(info.get("success", 0.0))
        self._success |= success
        truncated = self._t >= self.spec.episode_length
        return (
            obs.astype(np.float32),
            reward,
            False,
            truncated,
            {"success": success, "episode_success": self._success},
        )

    def task_inputs(self) -> dict[str, np.ndarray]:
        """No task inputs: the goal is part of the observation. Always {}."""
        return {}

    def render(self, width: int = 320, height: int = 240, quality: str = "full") -> np.ndarray:
        """Offscreen RGB frame (height, width, 3) uint8 of MuJoCo's default free camera."""
        import mujoco

        from m3po_learning.envs.env import RENDER_QUALITIES

        if quality not in RENDER_QUALITIES:
            raise ValueError(f"quality={quality!r}: use one of {RENDER_QUALITIES}")
        if getattr(self, "_renderer", None) is None or self._renderer.width != width:
            self._renderer = mujoco.Renderer(self.model, height=height, width=width)
        self._renderer.update_scene(self._env.data)
        return self._renderer.render()

    def close(self) -> None:
        """Release the MetaWorld environment (and a renderer, if one was made)."""
        if getattr(self, "_renderer", None) is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()

    def __repr__(self) -> str:
        s = self.spec
        return f"MetaWorldEnv({self.name!r}, obs_dim={s.obs_dim}, action_dim={s.action_dim})"
