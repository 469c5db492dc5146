"""A robot: a MuJoCo model compiled from a URDF, with torque actuators and named accessors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from m3po_learning.envs.action import ActionSpec, JointLimit
from m3po_learning.envs.drive import servo_gains
from m3po_learning.envs.paths import urdf_path
from m3po_learning.envs.urdf_info import UrdfError, UrdfJoint, read_urdf_joints

_LINK_COLOURS = ((0.85, 0.45, 0.15, 1.0), (0.2, 0.45, 0.8, 1.0), (0.75, 0.75, 0.78, 1.0))


@dataclass(frozen=True)
class RobotDescription:
    """Everything needed to build a robot's simulation; one constants module per robot."""

    name: str  # robot name, the first half of task names ("arm2" in "arm2/reach")
    urdf: str  # built-in URDF file name in urdf/, or an absolute path to a user's URDF
    actuated_joints: tuple[str, ...]  # torque-driven joints, in action order
    frames: tuple[str, ...] = ()  # URDF links whose world position tasks may observe
    timestep_s: float = 0.005  # physics step; the control period must be a multiple of it
    gravity_compensation: bool = False  # the robot's driver cancels gravity (torque-mode arms)
    armature: float = 0.0  # reflected rotor inertia added to every actuated joint, kg m^2
    camera: tuple[tuple[float, float, float], float, float, float] = (
        (0.0, 0.0, 0.5),
        2.0,
        90.0,
        -20.0,
    )
    # ^ free camera for render(): (lookat xyz, distance m, azimuth deg, elevation deg)
    goal_marker: bool = False  # add a red sphere (a mocap body) that shows the goal
    drive: str = "effort"  # the joints' command interface (m3po_learning.envs.drive)
    # frames the URDF lacks, as (name, parent link, offset xyz in the parent, m): added as
    # massless bodies by the simulation and by the kinematics the controller observes with
    virtual_frames: tuple[tuple[str, str, tuple[float, float, float]], ...] = ()

    def urdf_file(self) -> Path:
        """Resolved URDF path: built-ins from the urdf directory, users' files as given."""
        path = Path(self.urdf)
        return path if path.is_absolute() else urdf_path(self.urdf)


def add_virtual_frames(spec: mujoco.MjSpec, frames, path: Path) -> None:
    """Add (name, parent link, offset) frames to a URDF's MjSpec as massless child bodies."""
    for name, parent, xyz in frames:
        body = spec.body(parent)
        if body is None:
            raise UrdfError(f"URDF {str(path)!r}: virtual frame {name!r} needs link {parent!r}")
        body.add_body(name=name, pos=[float(v) for v in xyz])


def _load_spec(path: Path, virtual_frames=()) -> mujoco.MjSpec:
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except (ValueError, mujoco.FatalError) as exc:
        raise UrdfError(f"MuJoCo cannot load URDF {str(path)!r}: {exc}") from exc
    add_virtual_frames(spec, virtual_frames, path)
    # Keep fixed-joint links (end-effector frames) as bodies instead of fusing them away, and
    # keep non-colliding geoms (floor, goal marker), which the URDF default would discard.
    spec.compiler.fusestatic = False
    spec.compiler.discardvisual = False
    return spec


def _add_scenery(spec: mujoco.MjSpec) -> None:
    """Floor, light and sky for offscreen rendering; none of it collides."""
    spec.add_texture(
        name="m3po_grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.22, 0.26, 0.3],
        rgb2=[0.17, 0.2, 0.24],
        width=256,
        height=256,
    )
    spec.add_texture(
        name="m3po_sky",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.45, 0.6, 0.75],
        rgb2=[0.05, 0.07, 0.1],
        width=256,
        height=1536,
    )
    mat = spec.add_material(name="m3po_grid", texrepeat=[4, 4], texuniform=True, reflectance=0.1)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "m3po_grid"
    spec.worldbody.add_geom(
        name="m3po_floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[8.0, 8.0, 0.05],
        material="m3po_grid",
        contype=0,
        conaffinity=0,
    )
    spec.worldbody.add_light(pos=[0.5, -0.5, 3.0], dir=[-0.1, 0.1, -1.0], castshadow=True)
    spec.visual.global_.offwidth = 1280
    spec.visual.global_.offheight = 960


