"""An event's own timestamp: only moments every database can store and read back are kept,
and with a replay window neither old nor far-future ones make an event fresh."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from django_kakiyo.envelope import MAX_CLOCK_SKEW, parse_timestamp
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_events
from django_kakiyo.signals import event_received, processing_failed
from django_kakiyo.testing import post_event

from .factories import stored_event

pytestmark = pytest.mark.django_db

POISON = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+00:01",
]


@pytest.mark.parametrize("value", POISON)
def test_a_moment_outside_years_1_to_9999_in_utc_is_not_kept(value: str) -> None:
    assert parse_timestamp(value) is None


def test_an_offset_postgresql_refuses_is_read_in_utc(client: Client) -> None:
    """Python accepts any offset under 24 hours; PostgreSQL none past 15:59. Found by
    schemathesis through the events API's received_after (a 500 on PostgreSQL); on the
    webhook it made an authentic delivery invalid ("unstorable") instead of processed."""
    moment = parse_timestamp("2026-01-01T00:00:00-19:21")
    assert moment == dt.datetime(2026, 1, 1, 19, 21, tzinfo=dt.UTC)
    assert moment is not None and moment.utcoffset() == dt.timedelta(0)
    response = post_event(
        client, "linkedin.message.received", {"prospectId": "p_1"},
        timestamp="2026-01-01T00:00:00-19:21",
    )  # fmt: skip
    assert response.status_code == 200
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert (event.status, event.invalid_reason) != ("invalid", "unstorable")
    assert event.occurred_at == moment


def test_the_edges_of_the_range_are_kept() -> None:
    assert parse_timestamp("0001-01-01T00:00:00Z") == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert parse_timestamp("9999-12-31T23:59:59+00:00") is not None


@pytest.mark.parametrize("value", POISON)
def test_a_poison_timestamp_is_stored_empty_and_every_page_reads_it(
    client: Client, admin_client: Client, value: str
) -> None:
    response = post_event(
        client, "linkedin.message.received", {"prospectId": "p"}, timestamp=value
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.occurred_at is None
    assert value.encode() in bytes(event.raw_body)
    for url in (
        "/admin/django_kakiyo/webhookevent/",
        f"/admin/django_kakiyo/webhookevent/{event.pk}/change/",
        "/kakiyo/api/events/",
        f"/kakiyo/api/events/{event.pk}/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert process_events([event.pk])[event.pk].status == WebhookEvent.Status.PROCESSED


def test_with_a_replay_window_a_poison_timestamp_is_stale(client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "REPLAY_WINDOW": 300}
    response = post_event(client, "x", {}, timestamp=POISON[0])
    assert response.json()["reason"] == "stale"


def test_with_a_replay_window_a_far_future_timestamp_is_refused(
    client: Client, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "REPLAY_WINDOW": 300}
    year_2100 = post_event(client, "x", {}, timestamp="2100-01-01T00:00:00Z")
    assert year_2100.json() | {"id": 0} == {
        "id": 0,
        "duplicate": False,
        "status": "invalid",
        "reason": "future_timestamp",
    }
    skewed = timezone.now() + dt.timedelta(seconds=MAX_CLOCK_SKEW - 30)
    assert post_event(client, "x", {}, timestamp=skewed).json()["status"] != "invalid"


def test_without_a_replay_window_a_future_timestamp_is_only_recorded(client: Client) -> None:
    response = post_event(client, "x", {}, timestamp="2100-01-01T00:00:00Z")
    assert response.json()["status"] != "invalid"
    assert WebhookEvent.objects.get().occurred_at == dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


# -- a row stored by an older release that cannot be read back ---------------------------------


def poison_occurred_at(event: WebhookEvent) -> None:
    """Write what release 0.1 stored for ``0001-01-01T00:00:00+14:00``: year 0 in UTC."""
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    value = (
        "0001-01-01 00:00:00+14" if connection.vendor == "postgresql" else "0000-12-31 10:00:00"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET occurred_at = %s WHERE id = %s", [value, event.pk])  # noqa: S608


def test_an_unreadable_row_does_not_stop_the_rest_of_its_batch(settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MAX_ATTEMPTS": 2, "RETRY_BACKOFF": 0}
    first, poisoned, last = stored_event(), stored_event(), stored_event()
    poison_occurred_at(poisoned)
    seen: list[int] = []
    failed: list[Any] = []

    def record(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        seen.append(event.pk)

    def on_failure(sender: Any, event: WebhookEvent, errors: Any, **kwargs: Any) -> None:
        failed.append((event.pk, errors))

    event_received.connect(record)
    processing_failed.connect(on_failure)
    try:
        outcomes = process_events([first.pk, poisoned.pk, last.pk])
        assert sorted(seen) == [first.pk, last.pk]
        assert outcomes[first.pk].status == outcomes[last.pk].status == "processed"
        assert outcomes[poisoned.pk].status == "queued"
        assert (
            WebhookEvent.objects.filter(pk=poisoned.pk).values_list("attempts", flat=True).get()
            == 1
        )
        process_events([poisoned.pk])  # the second and last attempt
    finally:
        event_received.disconnect(record)
        processing_failed.disconnect(on_failure)
    status, attempts, error = (
        WebhookEvent.objects.filter(pk=poisoned.pk)
        .values_list("status", "attempts", "last_error")
        .get()
    )
    assert (status, attempts) == ("failed", 2)
    assert "processing" in error
    assert [pk for pk, _ in failed] == [poisoned.pk]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_migration_empties_unreadable_timestamps() -> None:
    from django.apps import apps

    migration = importlib.import_module("django_kakiyo.migrations.0005_replay_permission")

    poisoned = stored_event()
    poison_occurred_at(poisoned)
    with connection.schema_editor() as editor:
        migration.forget_unreadable_timestamps(apps, editor)
    assert WebhookEvent.objects.get(pk=poisoned.pk).occurred_at is None
