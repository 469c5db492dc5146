"""Frozen configuration dataclasses (the defaults), YAML overrides and dotted CLI overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m3po_learning.overrides import (
    ConfigError,
    apply_updates,
    dataclass_schema,
    merge,
    parse_overrides,
)
from m3po_learning.yaml_io import read_mapping, short_repr


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


# TD-MPC2 model sizes (REFERENCE_RESULTS.md); `model.preset` picks one, later keys override it.
MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"enc_dim": 128, "mlp_dim": 128, "latent_dim": 64, "num_q": 2, "task_dim": 16},
    "1M": {"enc_dim": 256, "mlp_dim": 384, "latent_dim": 128, "num_q": 2},
    "5M": {"enc_dim": 256, "mlp_dim": 512, "latent_dim": 512, "num_q": 5},
}


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes and heads of the world model, Q ensemble, V and policy."""

    preset: str = "1M"  # size preset name (tiny, 1M, 5M); its values are the defaults below
    enc_dim: int = 256  # encoder hidden width
    mlp_dim: int = 384  # hidden width of dynamics, reward, Q, V and policy heads
    latent_dim: int = 128  # latent size; a multiple of simnorm_dim
    num_enc_layers: int = 1  # encoder hidden layers (TD-MPC2: one)
    out_norm: bool = True  # LayerNorm before the SimNorm of encoder and dynamics (TD-MPC2)
    init: str = "trunc_normal"  # linear init: trunc_normal (std 0.02, TD-MPC2) or torch default
    simnorm_dim: int = 8  # SimNorm group size
    num_q: int = 2  # model-based Q ensemble size (K)
    dropout: float = 0.01  # dropout in the first layer of each Q head
    task_dim: int = 96  # task embedding size (0 disables embeddings)
    num_bins: int = 101  # two-hot bins for reward and values
    vmin: float = -10.0  # lowest bin (symlog space)
    vmax: float = 10.0  # highest bin (symlog space)
    log_std_min: float = -5.0  # policy log-std lower bound
    log_std_max: float = 1.0  # policy log-std upper bound
    log_std_init: float = -0.5  # policy log-std at initialisation (std ~0.6)
    world_model: bool = (
        True  # False: model-free baseline (no dynamics/reward/Q losses, no planning)
    )
    activation: str = "silu"  # hidden activation: silu (default, 3-4x cheaper on CPU) or mish

    def __post_init__(self) -> None:
        _check(
            self.preset in MODEL_PRESETS,
            f"model.preset={self.preset!r} not in {list(MODEL_PRESETS)}",
        )
        for name in (
            "enc_dim",
            "mlp_dim",
            "latent_dim",
            "simnorm_dim",  # before the divisibility check below
            "num_enc_layers",
            "num_q",
            "num_bins",
        ):
            _check(getattr(self, name) > 0, f"model.{name}={getattr(self, name)} must be > 0")
        _check(
            self.latent_dim % self.simnorm_dim == 0,
            f"model.latent_dim={self.latent_dim} not divisible by simnorm_dim={self.simnorm_dim}",
        )
        _check(
            self.activation in ("mish", "silu"),
            f"model.activation={self.activation!r} not in mish/silu",
        )
        _check(
            self.init in ("trunc_normal", "torch"),
            f"model.init={self.init!r} not in trunc_normal/torch",
        )
        _check(self.num_q >= 2, f"model.num_q={self.num_q} must be >= 2 (target uses min of 2)")
        _check(0.0 <= self.dropout < 1.0, f"model.dropout={self.dropout} not in [0, 1)")
        _check(self.task_dim >= 0, f"model.task_dim={self.task_dim} must be >= 0")
        _check(self.vmin < self.vmax, f"model.vmin={self.vmin} must be < vmax={self.vmax}")
        _check(
            self.log_std_min < self.log_std_init < self.log_std_max,
            f"model.log_std_init={self.log_std_init} not inside "
            f"({self.log_std_min}, {self.log_std_max})",
        )


