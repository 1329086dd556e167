"""A thread per process that writes the counts this process keeps in memory, once every
``COUNT_ANSWERS_EVERY`` seconds.

The web process counts every answer it gives (:func:`django_kakiyo.at_risk.record_answer`).
Writing each answer's counts in a transaction of their own cost a delivery more than storing
its event (``bench/answer_ab.py``: 2.5 ms a request against 1.2 ms without counting), all of
it in the web process. So an answer that changes nothing about the at-risk state is kept in
memory (:data:`django_kakiyo.tallies.pending`) and written with the other answers of the same
second: one statement a second per process, whatever the traffic. Failures are still written
at once (the at-risk alert counts them across processes), and so is the answer that ends a
risk.

The cost: ``metrics/`` and the stats page see another process's answers up to that long late,
and a process killed with SIGKILL loses its last second of answer counts (never an event:
events are stored before the answer). What is left when the process exits normally is
written then. The thread starts when there is something to write, ends when there is
nothing left, and is rebuilt in a forked child, like the publisher thread.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading

from django.db import DatabaseError, close_old_connections, connection

from .conf import kakiyo_settings
from .tallies import Counts, pending, write_or_keep

logger = logging.getLogger(__name__)

#: The shortest wait between two writes, whatever the setting says.
MIN_WAIT = 0.05


class TallyWriter:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def soon(self) -> None:
        """Make sure the thread runs: what is kept now is written within one interval."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._wake.clear()  # a wake with no thread running is not for this one
                self._thread = threading.Thread(
                    target=self._run, name="kakiyo-tallies", daemon=True
                )
                self._thread.start()

    def wake(self) -> None:
        """Have the thread write at once rather than at the end of its interval (and end, if
        that leaves nothing): for code, and tests, that must not wait a whole interval."""
        self._wake.set()

    def finish(self, timeout: float | None = None) -> bool:
        """Have the thread write at once and wait for it to end, which it does when nothing
        is left to write; False when it was still running after ``timeout``. For test
        suites: no thread of one test should write during the next."""
        thread = self._thread
        if thread is None:
            return True
        self.wake()
        thread.join(timeout)
        return not thread.is_alive()

    def write_now(self) -> bool:
        """Write what this process keeps, on this thread's connection; False when there was
        nothing, or the database refused it (it is then kept for the next try)."""
        if not pending:
            return False
        if connection.in_atomic_block:  # called inside a transaction: it holds the write
            return write_or_keep(Counts())
        close_old_connections()  # CONN_MAX_AGE, and connections that had errors
        try:
            return write_or_keep(Counts())
        finally:
            close_old_connections()

    def _run(self) -> None:
        """Write every interval while there is something to write, then end (and close
        this thread's connection): an idle process holds no thread and no connection for
        its counts. The end is decided under the lock that :meth:`soon` takes, so counts
        kept at that moment start a new thread rather than wait for the next answer."""
        try:
            while True:
                self._wake.wait(max(MIN_WAIT, float(kakiyo_settings.COUNT_ANSWERS_EVERY)))
                self._wake.clear()
                try:
                    self.write_now()
                except Exception:  # never let the thread die; the counts stay kept
                    logger.exception("Writing Kakiyo answer counts failed")
                with self._lock:
                    if not pending:
                        self._thread = None
                        return
        finally:
            connection.close()


#: This process's writer.
tally_writer = TallyWriter()


@atexit.register
def _write_what_is_left() -> None:
    with contextlib.suppress(Exception, DatabaseError):
        tally_writer.write_now()
