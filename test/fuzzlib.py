"""What the fuzz tests share: hypothesis settings, a hang guard, verdicts and input counts.

Every parser of outside input (checkpoints, bags, YAML, ROS messages and parameters) has a
property-based test that feeds it generated and mutated inputs. Each input must end in a
valid result or in one of the errors the parser documents, with a message that says
something; anything else (another exception, a hang) fails the test, and hypothesis
shrinks the input that did it.

Two profiles, chosen by the environment variable FUZZ_PROFILE:
  ci    (default) fixed seed (`derandomize`), the per-target example counts written in the
        tests: what `make test` runs, the same inputs every time;
  soak  random seeds and FUZZ_SCALE (default 20) times as many inputs: bench/fuzz.py.
With FUZZ_COUNTS=path, the session writes how many inputs each target tried and how they
ended (ok / refused with which error) to that JSON file (test/conftest.py).
"""

from __future__ import annotations

import os
import signal
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import contextmanager

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("FUZZ_PROFILE", "ci")
if PROFILE not in ("ci", "soak"):
    raise ValueError(f"FUZZ_PROFILE={PROFILE!r}: expected 'ci' or 'soak'")
SCALE = int(os.environ.get("FUZZ_SCALE", "20")) if PROFILE == "soak" else 1
HANG_S = float(os.environ.get("FUZZ_HANG_S", "20"))

# target -> outcome ("ok" or "refused: ErrorClass") -> count
COUNTS: dict[str, Counter] = defaultdict(Counter)


class Hang(Exception):
    """An input kept a parser busy past FUZZ_HANG_S seconds."""


def fuzz_settings(examples: int, **kw) -> settings:
    """Hypothesis settings for a target run with `examples` inputs in the ci profile."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,  # a slow input is caught by the hang guard, not by timing jitter
        derandomize=PROFILE == "ci",
        database=None,  # nothing written into the source tree
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
        **kw,
    )


@contextmanager
def hang_guard(seconds: float = HANG_S, what: str = ""):
    """Raise Hang when the block runs longer than `seconds` (SIGALRM; main thread only)."""

    def on_alarm(signum, frame):
        raise Hang(f"{what or 'input'} still being parsed after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def verdict(target: str, fn: Callable, errors: tuple[type[BaseException], ...]):
    """Run `fn()` on one input: its result, or None when it raised one of `errors`.

    Counts the input under `target`. A documented error must carry a message; any other
    exception (and a Hang) propagates and fails the test.
    """
    with hang_guard(what=target):
        try:
            result = fn()
        except errors as exc:
            assert str(exc).strip(), f"{target}: {type(exc).__name__} raised with no message"
            COUNTS[target][f"refused: {type(exc).__name__}"] += 1
            return None
    COUNTS[target]["ok"] += 1
    return result


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits to `data`; positions wrap around the length.

    Kinds: 0 flip a bit, 1 set a byte, 2 delete a byte, 3 insert a byte, 4 truncate.
    """
    buf = bytearray(data)
    for kind, pos, value in edits:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] ^= 1 << (value % 8)
        elif kind == 1:
            buf[i] = value % 256
        elif kind == 2:
            del buf[i]
        elif kind == 3:
            buf.insert(i, value % 256)
        else:
            del buf[i:]
    return bytes(buf)


def edits_strategy(max_edits: int = 8):
    """Hypothesis strategy for `mutate` edit lists."""
    from hypothesis import strategies as st

    kinds = st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4])  # truncations rarer than bit flips
    edit = st.tuples(kinds, st.integers(0, 2**31 - 1), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=max_edits)
