"""Torch CPU threads that stay fast beside other CPU-bound processes.

Measured on the 2-core machines here: with two intra-op threads, training fell from 9.7 to
under 0.3 agent steps/s and one act() went from 19 ms to 2.5 s as soon as another CPU-bound
process ran (OpenMP threads spin at their barriers and wait on a core that is busy). One thread
per idle core avoids that; `pick_num_threads(0)` counts the idle cores.
"""

from __future__ import annotations

import logging
import os
import time

import torch

log = logging.getLogger(__name__)

MAX_AUTO_THREADS = 2  # more intra-op threads do not pay for the small matmuls of a 1M-5M agent


Sample = tuple[float, float, float, float]  # (monotonic s, busy jiffies, all jiffies, own cpu s)


def _sample() -> Sample | None:
    """The machine's busy and total jiffies from /proc/stat, and this process's CPU time."""
    try:
        with open("/proc/stat") as f:
            parts = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(parts) < 4:
        return None
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)
    return time.monotonic(), sum(parts) - idle, sum(parts), sum(os.times()[:2])


def _other_cores(s0: Sample, s1: Sample) -> float | None:
    """Cores kept busy by *other* processes between two samples (None: nothing elapsed)."""
    (t0, b0, j0, o0), (t1, b1, j1, o1) = s0, s1
    if j1 <= j0 or t1 <= t0:
        return None
    ncpu = os.cpu_count() or 1
    return max(0.0, (b1 - b0) / (j1 - j0) * ncpu - (o1 - o0) / (t1 - t0))


def busy_cores(window_s: float = 0.3) -> float:
    """Cores kept busy by other processes over a short window (0 where unmeasurable)."""
    s0 = _sample()
    time.sleep(window_s)
    s1 = _sample()
    other = None if s0 is None or s1 is None else _other_cores(s0, s1)
    return 0.0 if other is None else other


def pick_num_threads(requested: int, window_s: float = 0.3) -> int:
    """`requested` threads, or for 0 one per idle core (1..MAX_AUTO_THREADS).

    Warns when the machine is oversubscribed.
    """
    ncpu = os.cpu_count() or 1
    busy = busy_cores(window_s)
    idle = max(1, int(round(ncpu - busy)))
    n = min(idle, MAX_AUTO_THREADS, ncpu) if requested == 0 else requested
    if busy >= 0.5 and n + busy > ncpu + 0.25:
        log.warning(
            "CPU oversubscribed: other processes keep %.1f of %d cores busy and torch would "
            "use %d thread(s); expect slow steps (num_threads=1 or a quiet machine helps)",
            busy,
            ncpu,
            n,
        )
    return n


def configure_threads(requested: int) -> int:
    """Set torch's intra-op threads from a config value (0 = auto); returns the number."""
    n = pick_num_threads(requested)
    torch.set_num_threads(n)
    log.info("torch intra-op threads: %d%s", n, " (auto)" if requested == 0 else "")
    return n


class ThreadGovernor:
    """Keeps the auto thread count right while a long job runs.

    `check()` (cheap, no sleep) re-measures the other processes' load since its last sample
    every `interval_s` and moves torch between 1 and MAX_AUTO_THREADS threads. A fixed
    request is left alone.
    """

    def __init__(self, requested: int, interval_s: float = 20.0):
        self.requested = requested
        self.interval_s = interval_s
        self.threads = configure_threads(requested)
        self._sample = _sample()

    def check(self) -> int:
        """Re-measure the other processes' load if `interval_s` has passed; return the count.

        The new count is one thread per core the others leave idle, 1..MAX_AUTO_THREADS; a
        fixed request (non-zero), or no load measurement, keeps it unchanged.
        """
        if self.requested != 0 or self._sample is None:
            return self.threads
        now = _sample()
        if now is None or now[0] - self._sample[0] < self.interval_s:
            return self.threads
        other = _other_cores(self._sample, now)
        self._sample = now
        if other is None:
            return self.threads
        ncpu = os.cpu_count() or 1
        n = max(1, min(MAX_AUTO_THREADS, ncpu, int(round(ncpu - other))))
        if n != self.threads:
            log.info(
                "other processes use %.1f cores: torch threads %d -> %d", other, self.threads, n
            )
            torch.set_num_threads(n)
            self.threads = n
        return self.threads