@dataclass(frozen=True)
class PlannerConfig:
    """MPPI planner: horizon, samples, iterations and inference precision."""

    horizon: int = 3  # planning horizon H (also the world-model training horizon)
    num_samples: int = 512  # Gaussian samples N per iteration
    num_pi_trajs: int = 24  # policy proposal trajectories P
    iterations: int = 6  # MPPI iterations I
    num_elites: int = 64  # elites K
    temperature: float = 0.5  # MPPI temperature
    min_std: float = 0.05  # lower bound of the sampling std
    max_std: float = 2.0  # initial / upper bound of the sampling std
    # inference precision: auto (bf16 on CUDA and CPUs with AMX/AVX512-BF16, else fp32),
    # float32 or bfloat16
    dtype: str = "auto"
    # executed action: "elite" draws one elite by its MPPI weight (TD-MPC2), "mean" takes the
    # final sampling mean; in training either gets the final std as noise
    final_action: str = "elite"

    def __post_init__(self) -> None:
        for name in ("horizon", "num_samples", "iterations", "num_elites"):
            _check(getattr(self, name) > 0, f"planner.{name}={getattr(self, name)} must be > 0")
        _check(self.num_pi_trajs >= 0, f"planner.num_pi_trajs={self.num_pi_trajs} must be >= 0")
        _check(
            self.num_elites <= self.num_samples + self.num_pi_trajs,
            f"planner.num_elites={self.num_elites} exceeds num_samples + num_pi_trajs "
            f"= {self.num_samples + self.num_pi_trajs}",
        )
        _check(self.temperature > 0, f"planner.temperature={self.temperature} must be > 0")
        _check(
            0 < self.min_std <= self.max_std,
            f"planner std bounds min_std={self.min_std}, max_std={self.max_std} invalid",
        )
        _check(
            self.dtype in ("auto", "float32", "bfloat16"),
            f"planner.dtype={self.dtype!r} not in auto/float32/bfloat16",
        )
        _check(
            self.final_action in ("elite", "mean"),
            f"planner.final_action={self.final_action!r} not in elite/mean",
        )


@dataclass(frozen=True)
class OptimConfig:
    """World-model optimisation: learning rates, clipping, batch size and horizon weighting."""

    lr: float = 3e-4  # Adam learning rate
    enc_lr_scale: float = 0.3  # encoder learning rate multiplier
    grad_clip: float = 20.0  # gradient-norm clip
    batch_size: int = 256  # sub-trajectories per world-model update
    rho: float = 0.5  # temporal weight rho^t of the world-model losses
    consistency_coef: float = 20.0  # latent consistency loss weight
    reward_coef: float = 0.1  # reward loss weight
    value_coef: float = 0.1  # Q loss weight
    tau: float = 0.01  # Polyak rate of the target Q network
    v_coef: float = 1.0  # model-free critic loss weight
    amp_bf16: bool = True  # bf16 autocast in updates where the device has bf16 units, else fp32

    def __post_init__(self) -> None:
        _check(self.lr > 0, f"optim.lr={self.lr} must be > 0")
        _check(self.batch_size > 0, f"optim.batch_size={self.batch_size} must be > 0")
        _check(0 < self.rho <= 1, f"optim.rho={self.rho} not in (0, 1]")
        _check(0 < self.tau <= 1, f"optim.tau={self.tau} not in (0, 1]")
        _check(self.grad_clip > 0, f"optim.grad_clip={self.grad_clip} must be > 0")


