"""Putting a bag's topics on one clock and onto the controller's ticks (pure numpy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timeline:
    """One topic's messages on the common clock, sorted, duplicates removed."""

    t: np.ndarray  # (M,) seconds since the bag's first message, ascending, unique
    values: np.ndarray  # (M, D) rows in the same order
    clock: str  # "stamp" (header stamps mapped to the receive clock) or "receive"
    out_of_order: int  # messages that arrived out of time order
    duplicates: int  # messages dropped for sharing a time with a later one


def to_common_clock(
    log_ns: np.ndarray, stamp_ns: np.ndarray, t0_ns: int
) -> tuple[np.ndarray, str]:
    """Message times in seconds on the receive (log) clock, from header stamps where present.

    Header stamps are measurement times without transport jitter, but they may run on
    another clock (sim time from /clock, a robot's own clock). They are mapped onto the
    receive clock by a robust straight-line fit receive ~ a * stamp + b over the topic's
    messages, which absorbs a constant offset (latency, clock epoch) and a rate difference
    (a simulator slower than real time); b is then lowered to the fit's 1% residual quantile
    (the fastest deliveries). Messages without a stamp keep their receive time.
    """
    rel_log = (log_ns - t0_ns).astype(np.float64) * 1e-9
    has = stamp_ns > 0
    if has.sum() < max(2, len(stamp_ns) // 2):
        return rel_log, "receive"
    s0 = int(stamp_ns[has][0])
    x = (stamp_ns[has] - s0).astype(np.float64) * 1e-9
    y = rel_log[has]
    a, b = 1.0, float(np.median(y - x))
    if np.ptp(x) > 0:
        keep = np.ones(len(x), bool)
        for _ in range(2):  # fit, drop outliers (delivery hiccups), refit
            a_fit, b_fit = np.polyfit(x[keep], y[keep], 1)
            resid = y - (a_fit * x + b_fit)
            mad = np.median(np.abs(resid - np.median(resid))) + 1e-4
            keep = np.abs(resid - np.median(resid)) < 6 * mad
            if keep.sum() < 2:
                break
        if 0.2 < a_fit < 5.0:
            a, b = float(a_fit), float(b_fit)
    # Lower envelope, not the mean: a stamped message is placed at the earliest time it could
    # have arrived, so a command is never paired with a state that reached the controller
    # after the command was sent (causality), whatever the delivery jitter.
    b += float(np.quantile(y - (a * x + b), 0.01))
    t = rel_log.copy()
    t[has] = a * ((stamp_ns[has] - s0).astype(np.float64) * 1e-9) + b
    return t, "stamp"


def timeline(log_ns: np.ndarray, stamp_ns: np.ndarray, values: np.ndarray, t0_ns: int) -> Timeline:
    """Sort a topic by its common-clock time (stable) and keep the last of equal times."""
    t, clock = to_common_clock(log_ns, stamp_ns, t0_ns)
    out_of_order = int((np.diff(t) < 0).sum()) if len(t) > 1 else 0
    order = np.argsort(t, kind="stable")
    t, values = t[order], values[order]
    last = np.ones(len(t), bool)
    if len(t) > 1:
        last[:-1] = np.diff(t) > 0
    return Timeline(t[last], values[last], clock, out_of_order, int((~last).sum()))


@dataclass(frozen=True)
class Ticks:
    """The controller's ticks and, per tick, which message of each topic was current."""

    t: np.ndarray  # (K,) tick times, seconds
    command: np.ndarray  # (K,) index of the command in force at each tick
    state: np.ndarray  # (K,) index of the latest joint state at or before each tick (-1: none)
    inputs: dict[str, np.ndarray]  # input name -> (K,) index of the latest input (-1: none)
    valid: np.ndarray  # (K,) bool: all data present and fresh
    starts_run: np.ndarray  # (K,) bool: a new episode must start at this tick
    period_s: float  # nominal tick period
    max_gap_s: float  # gap that splits episodes


def _latest(times: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    return np.searchsorted(times, ticks, side="right") - 1


def align_ticks(
    command_t: np.ndarray,
    state_t: np.ndarray,
    input_t: Mapping[str, np.ndarray],
    split_t: np.ndarray,
    rate_hz: float | None = None,
    max_gap_s: float | None = None,
    gap_periods: float = 4.0,
) -> Ticks:
    """Controller ticks from the command stream (or a fixed rate) and what each tick saw.

    With `rate_hz` None the ticks are the recorded commands themselves (the bag's own rate);
    otherwise ticks fall every 1/rate_hz seconds over the commands' span and the action at a
    tick is the last command sent before it (the forward-command controller holds it).
    The observation at a tick is built from the newest joint state and inputs at or before it.
    A tick is invalid if its joint state or command is older than `max_gap_s` (default
    `gap_periods` tick periods); a new episode starts after any invalid tick, any gap longer
    than `max_gap_s` between ticks, and any message on a split topic.
    """
    if len(command_t) == 0:
        raise ValueError("no commands to align on")
    if rate_hz is None:
        ticks = command_t.copy()
        cmd = np.arange(len(ticks))
        diffs = np.diff(ticks)
        period = float(np.median(diffs)) if len(diffs) else 0.0
    else:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz={rate_hz} must be > 0")
        period = 1.0 / rate_hz
        ticks = np.arange(command_t[0], command_t[-1] + 0.5 * period, period)
        cmd = _latest(command_t, ticks)
    gap = max_gap_s if max_gap_s is not None else max(gap_periods * period, 1e-3)
    state = _latest(state_t, ticks)
    valid = state >= 0
    valid &= ticks - state_t[np.maximum(state, 0)] <= gap
    valid &= ticks - command_t[np.maximum(cmd, 0)] <= gap
    inputs = {}
    for name, times in input_t.items():
        idx = _latest(times, ticks)
        inputs[name] = idx
        valid &= idx >= 0
    starts = np.zeros(len(ticks), bool)
    if len(ticks):
        starts[0] = True
        starts[1:] |= np.diff(ticks) > gap
        starts[1:] |= ~valid[:-1]
        if len(split_t):
            # a split message in (t[k-1], t[k]] means tick k belongs to a new episode
            n_before = np.searchsorted(split_t, ticks, side="right")
            starts[1:] |= np.diff(n_before) > 0
    return Ticks(ticks, cmd, state, inputs, valid, starts, period, gap)


def runs(starts: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [begin, end) index ranges of consecutive valid ticks with no start inside."""
    out, begin = [], None
    for k in range(len(valid)):
        if not valid[k]:
            if begin is not None:
                out.append((begin, k))
            begin = None
            continue
        if begin is None:
            begin = k
        elif starts[k]:
            out.append((begin, k))
            begin = k
    if begin is not None:
        out.append((begin, len(valid)))
    return out
