"""Publish processing tasks to the broker: fail-fast, batched, and off the request path.

Two costs dominate a naive ``task.delay()`` per delivery: Celery's own publish path, which
retries a refused connection for seconds (a broker outage would stall every request), and
the worker's per-message overhead, paid once per event. Here one fail-fast connection per
process publishes one message per *batch* of event ids, and a request only hands its event
id to a background thread (:data:`background_publisher`) and answers.

None of this is needed for "nothing lost": an event is committed to the database before it
is acknowledged, and the sweeper enqueues any event that never reached a worker (a publish
that failed, a process that died with ids still in memory). Publishing is only about how
soon a worker sees the event.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from celery import current_app
from kombu import Producer

from .background import IdThread
from .conf import kakiyo_settings

logger = logging.getLogger(__name__)


class _Connection:
    """The process's fail-fast broker connection and producer, made on first use.

    Built once per process (after a fork) and per broker URL rather than per publish: making
    a kombu connection object costs about a third of a publish. Dropped after any error, so
    the next publish reconnects.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[Any, ...] | None = None
        self.connection: Any = None
        self.producer: Any = None

    def producer_for(self, app: Any, timeout: float) -> Any:
        key = (os.getpid(), app.conf.broker_url, timeout)
        if self.key != key:
            self.reset()
            self.connection = app.connection_for_write(
                connect_timeout=timeout,
                transport_options={
                    "max_retries": 0,
                    "socket_connect_timeout": timeout,
                    "socket_timeout": timeout,
                },
            )
            self.producer = Producer(self.connection)
            self.key = key
        return self.producer

    def reset(self) -> None:
        connection, self.connection, self.producer, self.key = self.connection, None, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close too
                connection.release()


_connection = _Connection()


#: The tasks this app sends, by name (the worker's side is :mod:`django_kakiyo.tasks`).
PROCESS_EVENTS_TASK = "django_kakiyo.process_events"
PROCESS_EVENT_TASK = "django_kakiyo.process_event"


def routing() -> dict[str, Any]:
    """Where every task the app sends goes: ``KAKIYO['CELERY_QUEUE']``, or Celery's default."""
    queue = kakiyo_settings.CELERY_QUEUE
    return {"queue": queue} if queue else {}


def send(task_name: str, args: Sequence[Any], **options: Any) -> None:
    """Send ``task_name`` over the process's fail-fast connection, or raise within
    ``PUBLISH_TIMEOUT`` (Celery's own publish path would retry a refused connection for
    seconds). Sent by name, so nothing here imports the tasks."""
    timeout = float(kakiyo_settings.PUBLISH_TIMEOUT)
    with _connection.lock:
        try:
            producer = _connection.producer_for(current_app, timeout)
            current_app.send_task(
                task_name, args=list(args), producer=producer, retry=False, **routing(), **options
            )
        except BaseException:
            _connection.reset()
            raise


def publish(event_ids: Sequence[int]) -> None:
    """Send one processing message for ``event_ids``, or raise within ``PUBLISH_TIMEOUT``.

    The message is ``django_kakiyo.process_events`` with the ids; the worker claims them
    together (see :func:`django_kakiyo.processing.process_events`).
    """
    if event_ids:
        send(PROCESS_EVENTS_TASK, (list(event_ids),))


def publish_retry(event_id: int, countdown: float) -> bool:
    """Ask for ``event_id`` to be processed again in ``countdown`` seconds; False when the
    broker is down (the event is pending in the database: the sweeper enqueues it)."""
    try:
        send(PROCESS_EVENT_TASK, (event_id,), countdown=countdown)
    except Exception as error:
        logger.warning("Could not schedule Kakiyo event %s again: %s", event_id, error)
        return False
    return True


