"""Processing in-process: signals, the status machine, retries, claims and the sweeper."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.dispatch import Signal
from django.utils import timezone

from django_kakiyo import signals
from django_kakiyo.dispatch import processing_mode, requeue_stale_events, stale_events
from django_kakiyo.event_data import AgentData, MessageData, ProspectEventData
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import claim, process_event, process_events, retry_delay
from django_kakiyo.testing import post_event
from example_project.crm.models import Prospect, TimelineEntry

Status = WebhookEvent.Status


class Recorder:
    """A receiver that records its calls and raises while ``failures`` is positive."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failures = failures
        # Django's send_robust logs failures by the receiver's __qualname__.
        self.__qualname__ = f"Recorder(failures={failures})"

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("receiver exploded")


@pytest.fixture
def connect() -> Iterator[Any]:
    connected: list[tuple[Signal, Recorder]] = []

    def attach(signal: Signal, failures: int = 0) -> Recorder:
        recorder = Recorder(failures)
        signal.connect(recorder, weak=False)
        connected.append((signal, recorder))
        return recorder

    yield attach
    for signal, recorder in connected:
        signal.disconnect(recorder)


def make_event(event_type: str = "linkedin.message.received", **data: Any) -> WebhookEvent:
    now = timezone.now()
    payload = {"event": event_type, "data": {"prospectId": "p_1", "message": "hi", **data}}
    return WebhookEvent.objects.create(
        event_type=event_type,
        payload=payload,
        raw_body=b"{}",
        dedup_key=f"{event_type}-{WebhookEvent.objects.count()}-{now.timestamp()}",
        next_attempt_at=now,
        prospect_id="p_1",
    )


def make_due(event: WebhookEvent) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())


# -- after an HTTP delivery -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_delivery_is_processed_in_process_after_commit(client: Any, connect: Any) -> None:
    typed = connect(signals.linkedin_message_received)
    generic = connect(signals.event_received)
    response = post_event(
        client, "linkedin.message.received", {"prospectId": "p_7", "message": "yo"}
    )
    assert response.status_code == 200

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    assert event.processed_at is not None
    assert len(typed.calls) == len(generic.calls) == 1
    call = typed.calls[0]
    assert call["event"].pk == event.pk
    assert call["event_type"] == "linkedin.message.received"
    assert isinstance(call["data"], MessageData)
    assert (call["data"].prospect_id, call["data"].message) == ("p_7", "yo")
    assert call["data"]["message"] == "yo"


@pytest.mark.django_db(transaction=True)
def test_receiver_error_never_becomes_an_http_error(client: Any, connect: Any) -> None:
    connect(signals.linkedin_message_received, failures=1)
    response = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (Status.QUEUED, 1)
    assert "receiver exploded" in event.last_error
    assert "Traceback" in event.last_traceback


@pytest.mark.django_db(transaction=True)
def test_invalid_deliveries_are_never_dispatched(client: Any, connect: Any) -> None:
    generic = connect(signals.event_received)
    from django_kakiyo.signing import compute_signature

    body = b'{"event":42}'
    client.post(
        "/kakiyo/webhook/",
        data=body,
        content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, _secret())},
    )
    event = WebhookEvent.objects.get()
    assert event.status == Status.INVALID
    assert process_event(event.pk).claimed is False
    assert generic.calls == []


def _secret() -> str:
    from django_kakiyo.conf import kakiyo_settings

    return str(kakiyo_settings.WEBHOOK_SECRETS[0])


# -- signals and typed data -------------------------------------------------------------------


def test_every_known_type_has_its_signal_named_after_it() -> None:
    assert len(signals.EVENT_TYPES) == 12
    for name, event_type in signals.EVENT_TYPES.items():
        assert getattr(signals, signals.signal_name(name)) is event_type.signal
        assert signals.signal_for(name) is event_type.signal
        assert event_type.description


def test_signal_for_an_unknown_type_is_created_once() -> None:
    first = signals.signal_for("linkedin.post.liked")
    assert signals.signal_for("linkedin.post.liked") is first
    assert first is not signals.event_received


@pytest.mark.django_db
def test_unknown_type_sends_its_own_signal_when_connected_and_event_received(
    connect: Any,
) -> None:
    specific = connect(signals.signal_for("linkedin.profile.viewed"))
    generic = connect(signals.event_received)
    event = make_event("linkedin.profile.viewed")
    assert process_event(event.pk).status == Status.PROCESSED
    assert len(specific.calls) == len(generic.calls) == 1
    assert isinstance(generic.calls[0]["data"], ProspectEventData)