def build_model(desc: RobotDescription) -> tuple[mujoco.MjModel, list[UrdfJoint]]:
    """Compile `desc` into an MjModel with one `general` actuator per actuated joint.

    Effort drive: the motor's gear is the joint's URDF effort limit and its control range is
    [-1, 1], so a normalised action of 1 is the full rated torque (force for prismatic
    joints). Position and velocity drives: a servo whose control is the setpoint, with the
    gains of `drive.servo_gains`, its force clamped to the effort limit.
    """
    path = desc.urdf_file()
    joints = read_urdf_joints(path)
    by_name = {j.name: j for j in joints}
    spec = _load_spec(path, desc.virtual_frames)
    spec.option.timestep = desc.timestep_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Robots move in free space; contacts would only cost time.
    spec.option.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT
    spec_joints = {j.name: j for j in spec.joints}
    for name in desc.actuated_joints:
        if name not in by_name or name not in spec_joints:
            raise UrdfError(
                f"robot {desc.name!r}: actuated joint {name!r} is not a joint of {str(path)!r} "
                f"(joints: {sorted(by_name)})"
            )
        info = by_name[name]
        if not info.movable or not info.effort > 0 or not math.isfinite(info.effort):
            raise UrdfError(
                f"robot {desc.name!r}: joint {name!r} in {str(path)!r} cannot be actuated "
                f"(type={info.type!r}, effort={info.effort}); it needs a finite effort > 0"
            )
        spec_joints[name].armature = desc.armature
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        if desc.drive == "effort":
            act.gear[0] = info.effort
            act.ctrlrange = [-1.0, 1.0]
            act.ctrllimited = True
        else:  # a servo on the setpoint; gains set once the model knows its inertia
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
            act.ctrllimited = False
            act.forcerange = [-info.effort, info.effort]
            act.forcelimited = True
    body_names = {b.name for b in spec.bodies}
    for frame in desc.frames:
        if frame not in body_names:
            raise UrdfError(f"robot {desc.name!r}: frame link {frame!r} not in {str(path)!r}")
    if desc.gravity_compensation:
        for body in spec.bodies:
            body.gravcomp = 1.0
    for i, geom in enumerate(spec.geoms):
        geom.rgba = _LINK_COLOURS[i % len(_LINK_COLOURS)]
    _add_scenery(spec)
    if desc.goal_marker:
        marker = spec.worldbody.add_body(name="m3po_goal", mocap=True, pos=[0.0, 0.0, -1.0])
        marker.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[0.025, 0.0, 0.0],
            rgba=[0.95, 0.1, 0.1, 0.7],
            contype=0,
            conaffinity=0,
        )
    try:
        model = spec.compile()
    except ValueError as exc:
        raise UrdfError(f"MuJoCo cannot compile URDF {str(path)!r}: {exc}") from exc
    if desc.drive != "effort":
        _set_servo_gains(model, desc)
    return model, joints


def _set_servo_gains(model: mujoco.MjModel, desc: RobotDescription) -> None:
    """Gains of the position/velocity servos, from the limits and the reference inertia."""
    names = desc.actuated_joints
    dofs = [int(model.jnt_dofadr[model.joint(n).id]) for n in names]
    kp, kd = servo_gains(desc.drive, model.dof_M0[dofs] + model.dof_armature[dofs])
    # Velocity: the setpoint's gain adds the joint's viscous damping, so the servo reaches
    # the setpoint instead of settling short of it (as a servo with integral action would).
    damping = model.dof_damping[dofs]
    for i, n in enumerate(names):
        a = model.actuator(n).id
        gain = kp[i] if desc.drive == "position" else kd[i] + damping[i]
        model.actuator_gainprm[a, 0] = gain
        model.actuator_biasprm[a, :3] = (0.0, -kp[i], -kd[i])


def _has_body(model: mujoco.MjModel, name: str) -> bool:
    try:
        model.body(name)
    except KeyError:
        return False
    return True