def publish_in_batches(event_ids: Sequence[int]) -> int:
    """Publish ``event_ids`` in messages of ``PUBLISH_BATCH_SIZE``; how many were sent.

    Stops at the first failure (the broker is down: the rest would fail too).
    """
    size = batch_size()
    sent = 0
    for start in range(0, len(event_ids), size):
        batch = event_ids[start : start + size]
        try:
            publish(batch)
        except Exception as error:
            logger.warning(
                "%s Kakiyo event(s) are stored but could not be published (%s); "
                "the sweeper will enqueue them again",
                len(event_ids) - sent,
                error,
            )
            break
        sent += len(batch)
    return sent


def batch_size() -> int:
    return max(1, int(kakiyo_settings.PUBLISH_BATCH_SIZE))


class BackgroundPublisher(IdThread):
    """A thread per process that publishes the ids handed to it, in batches.

    :meth:`submit` only appends to a list, so the request that stored the event answers
    without talking to the broker. A delivery that comes alone is published at once. Ids that
    arrive while a message is being sent go together in the next one; and while the process
    is receiving other deliveries (its webhook view wraps each in :meth:`receiving`) the
    thread lingers up to ``PUBLISH_LINGER`` seconds for them, until the batch is full or
    nothing is being received: so under load a message carries several events, and Celery's
    per-message cost is paid once for them, without a timer that every delivery waits on.
    ``PUBLISH_BATCH_INTERVAL`` can also set a least time between two messages. What is still
    pending when the process exits normally is flushed by an ``atexit`` hook.
    """

    name = "kakiyo-publisher"

    def __init__(self) -> None:
        super().__init__()
        atexit.register(self.flush)

    def _reset(self) -> None:
        super()._reset()
        self._last_sent = -math.inf
        self._receiving = 0  # deliveries this process's webhook view is handling now
        self._linger_from: float | None = None  # set when an id arrived beside another

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        """Around the handling of one delivery (the webhook view): while another is being
        handled in this process, more ids are about to come, and the publisher lingers."""
        with self._condition:
            self._receiving += 1
        try:
            yield
        finally:
            with self._condition:
                self._receiving -= 1
                if not self._receiving and self._linger_from is not None:
                    self._condition.notify_all()  # nothing more is coming: publish now

    def submit(self, event_id: int) -> bool:
        with self._condition:
            if self._receiving > 1 and self._linger_from is None:
                self._linger_from = time.monotonic()
        return super().submit(event_id)

    def batch_size(self) -> int:
        return batch_size()

    def before_batch(self) -> None:
        size = batch_size()
        with self._condition:
            now = time.monotonic()
            until = self._last_sent + float(kakiyo_settings.PUBLISH_BATCH_INTERVAL)
            if until > now:
                self._condition.wait_for(lambda: len(self._pending) >= size, until - now)
            if self._linger_from is not None:
                until = self._linger_from + float(kakiyo_settings.PUBLISH_LINGER)
                self._condition.wait_for(
                    lambda: len(self._pending) >= size or not self._receiving,
                    until - time.monotonic(),
                )
                self._linger_from = None
        self._last_sent = time.monotonic()

    def handle(self, batch: list[int]) -> None:
        if publish_in_batches(batch) < len(batch):
            self._give_up_pending()

    def flush(self) -> int:
        """Publish everything pending now, in this thread; how many ids were sent."""
        sent = 0
        while batch := self._take():
            try:
                published = publish_in_batches(batch)
            finally:
                self._done()
            sent += published
            if published < len(batch):
                break  # the broker is down: the sweeper will enqueue the rest
        return sent

    def _give_up_pending(self) -> None:
        """The broker is down: leave every id waiting to the sweeper rather than try each
        batch in turn, so memory stays bounded and new events are tried as they come."""
        with self._condition:
            given_up = len(self._pending)
            self._pending.clear()
        if given_up:
            logger.warning(
                "%s more Kakiyo event(s) are stored but were not published; "
                "the sweeper will enqueue them",
                given_up,
            )


#: The process's publisher; the webhook view hands it each new event.
background_publisher = BackgroundPublisher()
