"""Domain randomisation per episode and named reality-gap variants, configured in YAML.

Every field takes either a number (fixed) or `[low, high]` (drawn uniformly per episode;
scales are drawn per body / joint / motor). See config/randomization/*.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import mujoco
import numpy as np

from m3po_learning.envs.paths import config_dir
from m3po_learning.yaml_io import read_mapping

Range = tuple[float, float]


def _as_range(name: str, value: object, source: str) -> Range:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
        if lo <= hi:
            return lo, hi
    raise ValueError(f"randomization {source}: {name}={value!r} must be a number or [low, high]")


@dataclass(frozen=True)
class Randomization:
    """Physics and sensor perturbations applied at every reset."""

    mass_scale: Range = (1.0, 1.0)  # multiplies each body's mass and inertia (per body)
    friction_scale: Range = (1.0, 1.0)  # multiplies joint dry friction (per joint)
    damping_scale: Range = (1.0, 1.0)  # multiplies joint viscous damping (per joint)
    actuator_gain_scale: Range = (1.0, 1.0)  # multiplies motor torque per unit action (per motor)
    position_noise_std: Range = (0.0, 0.0)  # joint position sensor noise std, rad or m
    velocity_noise_std: Range = (0.0, 0.0)  # joint velocity sensor noise std, rad/s or m/s
    action_delay_s: Range = (0.0, 0.0)  # actuation latency, s (rounded to physics steps)

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = getattr(self, f.name)
            if lo < 0 or hi < lo:
                raise ValueError(
                    f"Randomization: {f.name}=({lo}, {hi}) must satisfy 0 <= lo <= hi"
                )

    @classmethod
    def from_mapping(cls, data: Mapping, source: str = "<dict>") -> Randomization:
        """Build from a mapping of field -> number or [low, high] (e.g. a YAML section).

        `source` names where `data` came from in error messages. Raises ValueError on an
        unknown key or a bad range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"randomization {source}: unknown keys {unknown}; known: {sorted(known)}"
            )
        return cls(**{k: _as_range(k, v, source) for k, v in data.items()})

    @property
    def noisy(self) -> bool:
        """True when position or velocity sensor noise can be non-zero."""
        return self.position_noise_std[1] > 0 or self.velocity_noise_std[1] > 0

    def merged(self, other: Randomization) -> Randomization:
        """`self` with every field that `other` changes from the default replaced by `other`'s."""
        default = Randomization()
        kw = {
            f.name: getattr(other, f.name)
            if getattr(other, f.name) != getattr(default, f.name)
            else getattr(self, f.name)
            for f in fields(self)
        }
        return Randomization(**kw)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"randomization file {str(path)!r} does not exist")
    return read_mapping(path, what="randomization file")


def load_randomization(config: bool | str | Path | Mapping | None) -> Randomization | None:
    """`True` -> config/randomization/default.yaml; a path or a name in that directory; a dict."""
    if config is None or config is False:
        return None
    if config is True:
        config = "default"
    if isinstance(config, Mapping):
        return Randomization.from_mapping(config)
    path = Path(config)
    if not path.suffix:
        path = config_dir() / "randomization" / f"{config}.yaml"
    return Randomization.from_mapping(_read_yaml(path), source=str(path))


def reality_gap_variants() -> dict[str, Randomization]:
    """Named evaluation-only variants from config/randomization/reality_gap.yaml."""
    path = config_dir() / "randomization" / "reality_gap.yaml"
    data = _read_yaml(path)
    return {name: Randomization.from_mapping(v, f"{path}:{name}") for name, v in data.items()}


def load_reality_gap(name: str) -> Randomization:
    """The named reality-gap variant (e.g. "heavy", "delayed", "noisy", "all")."""
    variants = reality_gap_variants()
    if name not in variants:
        raise KeyError(f"unknown reality-gap variant {name!r}; known: {sorted(variants)}")
    return variants[name]


class Randomizer:
    """Applies a `Randomization` to one MjModel, remembering its nominal parameters."""

    def __init__(self, model: mujoco.MjModel, config: Randomization, dof_idx: np.ndarray) -> None:
        self.model = model
        self.config = config
        self.dof_idx = dof_idx  # robot joint DoFs whose friction and damping are perturbed
        self.mass = model.body_mass.copy()
        self.inertia = model.body_inertia.copy()
        self.friction = model.dof_frictionloss.copy()
        self.damping = model.dof_damping.copy()
        self.gear = model.actuator_gear[:, 0].copy()

    def apply(self, rng: np.random.Generator, data: mujoco.MjData) -> dict[str, float]:
        """Draw new parameters into the model; returns the per-episode scalars drawn."""
        c, m = self.config, self.model
        nb, nd, nu = m.nbody, len(self.dof_idx), m.nu
        mass = rng.uniform(*c.mass_scale, nb)
        m.body_mass[:] = self.mass * mass
        m.body_inertia[:] = self.inertia * mass[:, None]
        m.dof_frictionloss[self.dof_idx] = self.friction[self.dof_idx] * rng.uniform(
            *c.friction_scale, nd
        )
        m.dof_damping[self.dof_idx] = self.damping[self.dof_idx] * rng.uniform(
            *c.damping_scale, nd
        )
        m.actuator_gear[:, 0] = self.gear * rng.uniform(*c.actuator_gain_scale, nu)
        # Derived constants (subtree masses, constraint scaling) follow the new masses.
        mujoco.mj_setConst(m, data)
        return {
            "position_noise_std": float(rng.uniform(*c.position_noise_std)),
            "velocity_noise_std": float(rng.uniform(*c.velocity_noise_std)),
            "action_delay_s": float(rng.uniform(*c.action_delay_s)),
        }