@dataclass(frozen=True)
class ExplorationConfig:
    """Exploration bonus (weight, clip, annealing) and who acts in training episodes."""

    # weight of the normalised |Q_MF - Q_MB| bonus, an intrinsic reward in the Q target (and,
    # with policy.actor=ppo, in the advantage); 0 disables it
    beta0: float = 0.1
    clip: float = 1.0  # bonus b = clip(eps / RMS_task(eps), 0, c): the clip c (D)
    anneal_frac: float = 0.5  # beta decays linearly to 0 over this fraction of training (D)
    bonus_tau: float = 0.01  # rate of the per-task running RMS that normalises epsilon
    # who acts in training: "gap" (planner unless the measured policy return has caught up),
    # "anneal" (planner share 1 -> alpha_min over alpha_anneal_frac), "always", "never"
    planner: str = "gap"
    gap_tolerance: float = 0.05  # the policy has caught up within this fraction of |G_plan|
    gap_window: int = 5  # episodes per task and actor in the measured returns
    probe_frac: float = 0.1  # share of episodes given to the other actor to keep measuring
    alpha_min: float = 0.1  # "anneal": final planner share (probability the planner acts) (D)
    alpha_anneal_frac: float = 0.5  # "anneal": share goes 1 -> alpha_min over this fraction
    qmb_rollout: int = 1  # (D) latent steps under pi for Q_MB (1 = R + gamma V(d(z,a)))

    def __post_init__(self) -> None:
        _check(self.beta0 >= 0, f"explore.beta0={self.beta0} must be >= 0")
        _check(self.clip > 0, f"explore.clip={self.clip} must be > 0")
        _check(0 < self.anneal_frac <= 1, f"explore.anneal_frac={self.anneal_frac} not in (0, 1]")
        _check(0 <= self.alpha_min <= 1, f"explore.alpha_min={self.alpha_min} not in [0, 1]")
        _check(
            0 < self.alpha_anneal_frac <= 1,
            f"explore.alpha_anneal_frac={self.alpha_anneal_frac} not in (0, 1]",
        )
        _check(self.qmb_rollout >= 1, f"explore.qmb_rollout={self.qmb_rollout} must be >= 1")
        _check(0 < self.bonus_tau <= 1, f"explore.bonus_tau={self.bonus_tau} not in (0, 1]")
        _check(
            self.planner in ("gap", "anneal", "always", "never"),
            f"explore.planner={self.planner!r} not in gap/anneal/always/never",
        )
        _check(self.gap_tolerance >= 0, f"explore.gap_tolerance={self.gap_tolerance} < 0")
        _check(self.gap_window >= 1, f"explore.gap_window={self.gap_window} must be >= 1")
        _check(0 <= self.probe_frac < 1, f"explore.probe_frac={self.probe_frac} not in [0, 1)")


