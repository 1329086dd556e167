"""Without a broker, receivers run in a background thread of the web process, after the
answer: a slow receiver never delays Kakiyo's 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from django_kakiyo import signals
from django_kakiyo.dispatch import ProcessingThread, processing_thread
from django_kakiyo.models import WebhookEvent
from django_kakiyo.testing import post_event

from .factories import stored_event
from .integration.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread_mode(settings: Any) -> Iterator[None]:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "auto", "RETRY_BACKOFF": 0.2}
    settings.CELERY_BROKER_URL = None
    yield
    assert processing_thread.wait_until_idle(30)


@pytest.fixture
def slow_receiver() -> Iterator[list[int]]:
    ran: list[int] = []

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        time.sleep(1.5)
        ran.append(event.pk)

    signals.linkedin_message_received.connect(receiver, weak=False)
    yield ran
    signals.linkedin_message_received.disconnect(receiver)


def test_the_answer_does_not_wait_for_a_slow_receiver(
    client: Client, thread_mode: None, slow_receiver: list[int]
) -> None:
    started = time.monotonic()
    response = post_event(client, "linkedin.message.received", {"prospectId": "p"})
    answered = time.monotonic() - started
    assert response.status_code == 200
    assert answered < 1.0, f"answered after {answered:.2f}s: it waited for the receiver"
    # Polled, not one wait_until_idle(): on the in-memory SQLite test database (shared
    # cache: one writer at a time, no busy wait) the thread's claim can meet the answer's
    # counting and be retried by the thread 5 s later, on a timer that idle does not wait for.
    wait_for(lambda: slow_receiver, 30, "the slow receiver to run in the thread")
    assert processing_thread.wait_until_idle(30)
    event = WebhookEvent.objects.get()
    assert slow_receiver == [event.pk]
    assert event.status == WebhookEvent.Status.PROCESSED


def test_a_failed_receiver_is_retried_by_the_thread(client: Client, thread_mode: None) -> None:
    calls: list[int] = []

    def flaky(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        calls.append(event.pk)
        if len(calls) == 1:
            raise RuntimeError("once")

    signals.prospect_qualified.connect(flaky, weak=False)
    try:
        post_event(client, "prospect.qualified", {"prospectId": "p"})
        deadline = time.monotonic() + 30
        while WebhookEvent.objects.get().status != "processed" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signals.prospect_qualified.disconnect(flaky)
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, len(calls)) == ("processed", 2, 2)


def test_the_queue_is_bounded_and_the_rest_waits_for_the_sweeper(thread_mode: None) -> None:
    working, release = threading.Event(), threading.Event()

    class Tiny(ProcessingThread):
        def max_pending(self) -> int:
            return 2

        def batch_size(self) -> int:
            return 1

        def handle(self, batch: list[int]) -> None:
            working.set()
            release.wait(10)

    tiny = Tiny()
    assert tiny.submit(0)
    assert working.wait(5)  # the thread is busy with 0
    assert [tiny.submit(n) for n in range(1, 6)] == [True, True, False, False, False]
    release.set()
    assert tiny.wait_until_idle(30)
    assert tiny.stop(30)


def test_the_idle_thread_sweeps(thread_mode: None, settings: Any) -> None:
    if connection.vendor == "sqlite":
        pytest.skip(
            "three threads writing one in-memory SQLite database (shared cache, no busy wait) "
            "can lock each other out for the whole wait: runs in the PostgreSQL pass"
        )
    settings.KAKIYO = {**settings.KAKIYO, "REQUEUE_AFTER": 0}
    lost = stored_event()  # stored, but its id never reached a thread (a process died)
    sweeper = ProcessingThread()
    sweeper.idle_every = 0.1
    from django_kakiyo.sweeper import sweep

    sweeper.sweep = sweep  # which hands what it finds to the process's own thread
    sweeper.submit_later(-1, 0)  # start the thread; an unknown id is harmless
    deadline = time.monotonic() + 30
    try:
        while WebhookEvent.objects.get(pk=lost.pk).status != "processed":
            assert time.monotonic() < deadline, "the idle sweep never processed the lost event"
            time.sleep(0.05)
    finally:
        assert sweeper.stop(30)


def test_a_stopped_thread_forgets_its_timers_and_the_next_submit_starts_another() -> None:
    handled: list[list[int]] = []

    class Recording(ProcessingThread):
        idle_every = None

        def handle(self, batch: list[int]) -> None:
            handled.append(batch)

    thread = Recording()
    thread.submit_later(1, 0.3)  # a retry's timer
    first = thread._thread
    assert first is not None and first.is_alive()
    assert thread.stop(30)
    assert not first.is_alive()
    time.sleep(0.5)
    assert handled == []  # the timer went with the thread (the sweeper finds its event)
    assert thread.submit(2)
    assert thread.wait_until_idle(30)
    assert handled == [[2]]
    assert thread.stop(30)
    assert thread.stop(30)  # stopping a stopped thread is harmless
