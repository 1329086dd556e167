"""A thread per process that takes event ids handed to it and works on them in batches.

The request that stores an event only appends its id to a list and answers; the thread does
the slow part (publishing to the broker, or running receivers) after the response. Ids that
pile up while a batch is being handled go together in the next one, so the thread keeps up
under load without waiting on a timer. It starts on first use (so after a pre-fork server
has forked) and is rebuilt in a forked child. Nothing here is needed for durability: every id
belongs to an event already committed, and the sweeper finds any event a thread never got to.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial

logger = logging.getLogger(__name__)


class _Stop(Exception):
    """Raised in the thread to end it (:meth:`IdThread.stop`)."""


class IdThread:
    """The machinery: pending ids, one daemon thread, batches, timers, idle work.

    Subclasses implement :meth:`handle`; ``batch_size`` and ``max_pending`` are read on each
    call so that settings changes apply at once. ``idle_every`` seconds without work, the
    thread runs :meth:`idle` (nothing by default).
    """

    name = "kakiyo-background"
    idle_every: float | None = None

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also run in a forked child: the parent's thread does not exist there, and its lock
        # may have been copied while held.
        self._condition = threading.Condition()
        self._pending: list[int] = []
        self._timers: list[tuple[float, int]] = []
        self._busy = 0
        self._thread: threading.Thread | None = None

    # -- what subclasses decide -------------------------------------------------------------

    def batch_size(self) -> int:
        return 10

    def max_pending(self) -> int | None:
        return None

    def handle(self, batch: list[int]) -> None:
        raise NotImplementedError

    def idle(self) -> None:
        """Periodic work while nothing is pending (every ``idle_every`` seconds)."""

    # -- the interface ----------------------------------------------------------------------

    def submit(self, event_id: int) -> bool:
        """Hand ``event_id`` over; False when ``max_pending`` ids already wait (the event is
        then left to the sweeper)."""
        with self._condition:
            limit = self.max_pending()
            if limit is not None and len(self._pending) >= limit:
                return False
            self._pending.append(event_id)
            self._ensure_running()
            self._condition.notify_all()
        return True

    def submit_later(self, event_id: int, delay: float) -> None:
        """Hand ``event_id`` over in ``delay`` seconds (a retry's backoff)."""
        with self._condition:
            heapq.heappush(self._timers, (time.monotonic() + delay, event_id))
            self._ensure_running()
            self._condition.notify_all()

    def wait_until_idle(self, timeout: float | None) -> bool:
        """Wait until every id handed over has been handled; False on timeout. Ids waiting
        on a timer do not count."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """End the thread after the batch it is working on, forgetting the ids still waiting
        and the timers (their events are stored: the sweeper finds them); False when it was
        still running after ``timeout``. The next :meth:`submit` starts a new thread.

        For test suites above all: a thread left running by one test sweeps, or retries, in
        the middle of the next one.
        """
        with self._condition:
            thread, self._thread = self._thread, None  # the thread ends when it sees this
            if thread is None:
                return True
            self._pending.clear()
            self._timers.clear()
            self._condition.notify_all()
        thread.join(timeout)
        return not thread.is_alive()

    # -- the thread ---------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _take(self, size: int | None = None) -> list[int]:
        with self._condition:
            batch = self._pending[: size or self.batch_size()]
            del self._pending[: len(batch)]
            self._busy += bool(batch)
            return batch

    def _done(self) -> None:
        with self._condition:
            self._busy -= 1
            self._condition.notify_all()

    def _wait_for_work(self) -> bool:
        """Block until ids are pending (True) or it is time for idle work (False)."""
        with self._condition:
            while True:
                if self._thread is not threading.current_thread():
                    raise _Stop  # stopped, or replaced in a forked child
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    self._pending.append(heapq.heappop(self._timers)[1])
                if self._pending:
                    return True
                waits = [self._timers[0][0] - now] if self._timers else []
                if self.idle_every is not None:
                    waits.append(self.idle_every)
                if not self._condition.wait(min(waits) if waits else None) and not self._timers:
                    return False  # timed out with nothing to do: idle work

    def _run(self) -> None:
        with contextlib.suppress(_Stop):
            self._loop()

    def _loop(self) -> None:
        while True:
            if not self._wait_for_work():
                self._guarded(self.idle)
                continue
            self.before_batch()
            batch = self._take()
            try:
                self._guarded(partial(self.handle, batch))
            finally:
                if batch:
                    self._done()

    def before_batch(self) -> None:
        """Called before each batch is taken (the publisher paces itself here)."""

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:  # never let the thread die: the next submit would be stuck
            logger.exception("The Kakiyo %s thread failed", self.name)
