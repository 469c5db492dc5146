"""What keeps a Python control thread on time: real-time scheduling and garbage collection.

Two things late ticks came from in a 10-minute soak at 100 Hz (docs/ros.md, "Timing"):
- the scheduler giving the core to another process (the sim, DDS threads) for a few ms;
- Python's cyclic garbage collector, which runs inside whatever allocates next, act()
  included. A full collection walks every tracked object: about 100 ms once torch is loaded.

`make_thread_realtime` moves the calling thread to SCHED_FIFO (as ros2_control does for its
control thread); `TickGC` freezes the objects that exist after start-up (they are never
walked again) and runs the collector between ticks instead of inside them.
"""

from __future__ import annotations

import gc
import os
import time


def make_thread_realtime(priority: int) -> str:
    """SCHED_FIFO at `priority` (1..99) for the calling thread; "" on success, else why not.

    On Linux, pid 0 in sched_setscheduler means the calling thread, not the whole process.
    Not permitted without CAP_SYS_NICE or an rtprio limit (`ulimit -r`); the caller logs
    the reason and runs on at normal priority.
    """
    if not hasattr(os, "sched_setscheduler"):
        return "this platform has no SCHED_FIFO"
    if priority <= 0:
        if os.sched_getscheduler(0) == os.SCHED_FIFO:  # set by an earlier activation
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return "disabled (realtime_priority 0)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        return (
            f"SCHED_FIFO priority {priority} not permitted: run with CAP_SYS_NICE or raise "
            "the rtprio limit (limits.conf: @realtime - rtprio 99)"
        )
    except OSError as exc:
        return f"SCHED_FIFO priority {priority} refused: {exc}"
    return ""


class TickGC:
    """Python's garbage collector moved out of the ticks.

    `start()` collects once, freezes every surviving object (gc.freeze: start-up objects,
    torch, the model) and turns automatic collection off. `after_tick()` is called once a
    tick's command is out: it collects the young generations when they have filled, and the
    whole (unfrozen) heap every `full_every` ticks, so cycles never pile up. `stop()` turns
    automatic collection back on. Collection time is kept in `last_ms` / `max_ms`.

    The collector is one per process: several controllers in one process (`m3po bringup
    train`) share it, and the last one to stop hands it back to automatic collection.
    """

    _users = 0  # started TickGCs in this process
    _was_enabled = True  # automatic collection was on before the first start()

    def __init__(self, young_threshold: int = 700, full_every: int = 1000) -> None:
        self.young_threshold = young_threshold
        self.full_every = full_every
        self.active = False
        self.collections = 0
        self.last_ms = 0.0
        self.max_ms = 0.0
        self._ticks = 0

    def start(self) -> None:
        """First user: collect once, freeze what survives, turn automatic collection off."""
        if self.active:
            return
        if TickGC._users == 0:
            TickGC._was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()
            gc.disable()
        TickGC._users += 1
        self.active = True
        self._ticks = 0

    def refreeze(self) -> None:
        """After a model swap: freeze the new model's objects too (call between ticks)."""
        if self.active:
            self._timed(2)
            gc.freeze()

    def after_tick(self) -> None:
        """Collect the young generations once filled, the whole heap every `full_every` ticks."""
        if not self.active:
            return
        self._ticks += 1
        if self._ticks % self.full_every == 0:
            self._timed(2)
        elif gc.get_count()[0] >= self.young_threshold:
            self._timed(1)

    def _timed(self, generation: int) -> None:
        t0 = time.perf_counter()
        gc.collect(generation)
        self.last_ms = (time.perf_counter() - t0) * 1000.0
        self.max_ms = max(self.max_ms, self.last_ms)
        self.collections += 1

    def stop(self) -> None:
        """Stop; the last user unfreezes and restores automatic collection if it was on."""
        if not self.active:
            return
        self.active = False
        TickGC._users -= 1
        if TickGC._users == 0:
            gc.unfreeze()  # frozen objects that died since are collectable again
            if TickGC._was_enabled:
                gc.enable()
