"""Per-prospect order (``ORDERING = "prospect"``): claims hold a prospect's later events back
until the earlier ones end, and an ended event hands on the next one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from django_kakiyo import signals
from django_kakiyo.actions import ignore_events
from django_kakiyo.dispatch import enqueue, processing_thread
from django_kakiyo.models import WebhookEvent
from django_kakiyo.ordering import held_back, next_in_line
from django_kakiyo.processing import claim, process_events
from django_kakiyo.testing import post_event

from .conftest import make_due, make_event

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


@pytest.fixture
def ordered(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "ORDERING": "prospect", "RETRY_BACKOFF": 0}


def prospect_event(prospect: str, **data: Any) -> WebhookEvent:
    event = make_event(**data)
    WebhookEvent.objects.filter(pk=event.pk).update(prospect_id=prospect)
    return WebhookEvent.objects.get(pk=event.pk)


def test_a_later_event_is_held_back_until_the_earlier_one_ends(ordered: None) -> None:
    first, second = prospect_event("p_1"), prospect_event("p_1")
    outcomes = process_events([second.pk])
    assert outcomes[second.pk].claimed is False
    assert outcomes[second.pk].retry_in is None  # no polling: it will be handed on
    assert held_back([first.pk, second.pk]) == {second.pk}
    outcomes = process_events([first.pk])
    assert outcomes[first.pk].status == Status.PROCESSED
    assert outcomes[first.pk].then == (second.pk,)  # the one that waited is handed on
    assert process_events([second.pk])[second.pk].status == Status.PROCESSED


def test_one_message_with_both_runs_the_first_and_hands_on_the_second(ordered: None) -> None:
    first, second = prospect_event("p_1"), prospect_event("p_1")
    outcomes = process_events([first.pk, second.pk])
    assert outcomes[first.pk].status == Status.PROCESSED
    assert outcomes[second.pk].claimed is False
    assert outcomes[first.pk].then == (second.pk,)


def test_other_prospects_and_events_without_a_prospect_are_not_held_back(
    ordered: None,
) -> None:
    prospect_event("p_1")
    other, anonymous, also_anonymous = (
        prospect_event("p_2"), prospect_event(""), prospect_event("")
    )  # fmt: skip
    ids = [other.pk, anonymous.pk, also_anonymous.pk]
    assert {event.pk for event in claim(ids, timezone.now())} == set(ids)


def test_a_retry_holds_its_prospect_back_and_a_final_failure_releases_it(
    ordered: None, settings: Any, connect: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MAX_ATTEMPTS": 2}
    failing = connect(signals.prospect_qualified, failures=2)
    first = prospect_event("p_1")
    WebhookEvent.objects.filter(pk=first.pk).update(event_type="prospect.qualified")
    second = prospect_event("p_1")

    assert process_events([first.pk])[first.pk].status == Status.QUEUED  # waiting to retry
    make_due(second)
    assert process_events([second.pk])[second.pk].claimed is False  # held back by the retry
    make_due(first)
    outcome = process_events([first.pk])[first.pk]
    assert outcome.status == Status.FAILED  # the last attempt: the rest goes on
    assert outcome.then == (second.pk,)
    assert process_events([second.pk])[second.pk].status == Status.PROCESSED
    assert len(failing.calls) == 2


def test_ignoring_an_event_releases_its_prospect(
    ordered: None, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = prospect_event("p_1"), prospect_event("p_1")
    assert process_events([second.pk])[second.pk].claimed is False
    with django_capture_on_commit_callbacks(execute=True):
        ignore_events([first.pk], by="test")
    # The hand-on ran (inline processing in the tests): the held event is processed.
    assert WebhookEvent.objects.get(pk=second.pk).status == Status.PROCESSED


def test_without_ordering_nothing_is_held_back(settings: Any) -> None:
    first, second = prospect_event("p_1"), prospect_event("p_1")
    outcomes = process_events([second.pk])
    assert outcomes[second.pk].status == Status.PROCESSED
    assert outcomes[second.pk].then == ()
    assert WebhookEvent.objects.get(pk=first.pk).status == Status.RECEIVED


def test_next_in_line_is_the_earliest_pending_event_of_each_prospect() -> None:
    a1, a2, b1 = prospect_event("p_a"), prospect_event("p_a"), prospect_event("p_b")
    WebhookEvent.objects.filter(pk=a1.pk).update(status=Status.PROCESSED)
    assert next_in_line(["p_a", "p_b", "p_a", "", "p_none"]) == {"p_a": a2.pk, "p_b": b1.pk}


@pytest.mark.django_db(transaction=True)
def test_inline_processing_follows_the_hand_ons(ordered: None, client: Client) -> None:
    """A delivery held back behind its prospect's earlier event is processed as soon as that
    one ends, in the same process, whatever the mode."""
    first = post_event(client, "linkedin.message.received", {"prospectId": "p_9"}, process=False)
    WebhookEvent.objects.filter(pk=first.json()["id"]).update(status=Status.QUEUED)
    second = post_event(client, "linkedin.message.received", {"prospectId": "p_9", "n": 2})
    assert WebhookEvent.objects.get(pk=second.json()["id"]).status == Status.RECEIVED  # held
    WebhookEvent.objects.filter(pk=first.json()["id"]).update(status=Status.RECEIVED)
    assert enqueue(first.json()["id"])
    statuses = set(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses == {Status.PROCESSED}


@pytest.mark.django_db(transaction=True)
def test_the_processing_thread_follows_the_hand_ons(ordered: None, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "thread"}
    first, second = prospect_event("p_1"), prospect_event("p_1")
    processing_thread.submit(second.pk)  # held back: nothing happens
    assert processing_thread.wait_until_idle(30)
    assert WebhookEvent.objects.get(pk=second.pk).status == Status.RECEIVED
    processing_thread.submit(first.pk)  # ends, and hands the second on
    assert processing_thread.wait_until_idle(30)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
