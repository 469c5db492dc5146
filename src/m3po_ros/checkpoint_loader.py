"""Hot-swap loading without ROS: checkpoints load on a thread of their own, newest first.

The controller's tick never waits for a load: a request only queues a path and starts the
loader thread when none runs. While one load is in progress, later requests replace each
other, so only the newest is loaded next. A refused checkpoint is counted and the running
one stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class CheckpointLoader:
    """Loads requested checkpoints off the control thread through `swap`.

    Args:
        swap: loads the checkpoint at a path, hands it to the control loop and returns the
            path of the checkpoint now running; returns None when there is nothing to swap
            into any more (the loop was torn down), which drops the queue.
        errors: exception types that refuse one checkpoint (counted, logged, the loader
            goes on with the next request); any other exception ends the loader thread.
        current: path of the checkpoint running now; requests for it are ignored.
        on_swapped: called with the new path after a successful swap (on the loader thread).
        on_refused: called with the path and the exception of a refused checkpoint.
    """

    def __init__(
        self,
        swap: Callable[[str], str | None],
        errors: tuple[type[BaseException], ...],
        current: str = "",
        on_swapped: Callable[[str], None] | None = None,
        on_refused: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._swap = swap
        self._errors = errors
        self.current = current
        self._on_swapped = on_swapped
        self._on_refused = on_refused
        self.swap_errors = 0  # checkpoints refused since construction
        self.last_error = ""  # "<path>: <why>" of the last refused checkpoint
        self.last_load_s = 0.0  # wall time of the last successful load, warm-up included, s
        self._next: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """A load is in progress or queued."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def request(self, path: str) -> bool:
        """Queue `path` (replacing a queued one) and start the loader thread if none runs.

        Returns:
            False when `path` is the running checkpoint (nothing to do), else True.
        """
        if path == self.current:
            return False
        with self._lock:
            self._next = path
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="checkpoint-loader"
                )
                self._thread.start()
        return True

    def cancel(self) -> None:
        """Drop the queued request (a load in progress finishes)."""
        with self._lock:
            self._next = None

    def join(self, timeout_s: float = 30.0) -> None:
        """Drop the queue and wait for a load in progress.

        A daemon thread still inside torch when the interpreter exits aborts the process, so
        a node joins its loader before it is destroyed.
        """
        with self._lock:
            self._next = None
            thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._lock:
                path, self._next = self._next, None
            if path is None:
                return
            t0 = time.perf_counter()
            try:
                loaded = self._swap(path)
            except self._errors as exc:
                self.swap_errors += 1
                self.last_error = f"{path}: {exc}"
                if self._on_refused is not None:
                    self._on_refused(path, exc)
                else:
                    log.error("checkpoint %s refused: %s", path, exc)
                continue
            if loaded is None:
                self.cancel()
                return
            self.current = loaded
            self.last_load_s = time.perf_counter() - t0
            if self._on_swapped is not None:
                self._on_swapped(loaded)
