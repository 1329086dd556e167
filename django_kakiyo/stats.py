"""Numbers for the admin's stats page: answers per hour by outcome, processing outcomes by
type, failures by receiver, drawn as SVG.

Read from the hourly tallies (:mod:`django_kakiyo.tallies`), not from the events table: the
chart reads a row per hour (or day) and outcome, the type table a row per type and status
that the database sums over the period; neither scans the events of the period, and the
counts stay after retention deletes the events. The chart is server-rendered SVG built
here (no JavaScript, no CDN): a stacked bar per hour, one colour per outcome.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from .models import WebhookEvent
from .readings import backlog, oldest_unprocessed, receiver_failures_since
from .status import Status
from .tallies import RECEIVED, hour_of, hourly, since

#: Colours of the statuses (badges in the lists), readable as white text on them in the
#: light and the dark theme alike.
STATUS_COLOURS = {
    Status.PROCESSED: "#2e7d32",
    Status.IGNORED: "#616161",
    Status.RECEIVED: "#1565c0",
    Status.QUEUED: "#00695c",
    Status.PROCESSING: "#8a5300",
    Status.FAILED: "#c62828",
    Status.INVALID: "#6a1b9a",
}
#: Colours of the webhook's answers in the chart (and its legend), in stacking order.
OUTCOME_COLOURS = {
    "accepted": "#2e7d32",
    "duplicate": "#00695c",
    "invalid": "#6a1b9a",
    "spooled": "#1565c0",
    "rejected": "#8a5300",
    "unavailable": "#c62828",
    "error": "#b71c1c",
}
#: Processing outcomes, as the ``processed`` tally counts them.
PROCESSING_OUTCOMES = ("processed", "retried", "failed")
PERIODS = {
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
#: Periods drawn a bar a day rather than a bar an hour.
BY_DAY = {"30d"}


@dataclass
class EventStats:
    period: str
    start: dt.datetime
    #: The chart's bars: hours, or days for a long period (``bucket`` says which).
    hours: list[dt.datetime]
    by_hour_outcome: dict[dt.datetime, dict[str, int]]
    by_type: dict[str, dict[str, int]]
    totals: dict[str, int] = field(default_factory=dict)
    receivers: list[tuple[str, int, int]] = field(default_factory=list)
    oldest_unprocessed: WebhookEvent | None = None
    backlog: int = 0
    #: Answers by endpoint name ("": the settings URL) and outcome.
    by_endpoint: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Events received in the period (accepted and invalid deliveries)."""
        return self.totals.get("accepted", 0) + self.totals.get("invalid", 0)

    @property
    def type_rows(self) -> list[tuple[str, list[int]]]:
        """Per event type: received, then each processing outcome."""
        columns = ("received", *PROCESSING_OUTCOMES)
        return [
            (kind, [counts.get(column, 0) for column in columns])
            for kind, counts in sorted(self.by_type.items())
        ]

    @property
    def endpoint_rows(self) -> list[tuple[str | None, list[int]]]:
        """Per endpoint (None: the settings URL): received, duplicates, refused. Empty while
        only the settings URL answered."""
        if not any(self.by_endpoint.keys()):
            return []
        return [
            (name or None, [sum(c.get(o, 0) for o in RECEIVED), c.get("duplicate", 0),
                            c.get("rejected", 0)])
            for name, c in sorted(self.by_endpoint.items())
        ]  # fmt: skip

    @property
    def failure_rate(self) -> float | None:
        """Failed / (failed + processed) in the period; None when nothing finished."""
        failed = self.totals.get("failed", 0)
        finished = failed + self.totals.get("processed", 0)
        return failed / finished if finished else None


def event_stats(period: str = "24h", now: dt.datetime | None = None) -> EventStats:
    """Counts for the last ``period`` ("24h", "7d" or "30d"), bucketed by hour."""
    now = now or timezone.now()
    by_day = period in BY_DAY
    end = hour_of(now) + dt.timedelta(hours=1)
    start = end - PERIODS[period]
    if by_day:  # whole UTC days, today's included
        end = hour_of(now).replace(hour=0) + dt.timedelta(days=1)
        start = end - PERIODS[period]
    by_hour: dict[dt.datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    by_endpoint: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, labels, hour, value in hourly(["answers"], start, by_day=by_day):
        outcome = labels.get("outcome", "")
        by_hour[hour][outcome] += int(value)
        totals[outcome] += int(value)
        by_endpoint[labels.get("endpoint", "")][outcome] += int(value)
    for _, labels, value in since(["by_type"], start):
        status = labels.get("status", "")
        by_type[labels.get("event_type") or "(none)"][status] += int(value)
        if status != "received":
            totals[status] += int(value)
    step = dt.timedelta(days=1) if by_day else dt.timedelta(hours=1)
    count = int(PERIODS[period] / step)
    return EventStats(
        period=period,
        start=start,
        hours=[start + step * i for i in range(count)],
        by_hour_outcome={hour: dict(counts) for hour, counts in by_hour.items()},
        by_type={kind: dict(counts) for kind, counts in by_type.items()},
        totals=dict(totals),
        receivers=receiver_failures_since(start),
        oldest_unprocessed=oldest_waiting_event(),
        backlog=backlog(),
        by_endpoint={name: dict(counts) for name, counts in by_endpoint.items()},
    )


def oldest_waiting_event() -> WebhookEvent | None:
    """The oldest event still waiting (received, queued or processing)."""
    first = oldest_unprocessed()
    if first is None:
        return None
    return (
        WebhookEvent.objects.unfinished()
        .filter(received_at=first)
        .only("pk", "event_type", "status", "received_at")
        .first()
    )


def hourly_chart(stats: EventStats, width: int = 960, height: int = 240) -> SafeString:
    """A stacked bar chart of answers per hour (or day) by outcome, as inline SVG."""
    by_day = stats.period in BY_DAY
    left, bottom, top = 48, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((sum(c.values()) for c in stats.by_hour_outcome.values()), default=0) or 1
    bar_w = plot_w / max(1, len(stats.hours))
    bars: list[tuple[str, str, str, str, str, str]] = []
    for index, hour in enumerate(stats.hours):
        counts = stats.by_hour_outcome.get(hour, {})
        y = float(top + plot_h)
        for outcome, colour in OUTCOME_COLOURS.items():
            n = counts.get(outcome, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            title = (
                f"{hour:%Y-%m-%d %H}:00 UTC: {n} {outcome}"
                if not by_day
                else (f"{hour:%Y-%m-%d} UTC: {n} {outcome}")
            )
            bars.append(
                (f"{left + index * bar_w:.1f}", f"{y:.1f}", f"{max(bar_w - 1, 0.5):.1f}",
                 f"{h:.1f}", colour, title)
            )  # fmt: skip
    labels_every = max(1, len(stats.hours) // 8)
    labels = [
        (
            f"{left + index * bar_w:.1f}",
            f"{height - 8}",
            f"{hour:%m-%d}" if by_day else f"{hour:%d %H}h",
        )
        for index, hour in enumerate(stats.hours)
        if index % labels_every == 0
    ]
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="kakiyo-chart" role="img" '
        'width="{}" height="{}" viewBox="0 0 {} {}" font-size="11">'
        "<title>Answers by outcome</title>"
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
