"""The M3PO agent: networks, optimisers and train-time state.

Acting lives in acting.py, the off-policy updates in updates.py, the first version's segment
actor in ppo_actor.py.
"""

from __future__ import annotations

import copy
import logging

import torch

from m3po_learning.acting import ActingMixin, ActOutput, PlannerSchedule
from m3po_learning.config import Config
from m3po_learning.fused_model import FusedLatentModel
from m3po_learning.planner import MPPIPlanner
from m3po_learning.ppo_actor import PPOActorMixin, Segment
from m3po_learning.types import EnvSpec
from m3po_learning.updates import BonusNormalizer, RunningScale, UpdateMixin
from m3po_learning.world_model import WorldModel

__all__ = ["ActOutput", "M3POAgent", "Segment", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """Torch device for `name`: "auto" is CUDA when available, else CPU; others as given.

    Raises:
        RuntimeError: a "cuda..." device was asked for but CUDA is not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} requested but CUDA is not available")
    return torch.device(name)


def _cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matmul units (Intel AMX-BF16 or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class M3POAgent(ActingMixin, UpdateMixin, PPOActorMixin):
    """One agent for many tasks. Train-time state lives here; networks live in WorldModel."""

    def __init__(self, cfg: Config, specs: list[EnvSpec], device: str | torch.device = "auto"):
        self.cfg = cfg
        self.specs = list(specs)
        self.tasks = [s.task for s in specs]
        self.task_index = {t: i for i, t in enumerate(self.tasks)}
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = WorldModel(cfg.model, self.specs).to(self.device)
        self.obs_dim, self.action_dim = self.model.obs_dim, self.model.action_dim
        self.planner = MPPIPlanner(cfg.planner, self.action_dim, self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.train.seed)
        self.schedule = PlannerSchedule(
            cfg.explore, len(self.tasks), cfg.model.world_model, cfg.train.seed
        )
        self.act_dtype = self._pick_act_dtype(cfg.planner.dtype)
        # bf16 autocast in updates only where bf16 matmuls are native (fp32 master weights).
        self.amp_bf16 = cfg.optim.amp_bf16 and self._pick_act_dtype("auto") == torch.bfloat16
        self._act_model: WorldModel | None = None
        self._fused: FusedLatentModel | None = None
        self._act_dirty = True
        self._prev_mean: dict[int, torch.Tensor] = {}  # warm starts, keyed by env slot
        self._last_zs: torch.Tensor | None = None  # latents of the last world-model batch
        self._progress = 0.0  # fraction of training done, drives annealing
        self.q_scale = RunningScale(cfg.policy.q_scale_tau)  # S of the actor objective
        self.bonus_norm = BonusNormalizer(len(self.tasks), cfg.explore.bonus_tau, self.device)
        self._build_optimizers()

    # -- set-up ---------------------------------------------------------------------------------
    def _pick_act_dtype(self, name: str) -> torch.dtype:
        if name == "float32":
            return torch.float32
        if name == "bfloat16":
            return torch.bfloat16
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if _cpu_has_bf16() else torch.float32

    def _build_optimizers(self) -> None:
        m, o = self.model, self.cfg.optim
        enc = [p for n, p in m.world_model_parameters() if n.startswith("encoder.")]
        rest = [p for n, p in m.world_model_parameters() if not n.startswith("encoder.")]
        self.wm_optim = torch.optim.Adam(
            [{"params": enc, "lr": o.lr * o.enc_lr_scale}, {"params": rest, "lr": o.lr}],
            lr=o.lr,
            foreach=True,
        )
        lr = self.cfg.policy.lr
        if self.cfg.policy.actor == "trust_region":
            self.pi_optim = torch.optim.Adam(m.pi.parameters(), lr=lr, eps=1e-5, foreach=True)
            self.v_optim = torch.optim.Adam(m.v.parameters(), lr=o.lr, foreach=True)
            return
        self.v_optim = None
        mf_params = list(m.pi.parameters()) + list(m.v.parameters())
        if not self.cfg.model.world_model:
            # Model-free baseline: the encoder and task embedding learn from the actor-critic loss.
            mf_params += list(m.encoder.parameters())
            if m.task_emb is not None:
                mf_params += list(m.task_emb.parameters())
        self.pi_optim = torch.optim.Adam(mf_params, lr=lr, foreach=True)

    @property
    def progress(self) -> float:
        """Fraction of training done, in [0, 1]; setting it also moves the planner schedule."""
        return self._progress

    @progress.setter
    def progress(self, value: float) -> None:
        self._progress = float(value)
        self.schedule.progress = self._progress

    @property
    def beta(self) -> float:
        """Weight of the exploration bonus now (annealed linearly to 0)."""
        e = self.cfg.explore
        if not self.cfg.model.world_model:
            return 0.0
        return e.beta0 * max(0.0, 1.0 - self.progress / e.anneal_frac)

    def act_model(self) -> WorldModel:
        """Inference copy of the model in the acting precision, refreshed after updates."""
        self._refresh_inference()
        return self.model if self._act_model is None else self._act_model

    def planning_model(self) -> FusedLatentModel:
        """The fused, planning-only view of the acting model."""
        self._refresh_inference()
        return self._fused

    def _refresh_inference(self) -> None:
        if not self._act_dirty and self._fused is not None:
            return
        if self.act_dtype != torch.float32:
            if self._act_model is None:
                self._act_model = copy.deepcopy(self.model).to(self.act_dtype).eval()
                self._act_model.requires_grad_(False)
            else:
                with torch.no_grad():
                    for dst, src in zip(
                        self._act_model.parameters(), self.model.parameters(), strict=True
                    ):
                        dst.copy_(src)
        if self._fused is None:
            self._fused = FusedLatentModel(self.model, self.act_dtype)
        else:
            self._fused.refresh()
        self._act_dirty = False

    # -- state for checkpoints ------------------------------------------------------------------
    def optimizer_state(self) -> dict:
        """State dicts of the optimisers for a checkpoint: "wm", "pi" and, if present, "v"."""
        out = {"wm": self.wm_optim.state_dict(), "pi": self.pi_optim.state_dict()}
        if self.v_optim is not None:
            out["v"] = self.v_optim.state_dict()
        return out

    def load_optimizer_state(self, state: dict) -> None:
        """Restore `optimizer_state()` output.

        The policy (and V) optimiser state is skipped with a warning when it does not fit, as
        with a checkpoint of the other actor kind; the world-model optimiser must fit.
        """
        self.wm_optim.load_state_dict(state["wm"])
        try:
            self.pi_optim.load_state_dict(state["pi"])
            if self.v_optim is not None and "v" in state:
                self.v_optim.load_state_dict(state["v"])
        except (ValueError, KeyError) as exc:
            # A checkpoint of the other actor kind groups its parameters differently.
            log.warning("policy optimiser state not restored (%s); it starts fresh", exc)

    def mark_weights_changed(self) -> None:
        """Flag the acting copies as stale so the next act refreshes them from the model."""
        self._act_dirty = True
