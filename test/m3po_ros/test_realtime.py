"""Real-time helpers without ROS: SCHED_FIFO per thread, collection between ticks."""

from __future__ import annotations

import gc
import os
import threading
import weakref

from m3po_ros.realtime import TickGC, make_thread_realtime


def _in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.update(result=fn()))
    t.start()
    t.join()
    return out["result"]


def test_realtime_priority_applies_to_the_calling_thread_only_or_says_why_not():
    assert "disabled" in make_thread_realtime(0)

    def attempt():
        reason = make_thread_realtime(20)
        got = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
        make_thread_realtime(0)  # a later activation with priority 0 goes back to normal
        return reason, *got, os.sched_getscheduler(0)

    reason, policy, priority, after = _in_thread(attempt)
    assert after == os.SCHED_OTHER
    if reason:  # no CAP_SYS_NICE / rtprio limit: refused with a reason, scheduling unchanged
        assert "not permitted" in reason and "rtprio" in reason
        assert policy == os.SCHED_OTHER
    else:
        assert (policy, priority) == (os.SCHED_FIFO, 20)
    # The main thread (and so the rest of the process) keeps normal scheduling.
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_tick_gc_collects_only_between_ticks_and_hands_collection_back():
    assert gc.isenabled()
    a, b = TickGC(young_threshold=50, full_every=5), TickGC()
    try:
        a.start()
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        b.start()
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        del cycle
        junk = [[i] for i in range(200)]  # fills the young generation past the threshold
        del junk
        assert ref() is not None  # automatic collection is off: the cycle is still there
        a.after_tick()
        assert ref() is None and a.collections == 1 and a.last_ms >= 0.0
        for _ in range(4):
            a.after_tick()
        assert a.collections == 2  # every 5th tick a full collection, even with little garbage
        a.stop()
        assert not gc.isenabled()  # b still runs ticks: collection stays between its ticks
        b.stop()
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        a.stop()
        b.stop()
        gc.enable()
