"""Observation specs: each task's observation defined once, as named parts.

The env and the ROS controller both build observations through `ObservationSpec`, so a
controller that only sees `sensor_msgs/JointState` (by joint name, any order) and the task's
input topics (such as the `goal` point) reproduces the env's vector element for element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

_ONE_DOF = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
_KINDS = ("joint_sincos", "joint_pos", "joint_vel", "input", "frame_pos", "input_minus_frame")


@dataclass(frozen=True)
class ObsPart:
    """One named block of an observation vector."""

    name: str  # part name, e.g. "joint_vel"
    kind: str  # one of _KINDS
    joints: tuple[str, ...] = ()  # joints read by joint_* parts, in order
    source: str = ""  # input name for input / input_minus_frame parts
    frame: str = ""  # URDF link for frame_pos / input_minus_frame parts
    input_size: int = 3  # length of the input for input parts

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"ObsPart {self.name!r}: kind={self.kind!r} not in {_KINDS}")

    @property
    def layout(self) -> str:
        """This part in full, e.g. "q:joint_sincos(j1,j2)[4]": equal strings, equal blocks."""
        what = ",".join(self.joints) or self.source
        if self.frame:
            what = f"{what}-{self.frame}" if self.source else self.frame
        return f"{self.name}:{self.kind}({what})[{self.size}]"

    @property
    def size(self) -> int:
        """Length of this part's block.

        2 J for sincos, J for positions or velocities, input_size for inputs, 3 for frame
        positions and input-minus-frame differences.
        """
        if self.kind == "joint_sincos":
            return 2 * len(self.joints)
        if self.kind in ("joint_pos", "joint_vel"):
            return len(self.joints)
        if self.kind == "input":
            return self.input_size
        return 3


def joint_sincos(joints: Sequence[str], name: str = "joint_sincos") -> ObsPart:
    """Cos of each joint angle, then sin of each: (2 J,). Continuous angles, no wrap."""
    return ObsPart(name, "joint_sincos", joints=tuple(joints))


def joint_positions(joints: Sequence[str], name: str = "joint_pos") -> ObsPart:
    """Raw joint positions (rad or m): (J,)."""
    return ObsPart(name, "joint_pos", joints=tuple(joints))


def joint_velocities(joints: Sequence[str], name: str = "joint_vel") -> ObsPart:
    """Joint velocities (rad/s or m/s): (J,)."""
    return ObsPart(name, "joint_vel", joints=tuple(joints))


def task_input(source: str, size: int = 3, name: str | None = None) -> ObsPart:
    """A task input published by the task, e.g. the goal point: (size,)."""
    return ObsPart(name or source, "input", source=source, input_size=size)


def frame_position(frame: str, name: str | None = None) -> ObsPart:
    """World position of a URDF link by forward kinematics: (3,)."""
    return ObsPart(name or f"{frame}_pos", "frame_pos", frame=frame)


def input_minus_frame(source: str, frame: str, name: str | None = None) -> ObsPart:
    """Input point minus a link's world position, e.g. goal - end effector: (3,)."""
    return ObsPart(
        name or f"{source}_minus_{frame}", "input_minus_frame", source=source, frame=frame
    )