@dataclass(frozen=True)
class PolicyConfig:
    """The actor (trust-region or ppo) and its update settings."""

    # "trust_region": off-policy, every update step, max Q(z, pi(z)) / S + entropy on the world
    # model's latents inside a KL bound; "ppo": the clipped-ratio update on the last segment
    actor: str = "trust_region"
    # trust_region: KL(pi_old || pi) <= target_kl per step, by backtracking the step;
    # ppo: clipped ratio with KL early stop. False: no bound (plain gradient in ppo)
    trust_region: bool = True
    target_kl: float = 0.1  # KL bound per update (trust_region) / early stop per epoch (ppo)
    backtrack_steps: int = 8  # trust_region: halvings of a step that breaks the bound
    actor_entropy_coef: float = 1e-4  # trust_region: weight of the entropy estimate -log pi
    q_scale_tau: float = 0.01  # trust_region: rate of the running Q scale S (5-95 percentile)
    clip_eps: float = 0.2  # ppo: ratio clip epsilon
    epochs: int = 4  # ppo: passes over the recent segment
    minibatch_size: int = 256  # ppo: samples per policy minibatch
    entropy_coef: float = 1e-3  # ppo: entropy bonus c_H
    gae_lambda: float = 0.95  # lambda of the V targets (and of GAE in ppo)
    lr: float = 3e-4  # policy learning rate
    mb_coef: float = 0.0  # (D) weight of the model-based term -Q(z, pi(z)) / S; 0 = off
    max_ratio_log: float = (
        5.0  # clamp of log rho before exp, keeps off-policy planner actions finite
    )

    def __post_init__(self) -> None:
        _check(
            self.actor in ("trust_region", "ppo"),
            f"policy.actor={self.actor!r} not in trust_region/ppo",
        )
        _check(self.backtrack_steps >= 0, f"policy.backtrack_steps={self.backtrack_steps} < 0")
        _check(0 < self.q_scale_tau <= 1, f"policy.q_scale_tau={self.q_scale_tau} not in (0, 1]")
        _check(0 < self.clip_eps < 1, f"policy.clip_eps={self.clip_eps} not in (0, 1)")
        _check(self.target_kl > 0, f"policy.target_kl={self.target_kl} must be > 0")
        _check(self.epochs > 0, f"policy.epochs={self.epochs} must be > 0")
        _check(self.minibatch_size > 0, f"policy.minibatch_size={self.minibatch_size} must be > 0")
        _check(0 <= self.gae_lambda <= 1, f"policy.gae_lambda={self.gae_lambda} not in [0, 1]")
        _check(self.mb_coef >= 0, f"policy.mb_coef={self.mb_coef} must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop: tasks, step budget, seeding, update ratio, evaluation, outputs."""

    tasks: tuple[str, ...] = ("default",)  # task names and/or task-set names (config/tasks/)
    steps: int = 20_000  # total environment (agent) steps over all tasks
    seed: int = 1  # global seed
    # random-action steps before updates start, over all tasks; -1: TD-MPC2's
    # max(1000, 5 episodes) per task
    seed_steps: int = -1
    pretrain_updates: int = -1  # updates when seeding ends (-1: as many as seed steps x utd)
    segment_steps: int = 64  # steps per env between logs (and ppo's "recent segment")
    utd: float = 1.0  # world-model updates per agent step
    buffer_size: int = 1_000_000  # replay capacity in transitions
    eval_every: int = 5_000  # agent steps between evaluations (0 = only at the end)
    eval_episodes: int = 2  # episodes per task per evaluation
    final_eval: bool = True  # evaluate once more when training ends
    checkpoint_every: int = 5_000  # agent steps between checkpoints
    out_dir: str = "runs/m3po"  # run directory: checkpoints, metrics.csv, tensorboard
    device: str = "auto"  # auto: CUDA when present, else CPU
    num_threads: int = 0  # torch intra-op threads on CPU; 0: auto (idle cores, at most 2)
    randomize: bool = False  # domain randomisation during training
    envelope: bool = True  # act inside the robot's velocity limits and the controller's
    # safety limits (rate, position margin), as deployed (m3po_learning.envelope)
    tensorboard: bool = True  # also log to TensorBoard
    robots: tuple[str, ...] = ()  # bring-your-own robot tasks as "path/to/robot.urdf:reach|track"

    def __post_init__(self) -> None:
        _check(len(self.tasks) + len(self.robots) > 0, "train.tasks and train.robots are empty")
        _check(self.steps > 0, f"train.steps={self.steps} must be > 0")
        _check(self.seed_steps >= -1, f"train.seed_steps={self.seed_steps} must be >= -1")
        _check(
            self.pretrain_updates >= -1,
            f"train.pretrain_updates={self.pretrain_updates} must be >= -1",
        )
        _check(self.segment_steps > 1, f"train.segment_steps={self.segment_steps} must be > 1")
        _check(self.utd >= 0, f"train.utd={self.utd} must be >= 0")
        _check(self.buffer_size > 0, f"train.buffer_size={self.buffer_size} must be > 0")
        _check(self.eval_episodes > 0, f"train.eval_episodes={self.eval_episodes} must be > 0")
        _check(self.num_threads >= 0, f"train.num_threads={self.num_threads} must be >= 0")
        for r in self.robots:
            _check(":" in r, f"train.robots entry {r!r} is not 'path/to/robot.urdf:TASK'")
        _check(
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            f"train.device={self.device!r} not in auto/cpu/cuda[:N]",
        )


@dataclass(frozen=True)
class FinetuneConfig:
    """Schedule of an offline fine-tuning run (`m3po finetune`, the learner node's bags)."""

    steps: int = 500  # world-model (and Q) gradient steps
    batch_size: int = 0  # sub-trajectories per step; 0 = optim.batch_size
    policy_every: int = 25  # ppo: world-model steps between policy updates; 0 = never
    policy_windows: int = 16  # ppo: sub-trajectories (N) per policy segment
    policy_window_steps: int = 32  # ppo: steps (T) per policy sub-trajectory
    holdout_frac: float = 0.2  # fraction of each episode held out (in blocks) for evaluation
    holdout_block: int = 25  # transitions per held-out block
    max_eval_windows: int = 4096  # held-out windows evaluated (evenly spaced when more)
    seed: int = 0  # sampling seed

    def __post_init__(self) -> None:
        _check(self.steps >= 0, f"finetune.steps={self.steps} must be >= 0")
        _check(
            0.0 <= self.holdout_frac < 1.0,
            f"finetune.holdout_frac={self.holdout_frac} not in [0, 1)",
        )
        _check(self.holdout_block > 0, f"finetune.holdout_block={self.holdout_block} must be > 0")
        for name in (
            "batch_size",
            "policy_every",
            "policy_windows",
            "policy_window_steps",
            "max_eval_windows",
        ):
            _check(getattr(self, name) >= 0, f"finetune.{name}={getattr(self, name)} must be >= 0")


@dataclass(frozen=True)
class Config:
    """The whole configuration, one frozen section per part of the system."""

    model: ModelConfig = field(default_factory=ModelConfig)  # networks
    planner: PlannerConfig = field(default_factory=PlannerConfig)  # MPPI
    optim: OptimConfig = field(default_factory=OptimConfig)  # world-model optimisation
    explore: ExplorationConfig = field(default_factory=ExplorationConfig)  # bonus, planner share
    policy: PolicyConfig = field(default_factory=PolicyConfig)  # trust-region policy update
    train: TrainConfig = field(default_factory=TrainConfig)  # loop schedule
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # offline, from rosbags

    def __post_init__(self) -> None:
        _check(
            self.model.world_model or self.policy.actor == "ppo",
            "model.world_model=false (model-free baseline) needs policy.actor=ppo: the "
            "trust-region actor maximises the world model's Q",
        )

    def to_dict(self) -> dict:
        """Nested plain dict of every section and field (what checkpoints store)."""
        return dataclasses.asdict(self)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults <- YAML file <- dotted overrides <- `values`, validated once, at the end.

    Args:
        path: a YAML file of overrides of the defaults; it may `inherit:` another file.
        overrides: dotted KEY=VALUE strings (values parsed as YAML), e.g. from the CLI.
        values: nested {section: {key: value}} already in Python types (lists for tuple
            fields), applied last: what a front end sets from its own options.

    Raises:
        ConfigError: a missing or malformed file, an unknown key or a bad value (named).
    """
    data: dict = {}
    if path is not None:
        data = read_yaml_config(Path(path))
    data = merge(data, parse_overrides(overrides or []))
    data = merge(data, dict(values or {}))
    return config_from_dict(data)


def read_yaml_config(path: Path, _seen: tuple = ()) -> dict:
    """The overrides in the YAML file `path`, merged over the file it `inherit:`s, if any.

    Unknown keys are refused here, naming the file and the key; `inherit` must be a file
    name (relative to `path`'s directory).
    """
    try:
        exists = path.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ConfigError(f"config file {short_repr(str(path))} cannot be read: {exc}") from exc
    if not exists:
        raise ConfigError(f"config file {path} does not exist")
    if path.resolve() in _seen:
        raise ConfigError(f"config file {path} inherits itself")
    known = {**dataclass_schema(Config), "inherit": None}
    data = read_mapping(path, known, what="config file", error=ConfigError)
    parent = data.pop("inherit", None)
    if parent:
        if not isinstance(parent, str):
            raise ConfigError(
                f"config file {path}: inherit must be a file name, got {short_repr(parent)}"
            )
        base = read_yaml_config(path.parent / parent, (*_seen, path.resolve()))
        data = merge(base, data)
    return data


def config_from_dict(data: Mapping) -> Config:
    """The defaults with the nested `data` applied; a missing section keeps its defaults."""
    return apply_updates(Config(), data, "", presets={"model": MODEL_PRESETS})