@pytest.mark.django_db
def test_connect_by_name(connect: Any) -> None:
    calls: list[Any] = []

    def on_agent(sender: Any, data: AgentData, **kwargs: Any) -> None:
        calls.append(data)

    signals.connect("agent.status_changed", on_agent, weak=False)
    try:
        process_event(make_event("agent.status_changed", agentId="a_1", status="paused").pk)
    finally:
        signals.agent_status_changed.disconnect(on_agent)
    assert (calls[0].agent_id, calls[0].status) == ("a_1", "paused")


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
def test_failed_attempt_rolls_back_every_receivers_database_writes(connect: Any) -> None:
    # The example CRM's receiver writes a timeline entry; another receiver then raises.
    connect(signals.event_received, failures=1)
    event = make_event()
    process_event(event.pk)
    assert not TimelineEntry.objects.exists()
    make_due(event)
    process_event(event.pk)
    assert TimelineEntry.objects.get().event_id == event.pk
    assert Prospect.objects.get().stage == Prospect.Stage.REPLIED


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
    assert not TimelineEntry.objects.exists()  # rolled back
    assert WebhookEvent.objects.get(pk=event.pk).status == Status.PROCESSING


def test_retry_delay_is_exponential_with_jitter_and_capped(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "RETRY_BACKOFF": 10, "RETRY_BACKOFF_MAX": 60}
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 60), (10, 60)]:
        delays = {retry_delay(attempts) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1


# -- the example CRM --------------------------------------------------------------------------


@pytest.mark.django_db
def test_example_receivers_build_a_timeline_without_duplicates(connect: Any) -> None:
    invited = make_event("linkedin.invitation.sent")
    replied = make_event("linkedin.message.received", message="Sounds good")
    for event in (invited, replied):
        process_event(event.pk)
    prospect = Prospect.objects.get(kakiyo_id="p_1")
    assert (prospect.stage, prospect.last_reply) == (Prospect.Stage.REPLIED, "Sounds good")
    assert prospect.timeline.count() == 2
    # A replay goes through the same path and updates, never duplicates.
    WebhookEvent.objects.filter(pk=replied.pk).update(status=Status.QUEUED)
    process_event(replied.pk)
    assert prospect.timeline.count() == 2


# -- mode and sweeper -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("processing", "broker", "expected"),
    [
        ("auto", None, "thread"),
        ("auto", "redis://127.0.0.1:6379/15", "celery"),
        ("thread", "redis://127.0.0.1:6379/15", "thread"),
        ("inline", "redis://127.0.0.1:6379/15", "inline"),
        ("celery", None, "celery"),
    ],
)
def test_processing_mode(
    settings: Any, processing: str, broker: str | None, expected: str
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": processing}
    settings.CELERY_BROKER_URL = broker
    assert processing_mode() == expected


@pytest.mark.django_db
def test_sweeper_finds_only_lost_events(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "REQUEUE_AFTER": 60, "PROCESSING_TIMEOUT": 600}
    now = timezone.now()
    ago = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    lost = make_event()
    WebhookEvent.objects.filter(pk=lost.pk).update(next_attempt_at=ago(61))
    fresh = make_event()
    retry_lost = make_event()
    WebhookEvent.objects.filter(pk=retry_lost.pk).update(status="queued", next_attempt_at=ago(90))
    retry_pending = make_event()
    WebhookEvent.objects.filter(pk=retry_pending.pk).update(
        status="queued", next_attempt_at=now + dt.timedelta(seconds=30)
    )
    abandoned = make_event()
    WebhookEvent.objects.filter(pk=abandoned.pk).update(
        status="processing", status_changed_at=ago(601)
    )
    working = make_event()
    WebhookEvent.objects.filter(pk=working.pk).update(
        status="processing", status_changed_at=ago(5)
    )
    done = make_event()
    WebhookEvent.objects.filter(pk=done.pk).update(status="processed", next_attempt_at=ago(999))

    assert stale_events() == [lost.pk, retry_lost.pk, abandoned.pk]
    assert stale_events(older_than=0) == [lost.pk, fresh.pk, retry_lost.pk, abandoned.pk]
    assert fresh.pk and retry_pending.pk and working.pk and done.pk


@pytest.mark.django_db
def test_requeue_processes_lost_events_in_process(connect: Any) -> None:
    receiver = connect(signals.linkedin_message_received)
    event = make_event()
    assert requeue_stale_events(older_than=0) == (1, 1)
    assert WebhookEvent.objects.get(pk=event.pk).status == Status.PROCESSED
    assert len(receiver.calls) == 1


@pytest.mark.django_db
def test_kakiyo_requeue_command(connect: Any) -> None:
    make_event()
    out = StringIO()
    call_command("kakiyo_requeue", "--older-than", "0", stdout=out)
    assert "1 stale event(s) found, 1 processed in-process." in out.getvalue()
    out = StringIO()
    call_command("kakiyo_requeue", stdout=out)
    assert "0 stale event(s) found" in out.getvalue()


def test_kakiyo_requeue_rejects_a_negative_age() -> None:
    with pytest.raises(CommandError, match="zero or more"):
        call_command("kakiyo_requeue", "--older-than", "-1")


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
def test_a_failing_event_in_a_batch_rolls_back_only_its_own_writes(connect: Any) -> None:
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
    # The CRM receiver ran for all three; only the failing event's timeline entry is gone.
    entries = set(TimelineEntry.objects.values_list("event_id", flat=True))
    assert entries == {first.pk, last.pk}


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
    assert stolen.pk not in set(TimelineEntry.objects.values_list("event_id", flat=True))


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
