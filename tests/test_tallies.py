"""Tallies: amounts many processes add up in the database, read back as totals and hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError
from django.utils import timezone

from django_kakiyo import tallies
from django_kakiyo.models import Tally
from django_kakiyo.tallies import ALL_TIME, REQUEST_BUCKETS, Counts, hour_of

pytestmark = pytest.mark.django_db


def test_amounts_add_up_across_writes_and_shards() -> None:
    now = timezone.now()
    for _ in range(20):  # random shards: several rows, one total
        tallies.write(Counts().answer(now, "accepted", event_type="a.b"))
    tallies.write(Counts().answer(now, "rejected", reason="x", amount=2))
    found = tallies.totals(["deliveries"])["deliveries"]
    assert sorted(found, key=str) == sorted(
        [({"event_type": "a.b", "outcome": "accepted"}, 20.0),
         ({"outcome": "rejected", "reason": "x"}, 2.0)], key=str
    )  # fmt: skip
    answers = {row[1]["outcome"]: (row[2], row[3]) for row in
               tallies.hourly(["answers"], now - dt.timedelta(hours=1))}  # fmt: skip
    assert answers == {"accepted": (hour_of(now), 20.0), "rejected": (hour_of(now), 2.0)}
    assert tallies.since(["by_type"], now - dt.timedelta(hours=1)) == [
        ("by_type", {"event_type": "a.b", "status": "received"}, 20.0)
    ]


def test_a_histogram_observation_is_a_bucket_and_a_sum() -> None:
    tallies.write(Counts().observe("request_seconds", 0.07, REQUEST_BUCKETS))
    tallies.write(Counts().observe("request_seconds", 12.0, REQUEST_BUCKETS))
    found = tallies.totals(["request_seconds", "request_seconds_sum"])
    assert sorted(found["request_seconds"], key=str) == [
        ({"le": "+Inf"}, 1.0),
        ({"le": "0.1"}, 1.0),
    ]
    assert found["request_seconds_sum"] == [({}, pytest.approx(12.07))]


def test_what_cannot_be_written_is_kept_and_written_next_time(monkeypatch: Any) -> None:
    def broken(counts: Counts) -> None:
        raise DatabaseError("down")

    with monkeypatch.context() as patch:
        patch.setattr(tallies, "write", broken)
        assert not tallies.write_or_keep(Counts().add("deliveries", outcome="unavailable"))
    assert not tallies.write_or_keep(Counts().add("deliveries", outcome="unavailable"),
                                     database_up=False)  # fmt: skip
    assert tallies.write_or_keep(Counts().add("deliveries", outcome="accepted"))
    found = dict((labels["outcome"], value) for labels, value in
                 tallies.totals(["deliveries"])["deliveries"])  # fmt: skip
    assert found == {"unavailable": 2.0, "accepted": 1.0}


def test_compact_folds_closed_hours_and_forgets_old_ones() -> None:
    now = timezone.now()
    old, closed = now - dt.timedelta(days=40), now - dt.timedelta(hours=3)
    for at in (old, closed, now):
        for shard in range(3):
            Tally.objects.create(series="s", labels="{}", hour=hour_of(at), shard=shard,
                                 value=1)  # fmt: skip
    Tally.objects.create(series="s", labels="{}", hour=ALL_TIME, shard=5, value=9)
    assert tallies.compact(now) > 0
    by_hour = {(t.hour, t.shard): t.value for t in Tally.objects.all()}
    assert (hour_of(old), 0) not in by_hour
    assert by_hour[hour_of(closed), 0] == 3  # three shards folded into one
    assert [k for k in by_hour if k[0] == hour_of(closed)] == [(hour_of(closed), 0)]
    assert len([k for k in by_hour if k[0] == hour_of(now)]) == 3  # the current hour: untouched
    assert by_hour[ALL_TIME, 5] == 9


def test_the_upgrade_starts_the_tallies_from_the_stored_rows() -> None:
    import importlib

    from django.apps import apps
    from django.db import connection

    from django_kakiyo.models import RejectedRequest
    from django_kakiyo.stats import event_stats

    from .factories import stored_event

    stored_event(status="processed", processed_at=timezone.now(), delivery_count=3)
    stored_event(status="failed", age=dt.timedelta(hours=2))
    stored_event(status="invalid", age=dt.timedelta(days=40))
    RejectedRequest.objects.create(reason="verification_failed")
    migration = importlib.import_module("django_kakiyo.migrations.0008_tallies_from_stored_rows")

    class SchemaEditor:
        pass

    editor = SchemaEditor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.backfill(apps, editor)
    found = {
        (labels["outcome"], labels.get("reason", "")): value
        for labels, value in tallies.totals(["deliveries"])["deliveries"]
    }
    assert found == {("accepted", ""): 2, ("duplicate", ""): 2, ("invalid", ""): 1,
                     ("rejected", "verification_failed"): 1}  # fmt: skip
    stats = event_stats("7d")
    assert (stats.total, stats.totals["rejected"], stats.failure_rate) == (2, 1, 0.5)
