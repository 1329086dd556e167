"""Numbers for the admin's stats page: events per hour by type and status, drawn as SVG.

The chart is server-rendered SVG built here (no JavaScript, no CDN): a stacked bar per hour,
one colour per status. Counting uses one GROUP BY over the ``received_at`` index range.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Min
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .models import WebhookEvent
from .status import Status

#: Colours of the statuses in the chart (and its legend), in stacking order.
STATUS_COLOURS = {
    Status.PROCESSED: "#2e7d32",
    Status.IGNORED: "#9e9e9e",
    Status.RECEIVED: "#1565c0",
    Status.QUEUED: "#64b5f6",
    Status.PROCESSING: "#ffb300",
    Status.FAILED: "#c62828",
    Status.INVALID: "#6a1b9a",
}
PERIODS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


@dataclass
class EventStats:
    period: str
    start: dt.datetime
    hours: list[dt.datetime]
    by_hour_status: dict[dt.datetime, dict[str, int]]
    by_type_status: dict[str, dict[str, int]]
    totals: dict[str, int] = field(default_factory=dict)
    oldest_unprocessed: WebhookEvent | None = None

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def type_rows(self) -> list[tuple[str, list[int]]]:
        """Per event type, its counts in the order of :data:`STATUS_COLOURS`."""
        return [
            (kind, [counts.get(status, 0) for status in STATUS_COLOURS])
            for kind, counts in self.by_type_status.items()
        ]

    @property
    def failure_rate(self) -> float | None:
        """Failed / (failed + processed) in the period; None when nothing finished."""
        failed = self.totals.get(Status.FAILED, 0)
        finished = failed + self.totals.get(Status.PROCESSED, 0)
        return failed / finished if finished else None


def event_stats(period: str = "24h", now: dt.datetime | None = None) -> EventStats:
    """Counts for the last ``period`` ("24h" or "7d"), bucketed by hour."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - PERIODS[period]
    rows = (
        WebhookEvent.objects.filter(received_at__gte=start)
        .annotate(hour=TruncHour("received_at", tzinfo=dt.UTC))
        .values("hour", "event_type", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_hour: dict[dt.datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        by_hour[row["hour"]][row["status"]] += row["n"]
        by_type[row["event_type"] or "(none)"][row["status"]] += row["n"]
        totals[row["status"]] += row["n"]
    hours = [
        start + dt.timedelta(hours=i) for i in range(int(PERIODS[period].total_seconds() // 3600))
    ]
    return EventStats(
        period=period,
        start=start,
        hours=hours,
        by_hour_status={hour: dict(counts) for hour, counts in by_hour.items()},
        by_type_status={
            kind: dict(counts) for kind, counts in sorted(by_type.items(), key=lambda i: i[0])
        },
        totals=dict(totals),
        oldest_unprocessed=oldest_unprocessed(),
    )


def oldest_unprocessed() -> WebhookEvent | None:
    """The oldest event still waiting (received, queued or processing)."""
    # Per status, the (status, received_at) index finds the oldest row directly.
    oldest = (
        WebhookEvent.objects.unfinished()
        .values("status")
        .annotate(first=Min("received_at"))
        .order_by("first")
        .first()
    )
    if oldest is None:
        return None
    return (
        WebhookEvent.objects.filter(status=oldest["status"], received_at=oldest["first"])
        .only("pk", "event_type", "status", "received_at")
        .first()
    )


def hourly_chart(stats: EventStats, width: int = 960, height: int = 240) -> SafeString:
    """A stacked bar chart of events per hour by status, as inline SVG."""
    left, bottom, top = 48, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((sum(c.values()) for c in stats.by_hour_status.values()), default=0) or 1
    bar_w = plot_w / max(1, len(stats.hours))
    bars: list[tuple[str, str, str, str, str, str]] = []
    for index, hour in enumerate(stats.hours):
        counts = stats.by_hour_status.get(hour, {})
        y = float(top + plot_h)
        for status, colour in STATUS_COLOURS.items():
            n = counts.get(status, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            title = f"{hour:%Y-%m-%d %H}:00 UTC: {n} {status}"
            bars.append(
                (f"{left + index * bar_w:.1f}", f"{y:.1f}", f"{max(bar_w - 1, 1):.1f}",
                 f"{h:.1f}", colour, title)
            )  # fmt: skip
    labels_every = max(1, len(stats.hours) // 8)
    labels = [
        (f"{left + index * bar_w:.1f}", f"{height - 8}", f"{hour:%d %H}h")
        for index, hour in enumerate(stats.hours)
        if index % labels_every == 0
    ]
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="kakiyo-chart" role="img" '
        'width="{}" height="{}" viewBox="0 0 {} {}" font-size="11">'
        "<title>Events per hour by status</title>"
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888"/>'
        '<text x="4" y="{}">{}</text><text x="4" y="{}">0</text>'
        "{}{}</svg>",
        width, height, width, height,
        left, top + plot_h, width - 10, top + plot_h,
        top + 10, peak, top + plot_h,
        format_html_join(
            "",
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
            "<title>{}</title></rect>",
            bars,
        ),
        format_html_join("", '<text x="{}" y="{}">{}</text>', labels),
    )  # fmt: skip
