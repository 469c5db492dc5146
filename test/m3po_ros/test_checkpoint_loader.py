"""CheckpointLoader without ROS: requests never wait for a load, the newest wins, refusals."""

from __future__ import annotations

import threading

from ros_harness import assert_imports_without_ros, wait_for

from m3po_ros.checkpoint_loader import CheckpointLoader


class Swaps:
    """A swap function whose loads block until released, recording what it loaded."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.loaded: list[str] = []
        self.refuse: set[str] = set()
        self.gone = False

    def __call__(self, path: str) -> str | None:
        self.started.set()
        self.release.wait()
        if self.gone:
            return None
        if path in self.refuse:
            raise ValueError(f"{path} is truncated")
        self.loaded.append(path)
        return f"{path}/resolved"


def test_request_returns_while_a_load_blocks_and_the_newest_request_wins():
    swaps, swapped = Swaps(), []
    loader = CheckpointLoader(swaps, (ValueError,), current="a", on_swapped=swapped.append)
    assert loader.request("a") is False  # already running: nothing to do
    assert not loader.busy
    assert loader.request("b") is True
    assert swaps.started.wait(10)
    # The load of b is blocked: requests still return at once (a tick never waits).
    assert loader.request("c") is True and loader.request("d") is True
    assert loader.busy and loader.current == "a"
    swaps.release.set()
    wait_for(lambda: not loader.busy, 10, "the loader to finish")
    assert swaps.loaded == ["b", "d"]  # c was replaced by d while b loaded
    assert loader.current == "d/resolved" and swapped == ["b/resolved", "d/resolved"]
    assert loader.swap_errors == 0 and loader.last_error == ""
    assert loader.request("d/resolved") is False


def test_refused_checkpoint_is_counted_and_the_running_one_stays():
    swaps, refused = Swaps(), []
    swaps.release.set()
    swaps.refuse = {"bad"}
    loader = CheckpointLoader(
        swaps, (ValueError,), current="good", on_refused=lambda p, e: refused.append((p, e))
    )
    loader.request("bad")
    wait_for(lambda: loader.swap_errors == 1, 10, "the refusal")
    wait_for(lambda: not loader.busy, 10, "the loader to finish")
    assert loader.current == "good" and loader.last_error == "bad: bad is truncated"
    assert [p for p, _ in refused] == ["bad"] and isinstance(refused[0][1], ValueError)
    loader.request("next")  # the loader goes on with later requests
    wait_for(lambda: loader.current == "next/resolved", 10, "the next checkpoint")
    assert loader.swap_errors == 1


def test_no_loop_left_drops_the_queue_and_join_waits_for_the_load():
    swaps = Swaps()
    swaps.gone = True
    loader = CheckpointLoader(swaps, (ValueError,))
    loader.request("x")
    assert swaps.started.wait(10)
    loader.request("y")  # queued behind x
    joiner = threading.Thread(target=loader.join)
    joiner.start()
    assert joiner.is_alive()  # join waits for the load in progress (x is still blocked)
    swaps.release.set()
    joiner.join(10)
    assert not joiner.is_alive() and not loader.busy
    assert swaps.loaded == [] and loader.current == ""  # x found no loop; y was dropped


def test_checkpoint_loader_imports_without_ros():
    assert_imports_without_ros("m3po_ros.checkpoint_loader")