class Kinematics:
    """Forward kinematics of a URDF through MuJoCo's `mj_kinematics` (no dynamics)."""

    def __init__(self, urdf: Path, frames: Sequence[str], virtual_frames=()) -> None:
        spec = mujoco.MjSpec.from_file(str(urdf))
        spec.compiler.fusestatic = False
        if virtual_frames:
            from m3po_learning.envs.robot import add_virtual_frames

            add_virtual_frames(spec, virtual_frames, Path(urdf))
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.frame_ids = np.array([self.model.body(f).id for f in frames], np.intp)

    def chain_joints(self, frame: str) -> list[str]:
        """1-DoF joints between the root and `frame`, root first."""
        m = self.model
        body = m.body(frame).id
        names = []
        while body > 0:
            for j in range(m.body_jntadr[body], m.body_jntadr[body] + m.body_jntnum[body]):
                if j >= 0 and m.jnt_type[j] in _ONE_DOF:
                    names.append(m.joint(j).name)
            body = m.body_parentid[body]
        return names[::-1]

    def qpos_index(self, joints: Sequence[str]) -> np.ndarray:
        """The qpos addresses (J,) of `joints`, as `frames` takes them."""
        return np.array([self.model.joint(j).qposadr[0] for j in joints], np.intp)

    def frames(self, qpos_idx: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """World positions (F, 3) of the frames for joint `positions` at `qpos_idx`."""
        self.data.qpos[qpos_idx] = positions
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.xpos[self.frame_ids]


class ObservationWriter:
    """The one routine that lays out observations, bound to an output buffer.

    The env keeps one per buffer (no per-step slicing); `ObservationSpec.build` makes a fresh
    one. Both run `write`, so the controller's vector equals the env's bit for bit.
    """

    def __init__(self, program: list[tuple], out: np.ndarray) -> None:
        self.out = out
        ops = []
        for kind, a, m, b, arg in program:
            if kind == "joint_sincos":
                ops.append((kind, out[a:m], out[m:b], arg))
            else:
                ops.append((kind, out[a:m], None, arg))
        self._ops = ops

    def write(
        self,
        positions: np.ndarray,
        velocities: np.ndarray,
        frames: np.ndarray | None,
        inputs: Mapping[str, np.ndarray],
    ) -> np.ndarray:
        """Fill the bound buffer; same arguments as `ObservationSpec.assemble`."""
        for kind, view, view2, arg in self._ops:
            if kind == "joint_sincos":
                q = positions if arg is None else positions[arg]
                np.cos(q, out=view)
                np.sin(q, out=view2)
            elif kind == "joint_vel":
                view[:] = velocities if arg is None else velocities[arg]
            elif kind == "joint_pos":
                view[:] = positions if arg is None else positions[arg]
            elif kind == "input":
                view[:] = inputs[arg]
            elif kind == "frame_pos":
                view[:] = frames[arg]
            else:
                np.subtract(inputs[arg[0]], frames[arg[1]], out=view)
        return self.out


class ObservationSpec:
    """A task's observation as named parts, with one builder shared by env and controller.

    Attributes:
        parts: (name, size) of every part, in vector order.
        joint_names: joints whose positions/velocities the observation needs.
        input_names: task inputs it needs (e.g. "goal").
        obs_dim: total length.
    """

    def __init__(
        self,
        parts: Sequence[ObsPart],
        urdf: Path | None = None,
        task: str = "",
        virtual_frames=(),
    ) -> None:
        self.task = task
        self.part_defs = tuple(parts)
        self.urdf = urdf
        frames = []
        for p in self.part_defs:
            if p.frame and p.frame not in frames:
                frames.append(p.frame)
        self.frame_names: tuple[str, ...] = tuple(frames)
        self.kinematics = None
        joints: list[str] = []
        if frames:
            if urdf is None:
                raise ValueError(f"ObservationSpec {task!r}: frame parts need the robot's URDF")
            self.kinematics = Kinematics(urdf, frames, virtual_frames)
            for f in frames:
                joints += [j for j in self.kinematics.chain_joints(f) if j not in joints]
        self.position_joints = list(joints)
        velocity_joints: list[str] = []
        for p in self.part_defs:
            if p.kind in ("joint_sincos", "joint_pos"):
                self.position_joints += [j for j in p.joints if j not in self.position_joints]
            if p.kind == "joint_vel":
                velocity_joints += [j for j in p.joints if j not in velocity_joints]
        self.velocity_joints = velocity_joints
        self.joint_names: tuple[str, ...] = tuple(
            self.position_joints + [j for j in velocity_joints if j not in self.position_joints]
        )
        self.input_names: tuple[str, ...] = tuple(
            dict.fromkeys(p.source for p in self.part_defs if p.source)
        )
        self.input_sizes = {
            p.source: (p.input_size if p.kind == "input" else 3)
            for p in self.part_defs
            if p.source
        }
        self.parts: tuple[tuple[str, int], ...] = tuple((p.name, p.size) for p in self.part_defs)
        self.layout: tuple[str, ...] = tuple(p.layout for p in self.part_defs)
        self.obs_dim = sum(s for _, s in self.parts)
        if self.obs_dim <= 0:
            raise ValueError(f"ObservationSpec {task!r}: no observation parts")
        self._kin_qidx = (
            self.kinematics.qpos_index(self.position_joints[: len(joints)]) if frames else None
        )
        self._n_fk = len(joints)
        self._program = self._compile()

    def _compile(self) -> list[tuple]:
        """Per part: (kind, start, mid, end, joint index / frame index / input key)."""
        index = {j: i for i, j in enumerate(self.joint_names)}
        frame_index = {f: i for i, f in enumerate(self.frame_names)}
        program, start = [], 0
        for p in self.part_defs:
            end = start + p.size
            if p.kind in ("joint_sincos", "joint_pos", "joint_vel"):
                idx = np.array([index[j] for j in p.joints], np.intp)
                if np.array_equal(idx, np.arange(len(self.joint_names))):
                    idx = None  # the whole vector in order: no gather needed
                mid = start + len(p.joints)
                program.append((p.kind, start, mid, end, idx))
            elif p.kind == "input":
                program.append((p.kind, start, end, end, p.source))
            elif p.kind == "frame_pos":
                program.append((p.kind, start, end, end, frame_index[p.frame]))
            else:
                program.append((p.kind, start, end, end, (p.source, frame_index[p.frame])))
            start = end
        return program

    def writer(self, out: np.ndarray) -> ObservationWriter:
        """A writer bound to `out` (obs_dim,) float32, with every part's slice made once."""
        return ObservationWriter(self._program, out)

    def assemble(
        self,
        positions: np.ndarray,
        velocities: np.ndarray,
        frames: np.ndarray | None,
        inputs: Mapping[str, np.ndarray],
        out: np.ndarray,
    ) -> np.ndarray:
        """Write the observation into `out` (obs_dim,) float32 and return it.

        Args:
            positions: (J,) joint positions in `joint_names` order.
            velocities: (J,) joint velocities in `joint_names` order.
            frames: (F, 3) world positions of `frame_names`, or None if there are none.
            inputs: task inputs by name.
            out: (obs_dim,) float32 buffer the observation is written into.
        """
        self.writer(out).write(positions, velocities, frames, inputs)
        return out

    def forward_kinematics(self, positions: np.ndarray) -> np.ndarray | None:
        """(F, 3) frame positions for `positions` in `joint_names` order (None: no frames)."""
        if self.kinematics is None:
            return None
        return self.kinematics.frames(self._kin_qidx, positions[: self._n_fk])

    def build(
        self,
        positions: Mapping[str, float],
        velocities: Mapping[str, float],
        inputs: Mapping[str, np.ndarray],
    ) -> np.ndarray:
        """The observation (obs_dim,) float32 from joint readings by name and task inputs.

        `positions`/`velocities` map joint name to value (any order, extra joints ignored),
        as in a sensor_msgs/JointState; `inputs` maps input name (e.g. "goal") to an array.
        """
        missing = [j for j in self.position_joints if j not in positions]
        missing += [j for j in self.velocity_joints if j not in velocities]
        missing_inputs = [k for k in self.input_names if k not in inputs]
        if missing or missing_inputs:
            raise KeyError(
                f"observation for {self.task!r} needs joints {sorted(set(missing))} and inputs "
                f"{missing_inputs}, which were not given (have joints {sorted(positions)})"
            )
        p = np.array([positions.get(j, 0.0) for j in self.joint_names], np.float64)
        v = np.array([velocities.get(j, 0.0) for j in self.joint_names], np.float64)
        ins = {}
        for k in self.input_names:
            arr = np.asarray(inputs[k], np.float64).reshape(-1)
            if arr.shape[0] != self.input_sizes[k]:
                raise ValueError(
                    f"observation for {self.task!r}: input {k!r} has {arr.shape[0]} values, "
                    f"expected {self.input_sizes[k]}"
                )
            ins[k] = arr
        out = np.empty(self.obs_dim, np.float32)
        return self.assemble(p, v, self.forward_kinematics(p), ins, out)

    def to_dict(self) -> dict:
        """Plain description for checkpoint metadata."""
        return {
            "task": self.task,
            "parts": [list(p) for p in self.parts],
            "joint_names": list(self.joint_names),
            "input_names": list(self.input_names),
            "urdf": str(self.urdf) if self.urdf else None,
        }
