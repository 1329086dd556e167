"""Processing: claims, outcomes, retries, and a message's events processed together."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from django_kakiyo import signals
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import claim, process_event, process_events, retry_delay
from example_project.crm.models import Prospect, TimelineEntry

from .conftest import make_due, make_event

Status = WebhookEvent.Status


# -- retries and outcomes ---------------------------------------------------------------------


@pytest.mark.django_db
def test_failure_with_attempts_left_is_queued_with_backoff(settings: Any, connect: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "RETRY_BACKOFF": 100, "MAX_ATTEMPTS": 3}
    connect(signals.linkedin_message_received, failures=1)
    event = make_event()
    outcome = process_event(event.pk)
    event.refresh_from_db()
    assert outcome.status == Status.QUEUED
    assert outcome.retry_in is not None and 50 <= outcome.retry_in <= 100
    assert event.status == Status.QUEUED
    assert event.next_attempt_at is not None
    assert event.next_attempt_at > timezone.now() + dt.timedelta(seconds=49)
    # Not due yet: nobody may claim it early.
    assert process_event(event.pk).claimed is False


@pytest.mark.django_db
def test_last_attempt_fails_with_traceback_and_signal(settings: Any, connect: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MAX_ATTEMPTS": 2}
    receiver = connect(signals.linkedin_message_received, failures=99)
    failed = connect(signals.processing_failed)
    event = make_event()
    assert process_event(event.pk).status == Status.QUEUED
    make_due(event)
    assert process_event(event.pk).status == Status.FAILED
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.FAILED, 2)
    assert "RuntimeError: receiver exploded" in event.last_traceback
    assert len(receiver.calls) == 2
    assert len(failed.calls) == 1
    assert failed.calls[0]["event"].pk == event.pk
    assert isinstance(failed.calls[0]["errors"][0][1], RuntimeError)
    assert process_event(event.pk).claimed is False  # failed is final


@pytest.mark.django_db
def test_success_after_failure_ends_processed_and_clears_the_error(connect: Any) -> None:
    connect(signals.linkedin_message_received, failures=1)
    event = make_event()
    process_event(event.pk)
    make_due(event)
    assert process_event(event.pk).status == Status.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (Status.PROCESSED, 2, "")


@pytest.mark.django_db
def test_one_failing_receiver_does_not_hide_the_others(connect: Any) -> None:
    first = connect(signals.linkedin_message_received, failures=1)
    second = connect(signals.linkedin_message_received)
    generic = connect(signals.event_received)
    process_event(make_event().pk)
    assert len(first.calls) == len(second.calls) == len(generic.calls) == 1


@pytest.mark.django_db
def test_a_failed_receiver_is_retried_alone_and_the_others_keep_their_writes(
    connect: Any,
) -> None:
    # The example CRM's receiver writes a timeline entry; another receiver then raises. What
    # the CRM's receiver wrote commits with its success record; the retry runs only the one
    # that failed.
    failing = connect(signals.event_received, failures=1)
    event = make_event()
    process_event(event.pk)
    assert TimelineEntry.objects.get().event_id == event.pk
    outcomes = dict(event.receiver_outcomes.values_list("receiver", "status"))
    assert outcomes == {
        "example_project.crm.receivers.on_reply": "succeeded",
        "tests.conftest.Recorder(failures=1)": "failed",
    }
    make_due(event)
    process_event(event.pk)
    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert len(failing.calls) == 2
    assert TimelineEntry.objects.count() == 1
    assert Prospect.objects.get().stage == Prospect.Stage.REPLIED
    attempts = dict(event.receiver_outcomes.values_list("receiver", "attempts"))
    assert attempts == {
        "example_project.crm.receivers.on_reply": 1,
        "tests.conftest.Recorder(failures=1)": 2,
    }


@pytest.mark.django_db
def test_processing_twice_runs_receivers_once(connect: Any) -> None:
    receiver = connect(signals.linkedin_message_received)
    event = make_event()
    assert process_event(event.pk).status == Status.PROCESSED
    outcome = process_event(event.pk)
    assert (outcome.claimed, outcome.status, outcome.retry_in) == (False, "processed", None)
    assert len(receiver.calls) == 1


@pytest.mark.django_db
def test_a_claim_is_exclusive_until_it_is_abandoned(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING_TIMEOUT": 60}
    event = make_event()
    now = timezone.now()
    assert [claimed.pk for claimed in claim([event.pk], now)] == [event.pk]
    assert claim([event.pk], now) == []
    busy = process_event(event.pk)
    assert busy.claimed is False
    assert busy.retry_in is not None and 1 <= busy.retry_in <= 60
    assert len(claim([event.pk], now + dt.timedelta(seconds=61))) == 1
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 2


@pytest.mark.django_db
def test_an_expired_claim_cannot_write_its_outcome(settings: Any, connect: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING_TIMEOUT": 60}
    event = make_event()

    def steal(sender: Any, **kwargs: Any) -> None:
        # Another worker re-claims while this one is still in its receivers.
        assert claim([event.pk], timezone.now() + dt.timedelta(seconds=120))

    signals.linkedin_message_received.connect(steal, weak=False)
    try:
        outcome = process_event(event.pk)
    finally:
        signals.linkedin_message_received.disconnect(steal)
    assert outcome.claimed is False
    if connection.vendor == "sqlite":
        # On SQLite each receiver commits on its own (see processing._shares_a_transaction).
        assert TimelineEntry.objects.exists()
    else:
        assert not TimelineEntry.objects.exists()  # rolled back
    assert WebhookEvent.objects.get(pk=event.pk).status == Status.PROCESSING


def test_retry_delay_is_exponential_with_jitter_and_capped(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "RETRY_BACKOFF": 10, "RETRY_BACKOFF_MAX": 60}
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 60), (10, 60)]:
        delays = {retry_delay(attempts) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1


# -- a message's events, processed together ----------------------------------------------------


@pytest.mark.django_db
def test_events_processed_together_each_run_their_receivers_once(connect: Any) -> None:
    typed = connect(signals.linkedin_message_received)
    events = [make_event(n=index) for index in range(3)]

    outcomes = process_events([event.pk for event in events])

    assert [outcome.status for outcome in outcomes.values()] == [Status.PROCESSED] * 3
    assert [call["event"].pk for call in typed.calls] == [event.pk for event in events]
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {(Status.PROCESSED, 1)}
    assert TimelineEntry.objects.count() == 3  # the example CRM's receivers committed


@pytest.mark.django_db
def test_a_failing_event_in_a_batch_keeps_its_other_receivers_writes(connect: Any) -> None:
    first, failing, last = (make_event(n=index) for index in range(3))

    def explode_for_one(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.pk == failing.pk:
            raise RuntimeError("only this one")

    signals.linkedin_message_received.connect(explode_for_one, weak=False)
    try:
        outcomes = process_events([first.pk, failing.pk, last.pk])
    finally:
        signals.linkedin_message_received.disconnect(explode_for_one)

    assert outcomes[failing.pk].status == Status.QUEUED
    assert outcomes[failing.pk].retry_in is not None
    assert outcomes[first.pk].status == outcomes[last.pk].status == Status.PROCESSED
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == (Status.QUEUED, 1)
    assert "only this one" in failing.last_error
    # The CRM receiver ran for all three and kept its writes; only the other one failed.
    entries = set(TimelineEntry.objects.values_list("event_id", flat=True))
    assert entries == {first.pk, failing.pk, last.pk}
    assert dict(failing.receiver_outcomes.values_list("receiver", "status")) == {
        "example_project.crm.receivers.on_reply": "succeeded",
        f"{__name__}.test_a_failing_event_in_a_batch_keeps_its_other_receivers_writes."
        "<locals>.explode_for_one": "failed",
    }


@pytest.mark.django_db
def test_a_receiver_that_breaks_the_batch_transaction_costs_only_its_event(
    connect: Any,
) -> None:
    from django.db import DatabaseError, connection

    events = [make_event(n=index) for index in range(3)]
    breaking = events[1]

    def swallow_a_database_error(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.pk == breaking.pk:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT * FROM no_such_table")
            except DatabaseError:
                pass  # the transaction may now be unusable

    signals.event_received.connect(swallow_a_database_error, weak=False)
    try:
        outcomes = process_events([event.pk for event in events])
    finally:
        signals.event_received.disconnect(swallow_a_database_error)

    # Run again one by one after the shared transaction failed: the others are processed.
    assert outcomes[events[0].pk].status == outcomes[events[2].pk].status == Status.PROCESSED
    assert set(TimelineEntry.objects.values_list("event_id", flat=True)) >= {
        events[0].pk,
        events[2].pk,
    }
    assert WebhookEvent.objects.filter(pk__in=[e.pk for e in events], attempts=1).count() == 3


@pytest.mark.django_db
def test_a_lost_claim_in_a_batch_keeps_the_others(settings: Any, connect: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING_TIMEOUT": 60}
    events = [make_event(n=index) for index in range(3)]
    stolen = events[2]

    def steal(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.pk == events[0].pk:  # another worker re-claims the last one meanwhile
            claim([stolen.pk], timezone.now() + dt.timedelta(seconds=120))

    signals.linkedin_message_received.connect(steal, weak=False)
    try:
        outcomes = process_events([event.pk for event in events])
    finally:
        signals.linkedin_message_received.disconnect(steal)

    assert outcomes[stolen.pk].claimed is False
    assert outcomes[events[0].pk].status == outcomes[events[1].pk].status == Status.PROCESSED
    assert WebhookEvent.objects.get(pk=stolen.pk).status == Status.PROCESSING
    entries = set(TimelineEntry.objects.values_list("event_id", flat=True))
    # On SQLite each receiver commits on its own (see processing._shares_a_transaction).
    assert (stolen.pk in entries) == (connection.vendor == "sqlite")


@pytest.mark.django_db
def test_ids_not_claimable_in_a_batch_say_why(connect: Any) -> None:
    done = make_event()
    process_event(done.pk)
    fresh = make_event(n=1)

    outcomes = process_events([done.pk, fresh.pk, 999_999, fresh.pk])

    assert list(outcomes) == [done.pk, fresh.pk, 999_999]
    assert (outcomes[done.pk].claimed, outcomes[done.pk].status) == (False, Status.PROCESSED)
    assert outcomes[fresh.pk].status == Status.PROCESSED
    assert outcomes[999_999].status == "missing"


@pytest.mark.django_db
def test_processing_failed_names_the_receivers_that_failed(settings: Any, connect: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MAX_ATTEMPTS": 1}
    connect(signals.event_received, failures=1)
    failed = connect(signals.processing_failed)
    event = make_event()
    assert process_event(event.pk).status == Status.FAILED
    (call,) = failed.calls
    assert call["failed_receivers"] == ["tests.conftest.Recorder(failures=1)"]
