"""Configs stored by older checkpoints, brought to today's keys so that they still load."""

from __future__ import annotations

from m3po_learning.overrides import ConfigError

# Keys removed since format 1 checkpoints were written, and the value a missing model key had
# before it existed (so an older checkpoint rebuilds the networks it was trained with).
# planner.budget_ms: the time limit is a deadline the caller passes to act() (the controller's
# planner_budget_fraction, `m3po eval --budget-ms`), not a property of the model.
_REMOVED_KEYS = {"planner": ("optimism", "budget_ms")}
_LEGACY = {
    "model": {"out_norm": False, "init": "torch"},
    "planner": {"final_action": "mean"},
    "explore": {"planner": "anneal"},
    "policy": {"actor": "ppo"},
}


def upgrade_stored_config(data: dict) -> dict:
    """A config dict stored by an older checkpoint, brought to today's keys (a copy)."""
    if not isinstance(data, dict):
        raise ConfigError(f"stored config must be a mapping, got {type(data).__name__}")
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for section, keys in _REMOVED_KEYS.items():
        for k in keys:
            out.get(section, {}).pop(k, None)
    for section, values in _LEGACY.items():
        stored = out.setdefault(section, {})
        for k, v in values.items():
            stored.setdefault(k, v)
    return out
