"""Start the tallies from what is stored: the metrics' totals and the stats page's hours.

Counted from the rows the tables hold at the upgrade: events by type and status (a replayed
event counts once), re-deliveries from ``delivery_count``, refused requests still kept. The
histograms (answer durations, processing lag) start at zero.
"""

import datetime as dt
import json
from collections import defaultdict

from django.db import migrations
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

ALL_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
KEEP_HOURLY = dt.timedelta(days=31)


def backfill(apps, schema_editor):
    Event = apps.get_model("django_kakiyo", "WebhookEvent")
    Rejected = apps.get_model("django_kakiyo", "RejectedRequest")
    Tally = apps.get_model("django_kakiyo", "Tally")
    db = schema_editor.connection.alias
    since = timezone.now().replace(minute=0, second=0, microsecond=0) - KEEP_HOURLY
    amounts = defaultdict(float)

    def text(labels):
        return json.dumps({k: v for k, v in sorted(labels.items()) if v}, separators=(",", ":"))

    def add(series, labels, hour, n):
        """A total, and the stats page's hourly rows (as tallies.Counts writes them)."""
        amounts[series, text(labels), ALL_TIME] += n
        if hour is None or hour < since:
            return
        outcome, status = labels.get("outcome"), labels.get("status")
        if series == "deliveries":
            amounts["answers", text({"outcome": outcome}), hour] += n
            if outcome in ("accepted", "invalid"):
                by_type = {"event_type": labels.get("event_type", ""), "status": "received"}
                amounts["by_type", text(by_type), hour] += n
        else:
            by_type = {"event_type": labels.get("event_type", ""), "status": status}
            amounts["by_type", text(by_type), hour] += n

    def grouped(queryset, moment, *fields, total=None):
        return (
            queryset.annotate(h=TruncHour(moment, tzinfo=dt.UTC))
            .values("h", *fields)
            .annotate(n=total or Count("id"))
            .order_by()
        )

    events = Event.objects.using(db)
    for row in grouped(events.exclude(status="invalid"), "received_at", "event_type"):
        add("deliveries", {"outcome": "accepted", "event_type": row["event_type"]}, row["h"],
            row["n"])  # fmt: skip
    for row in grouped(events.filter(status="invalid"), "received_at", "event_type"):
        add("deliveries", {"outcome": "invalid", "event_type": row["event_type"]}, row["h"],
            row["n"])  # fmt: skip
    copies = events.filter(delivery_count__gt=1)
    for row in grouped(copies, "last_received_at", "event_type",
                       total=Sum(F("delivery_count") - 1)):  # fmt: skip
        add("deliveries", {"outcome": "duplicate", "event_type": row["event_type"]}, row["h"],
            row["n"])  # fmt: skip
    done = events.filter(status="processed", processed_at__isnull=False)
    for row in grouped(done, "processed_at", "event_type"):
        add("processed", {"event_type": row["event_type"], "status": "processed"}, row["h"],
            row["n"])  # fmt: skip
    for row in grouped(events.filter(status="failed"), "status_changed_at", "event_type"):
        add("processed", {"event_type": row["event_type"], "status": "failed"}, row["h"],
            row["n"])  # fmt: skip
    for row in grouped(Rejected.objects.using(db), "received_at", "reason"):
        add("deliveries", {"outcome": "rejected", "reason": row["reason"]}, row["h"], row["n"])
    Tally.objects.using(db).bulk_create(
        [
            Tally(series=series, labels=labels, hour=hour, shard=0, value=value)
            for (series, labels, hour), value in amounts.items()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("django_kakiyo", "0007_monitoring"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