@dataclass
class Robot:
    """Physics of one robot: model, data and index arrays for its joints and frames.

    Physics only: tasks (reward, observation, reset) live in `tasks/`.
    """

    desc: RobotDescription
    control_dt: float = 0.02  # s per action: sets the position drive's step
    model: mujoco.MjModel = field(init=False)
    data: mujoco.MjData = field(init=False)

    def __post_init__(self) -> None:
        self.model, self.urdf_joints = build_model(self.desc)
        self.data = mujoco.MjData(self.model)
        m = self.model
        hinge, slide = int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)
        ids = [j for j in range(m.njnt) if m.jnt_type[j] in (hinge, slide)]
        # All 1-DoF robot joints in model order: what JointState publishes.
        self.joint_names: tuple[str, ...] = tuple(m.joint(j).name for j in ids)
        self.qpos_adr = {m.joint(j).name: int(m.jnt_qposadr[j]) for j in ids}
        self.dof_adr = {m.joint(j).name: int(m.jnt_dofadr[j]) for j in ids}
        self.all_qpos_idx = np.array([self.qpos_adr[n] for n in self.joint_names], np.intp)
        self.all_dof_idx = np.array([self.dof_adr[n] for n in self.joint_names], np.intp)
        self.actuated_joints = self.desc.actuated_joints
        self.act_qpos_idx = np.array([self.qpos_adr[n] for n in self.actuated_joints], np.intp)
        self.act_dof_idx = np.array([self.dof_adr[n] for n in self.actuated_joints], np.intp)
        self.frame_body_ids = {f: m.body(f).id for f in self.desc.frames}
        self.goal_mocap = (
            int(m.body_mocapid[m.body("m3po_goal").id]) if self.desc.goal_marker else -1
        )
        self.nstep_cache: dict[float, int] = {}
        # URDF links as MuJoCo bodies (fixed-joint links are kept): the root and the rest.
        urdf_links = {j.child for j in self.urdf_joints} | {j.parent for j in self.urdf_joints}
        roots = {j.parent for j in self.urdf_joints} - {j.child for j in self.urdf_joints}
        self.root_body = m.body(sorted(roots)[0]).id if roots else 0
        self.link_names = {n: m.body(n).id for n in sorted(urdf_links - roots) if _has_body(m, n)}
        self._limits = self._read_limits()

    def _read_limits(self) -> dict[str, JointLimit]:
        by_name = {j.name: j for j in self.urdf_joints}
        return {
            n: JointLimit(
                n, by_name[n].effort, by_name[n].velocity, (by_name[n].lower, by_name[n].upper)
            )
            for n in self.joint_names
        }

    def joint_limits(self) -> dict[str, JointLimit]:
        """URDF limits of every robot joint by name (+-inf where the URDF gives none)."""
        return dict(self._limits)

    @property
    def action_spec(self) -> ActionSpec:
        """The actuated joints' limits in action order: what an action of 1 means."""
        return ActionSpec.from_limits(
            self.actuated_joints, self._limits, self.desc.drive, self.control_dt
        )

    def nstep(self, control_dt: float) -> int:
        """Physics steps per control period; `control_dt` must be a multiple of the timestep."""
        n = round(control_dt / self.model.opt.timestep)
        if n < 1 or abs(n * self.model.opt.timestep - control_dt) > 1e-9:
            raise ValueError(
                f"robot {self.desc.name!r}: control_dt={control_dt} is not a multiple of the "
                f"physics timestep {self.model.opt.timestep}"
            )
        return n

    def set_goal_marker(self, xyz: np.ndarray) -> None:
        """Move the goal marker's mocap body to world position `xyz` (3,); no-op without one."""
        if self.goal_mocap >= 0:
            self.data.mocap_pos[self.goal_mocap] = xyz

    def joint_range(self, name: str) -> tuple[float, float]:
        """Position range of a joint, (-pi, pi) for continuous joints."""
        lo, hi = self._limits[name].position
        if not math.isfinite(lo) or not math.isfinite(hi):
            return -math.pi, math.pi
        return lo, hi
