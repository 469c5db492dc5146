"""Gymnasium-style environment: one robot, one task, optional randomisation."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from m3po_learning.envelope import DEFAULT_ENVELOPE, Envelope, EnvelopeFilter
from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_learning.envs.observation import ObservationSpec
from m3po_learning.envs.randomization import Randomization, Randomizer
from m3po_learning.envs.robot import Robot
from m3po_learning.envs.tasks.base import Task
from m3po_learning.types import EnvSpec

RENDER_QUALITIES = ("fast", "full")  # see Env.render


def _view(array: np.ndarray, index: np.ndarray) -> np.ndarray | None:
    """`array[index]` as a view when `index` is a contiguous ascending run, else None."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return array[index[0] : index[0] + len(index)]
    return None


class Env:
    """A task on a MuJoCo robot built from its URDF.

    Actions are normalised to [-1, 1] per actuated joint (1 = the URDF effort limit).
    Observations are float32 vectors laid out by `observation_spec`, built from the joint
    readings a ROS `JointState` would carry (with sensor noise when randomised) and the
    task inputs, so `observation_spec.build(...)` on `joint_state()` and `task_inputs()`
    reproduces them.
    """

    def __init__(
        self,
        name: str,
        task: Task,
        seed: int = 0,
        randomization: Randomization | None = None,
        envelope: Envelope | None = None,
    ) -> None:
        self.name = name
        self.task = task
        self.robot = Robot(task.robot, task.control_dt)
        self.model, self.data = self.robot.model, self.robot.data
        self._nstep = self.robot.nstep(task.control_dt)
        self.observation_spec = ObservationSpec(
            task.observation_parts(),
            urdf=task.robot.urdf_file(),
            task=name,
            virtual_frames=task.robot.virtual_frames,
        )
        obs = self.observation_spec
        self.spec = EnvSpec(
            task=name,
            obs_dim=obs.obs_dim,
            action_dim=len(self.robot.actuated_joints),
            episode_length=task.episode_length,
            control_dt=task.control_dt,
            joint_names=self.robot.actuated_joints,
            obs_parts=obs.parts,
            obs_layout=obs.layout,
            reward_range=tuple(task.reward_range),
        )
        r = self.robot
        self._obs_qidx = np.array([r.qpos_adr[j] for j in obs.joint_names], np.intp)
        self._obs_didx = np.array([r.dof_adr[j] for j in obs.joint_names], np.intp)
        self._obs_fids = np.array([r.frame_body_ids[f] for f in obs.frame_names], np.intp)
        # Persistent views where the indices are contiguous (MjData buffers never move):
        # reading them costs nothing per step, unlike a gather.
        d = self.data
        self._obs_p = _view(d.qpos, self._obs_qidx)
        self._obs_v = _view(d.qvel, self._obs_didx)
        self._obs_f = _view(d.xpos, self._obs_fids)
        self._act_v = _view(d.qvel, r.act_dof_idx)
        # Tasks that read link positions (frames) need kinematics after each step; the rest
        # skip it (render() runs a full mj_forward itself).
        self._needs_kinematics = bool(obs.frame_names) or task.uses_kinematics
        index_in_all = {j: i for i, j in enumerate(r.joint_names)}
        self._obs_in_all = np.array([index_in_all[j] for j in obs.joint_names], np.intp)
        self._action = np.zeros(self.spec.action_dim)
        # Position/velocity drives: the servo's setpoint from the action (effort: the action).
        self._setpoint = None if task.robot.drive == "effort" else self.robot.action_spec
        # Effort drives run inside the envelope of the robot they stand for: its velocity
        # limits (per physics step, as its drives) and the controller's safety limits (per
        # control period). Setpoint drives: their servo already bounds the motion.
        self.envelope = DEFAULT_ENVELOPE if envelope is None else envelope
        spec = self.robot.action_spec
        self._envelope = None
        if self._setpoint is None:
            filt = EnvelopeFilter(
                self.envelope, spec.pos_lo, spec.pos_hi, spec.vel_max, task.control_dt
            )
            if filt.active or filt.limits_velocity:
                self._envelope = filt
        self.attach_output(np.zeros(self.spec.obs_dim, np.float32))
        self._seed_generators(seed)
        self._randomizer = (
            Randomizer(self.model, randomization, r.all_dof_idx) if randomization else None
        )
        self._noise = (0.0, 0.0)
        self._noisy = False
        self._delay_steps = 0
        self._pos_noise = np.zeros(len(r.joint_names))
        self._vel_noise = np.zeros(len(r.joint_names))
        self._t = 0
        self._renderer: mujoco.Renderer | None = None
        self._render_key: tuple | None = None
        self._offsamples = int(self.model.vis.quality.offsamples)
        self._episode_params: dict[str, float] = {}

    # ------------------------------------------------------------------ episode
    def attach_output(self, out: np.ndarray) -> None:
        """Write observations into `out` (obs_dim,) float32 from now on (e.g. a VectorEnv row)."""
        if out.shape != (self.spec.obs_dim,) or out.dtype != np.float32:
            raise ValueError(f"{self.name}: output buffer {out.shape} {out.dtype} does not fit")
        self._out = out
        self._writer = self.observation_spec.writer(out)

    def _seed_generators(self, seed: int) -> None:
        # Separate streams: turning randomisation on leaves initial states and goals as they
        # were for the same seed, so only the physics and sensors differ.
        task_seq, dr_seq = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(task_seq)
        self._dr_rng = np.random.default_rng(dr_seq)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; `seed` reseeds the env's generator. Returns (obs, info)."""
        if seed is not None:
            self._seed_generators(seed)
        m, d = self.model, self.data
        params: dict[str, float] = {}
        if self._randomizer is not None:
            params = self._randomizer.apply(self._dr_rng, d)
        mujoco.mj_resetData(m, d)
        if self._envelope is not None:
            self._envelope.reset()
        self.task.reset(self.robot, self._rng)
        mujoco.mj_forward(m, d)
        self._noise = (
            params.get("position_noise_std", 0.0),
            params.get("velocity_noise_std", 0.0),
        )
        self._noisy = self._noise[0] > 0 or self._noise[1] > 0
        delay = round(params.get("action_delay_s", 0.0) / m.opt.timestep)
        self._delay_steps = delay
        self._action_history = np.zeros((delay // self._nstep + 2, self.spec.action_dim))
        self._t = 0
        self._episode_params = params
        self._observe()
        return self._out.copy(), {"params": params}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply `action` (action_dim,) in [-1, 1] for one control period."""
        reward, terminated, truncated = self._advance(action)
        return self._out.copy(), reward, terminated, truncated, {}

    def _advance(self, action: np.ndarray) -> tuple[float, bool, bool]:
        """One control period; the observation lands in the attached buffer."""
        a = self._action
        np.minimum(action, 1.0, out=a)
        np.maximum(a, -1.0, out=a)
        square = a @ a
        if square != square:  # NaN survives min/max and poisons the dot product
            raise ValueError(f"{self.name}: action contains NaN: {action}")
        return self._advance_clipped(a)

    def _advance_clipped(self, a: np.ndarray) -> tuple[float, bool, bool]:
        """The hot path, for an action already clipped to [-1, 1] and free of NaN."""
        m, d, task, robot = self.model, self.data, self.task, self.robot
        if task.uses_before_physics:
            task.before_physics(robot, self._t * task.control_dt)
        ctrl = a
        if self._setpoint is not None:
            ctrl = self._setpoint.to_command(a, d.qpos[robot.act_qpos_idx])
        elif self._envelope is not None and self._envelope.active:
            a = ctrl = self._envelope.control(a, d.qpos[robot.act_qpos_idx])
        if self._delay_steps:
            self._delayed_physics(ctrl)
        else:
            self._physics(ctrl, self._nstep)
        if self._needs_kinematics:
            mujoco.mj_kinematics(m, d)
        self._t += 1
        if task.uses_after_physics:
            task.after_physics(robot, self._t * task.control_dt)
        self._observe()
        reward = task.reward(robot, a)
        terminated = task.terminated(robot) if task.can_terminate else False
        return reward, terminated, self._t >= task.episode_length

    def _delayed_physics(self, a: np.ndarray) -> None:
        """Actuation latency of D physics steps: the motor sees the control `a` D steps late."""
        n = self._nstep
        hist = self._action_history  # row k: the action issued k control periods ago
        hist[1:] = hist[:-1].copy()
        hist[0] = a
        q, r = divmod(self._delay_steps, n)
        if r:
            self._physics(hist[q + 1], r)
        self._physics(hist[q], n - r)

    def _physics(self, ctrl: np.ndarray, steps: int) -> None:
        """`steps` physics steps at control `ctrl`; the drives' velocity limits each step."""
        m, d = self.model, self.data
        env = self._envelope
        if env is None or not env.limits_velocity:
            d.ctrl[:] = ctrl
            mujoco.mj_step(m, d, steps)
            return
        view = self._act_v  # actuated joint velocities, a view where the dofs are contiguous
        didx = self.robot.act_dof_idx
        for _ in range(steps):
            d.ctrl[:] = env.drive(ctrl, d.qvel[didx] if view is None else view)
            mujoco.mj_step(m, d)
            if view is None:
                d.qvel[didx] = env.clamp(d.qvel[didx])
            else:
                env.clamp_in_place(view)

    def _observe(self) -> None:
        d, spec = self.data, self.observation_spec
        if self._noisy:
            r, rng = self.robot, self._dr_rng
            self._pos_noise = rng.normal(0.0, self._noise[0], len(r.joint_names))
            self._vel_noise = rng.normal(0.0, self._noise[1], len(r.joint_names))
            p = (d.qpos[r.all_qpos_idx] + self._pos_noise)[self._obs_in_all]
            v = (d.qvel[r.all_dof_idx] + self._vel_noise)[self._obs_in_all]
            frames = spec.forward_kinematics(p)
        else:
            p = self._obs_p if self._obs_p is not None else d.qpos[self._obs_qidx]
            v = self._obs_v if self._obs_v is not None else d.qvel[self._obs_didx]
            frames = self._obs_f if self._obs_f is not None else d.xpos[self._obs_fids]
        self._writer.write(p, v, frames, self.task.inputs())

    # ------------------------------------------------------------------ ROS-facing views
    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
        """(names, positions, velocities, efforts) of all robot joints, as JointState carries.

        Positions and velocities are the sensor readings the last observation was built
        from (noisy under randomisation); efforts are the applied motor torques/forces.
        """
        r, d = self.robot, self.data
        pos = d.qpos[r.all_qpos_idx]
        vel = d.qvel[r.all_dof_idx]
        if self._noisy:
            pos = pos + self._pos_noise
            vel = vel + self._vel_noise
        return r.joint_names, pos.copy(), vel.copy(), d.qfrc_actuator[r.all_dof_idx].copy()

    def link_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{URDF link: (position (3,), quaternion wxyz (4,))} in the robot's root link, now.

        What `/tf` carries for RViz (root -> link); the root itself is left out.
        """
        m, d = self.model, self.data
        mujoco.mj_kinematics(m, d)
        links = self.robot.link_names
        root = self.robot.root_body
        r_root = d.xmat[root].reshape(3, 3)
        out = {}
        q_root_inv = np.empty(4)
        mujoco.mju_negQuat(q_root_inv, d.xquat[root])
        for name, body in links.items():
            xyz = r_root.T @ (d.xpos[body] - d.xpos[root])
            quat = np.empty(4)
            mujoco.mju_mulQuat(quat, q_root_inv, d.xquat[body])
            out[name] = (xyz, quat)
        return out

    def task_inputs(self) -> dict[str, np.ndarray]:
        """Current task inputs by name (e.g. {"goal": xyz (3,)}), copied."""
        return {k: np.array(v, np.float64) for k, v in self.task.inputs().items()}

    def joint_limits(self) -> dict[str, JointLimit]:
        """URDF limits of every robot joint by name."""
        return self.robot.joint_limits()

    @property
    def action_spec(self) -> ActionSpec:
        """Actuated joints in action order with their limits: action 1 = the effort limit."""
        return self.robot.action_spec

    @property
    def episode_params(self) -> dict[str, float]:
        """Per-episode randomisation scalars drawn at the last reset (noise, delay)."""
        return dict(self._episode_params)

    def set_gravity_compensation(self, on: bool) -> None:
        """Cancel gravity on every robot body (on), or let it act (off), from now on.

        Tasks are built as they were trained (`RobotDescription.gravity_compensation`); the
        sim node uses this to simulate a robot whose driver does or does not compensate.
        """
        self.model.body_gravcomp[1:] = 1.0 if on else 0.0

    # ------------------------------------------------------------------ rendering
    def render(self, width: int = 320, height: int = 240, quality: str = "full") -> np.ndarray:
        """Offscreen RGB frame (height, width, 3) uint8 from the robot's free camera.

        `quality="fast"` draws without shadows, reflections or multisampling: about 7x
        faster on a software OpenGL (EGL/OSMesa on a machine without a GPU), where shadow
        passes dominate; "full" is MuJoCo's default look.
        """
        if quality not in RENDER_QUALITIES:
            raise ValueError(f"quality={quality!r}: use one of {RENDER_QUALITIES}")
        if self._renderer is None or self._render_key != (width, height, quality):
            if self._renderer is not None:
                self._renderer.close()
            # Multisampling is fixed when the GL framebuffer is made, from the model.
            self.model.vis.quality.offsamples = 0 if quality == "fast" else self._offsamples
            try:
                self._renderer = mujoco.Renderer(self.model, height=height, width=width)
            except mujoco.FatalError as exc:
                raise RuntimeError(
                    f"{self.name}: no OpenGL context for offscreen rendering ({exc}); set "
                    "MUJOCO_GL=egl (or MUJOCO_GL=osmesa with libosmesa6) before mujoco is imported"
                ) from exc
            if quality == "fast":
                for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
                    self._renderer.scene.flags[flag] = False
            self._render_key = (width, height, quality)
            cam = mujoco.MjvCamera()
            (cam.lookat[:], cam.distance, cam.azimuth, cam.elevation) = self.task.robot.camera
            self._camera = cam
        mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, camera=self._camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Free the offscreen renderer, if one was made."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __repr__(self) -> str:
        return (
            f"Env({self.name!r}, obs_dim={self.spec.obs_dim}, action_dim={self.spec.action_dim})"
        )
