"""Counts and histograms kept in the database, so every process tells the same totals.

A process that saw something happen adds it here: the web process each answer it gave
(:mod:`django_kakiyo.at_risk`), a worker each processing outcome (in the transaction that
records it). ``metrics/`` and the stats page read the sums, whichever process or host they run
on; no ``PROMETHEUS_MULTIPROC_DIR``, no server hook. Series (labels in braces):

- ``deliveries`` {outcome, reason, event_type, endpoint}: each answer of the webhook (total;
  ``endpoint``: the name of the endpoint whose URL answered, none for the settings URL);
- ``processed`` {event_type, status}: each processing outcome (processed, retried, failed);
- for the stats page, hourly: ``answers`` {outcome, endpoint}, and ``by_type`` {event_type, status}
  (``received``, or a processing outcome): few rows an hour, whatever the traffic;
- ``request_seconds`` {le} and ``lag_seconds`` {le}: histograms (non-cumulative buckets,
  ``le="+Inf"`` last) with their ``*_sum``, totals only;
- ``receiver_failures_pruned`` {receiver}: failed receiver attempts whose outcome rows
  retention deleted, so the total survives them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
import os
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from .database import bounded_transaction
from .monitoring_tables import ALL_TIME, Tally
from .status import Status

#: Shards a series' row is split into; a writer picks one at random.
SHARDS = 8
#: Hourly rows are kept this long: the stats page's longest period, and a day more.
KEEP_HOURLY = dt.timedelta(days=31)
#: Upper bounds of the histograms' buckets, in seconds (+Inf is added). Kakiyo gives up on an
#: answer after 10 s; a receipt is processed in well under a second when all is well.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
INF = "+Inf"
#: The answers that stored an event (the stats page's "received").
RECEIVED = ("accepted", "invalid")

Key = tuple[str, str, dt.datetime]


def label_text(labels: dict[str, str]) -> str:
    """The stored form of a label set: JSON with sorted keys, empty values left out."""
    return json.dumps({k: v for k, v in sorted(labels.items()) if v}, separators=(",", ":"))


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def bucket_label(seconds: float, bounds: Sequence[float]) -> str:
    index = bisect.bisect_left(bounds, seconds)
    return INF if index == len(bounds) else f"{bounds[index]:g}"


class Counts:
    """Amounts to add, gathered in memory, then written by :func:`write` in one statement."""

    def __init__(self) -> None:
        self.amounts: dict[Key, float] = defaultdict(float)

    def add(self, series: str, amount: float = 1, **labels: str) -> Counts:
        """Add to the running total of ``series`` (what the metrics read)."""
        self.amounts[series, label_text(labels), ALL_TIME] += amount
        return self

    def add_hourly(self, series: str, at: dt.datetime, amount: float = 1, **labels: str) -> Counts:
        """Add to the hour of ``at`` of ``series`` (what the stats page reads)."""
        self.amounts[series, label_text(labels), hour_of(at)] += amount
        return self

    def answer(
        self, at: dt.datetime, outcome: str, reason: str = "", event_type: str = "",
        amount: float = 1, endpoint: str = "",
    ) -> Counts:  # fmt: skip
        """One answer of the webhook: its total, its hour by outcome (and endpoint) and, for
        an event received, its hour by type."""
        self.add("deliveries", amount, outcome=outcome, reason=reason, event_type=event_type,
                 endpoint=endpoint)  # fmt: skip
        self.add_hourly("answers", at, amount, outcome=outcome, endpoint=endpoint)
        if outcome in RECEIVED:
            self.add_hourly("by_type", at, amount, event_type=event_type, status="received")
        return self

    def outcome(self, at: dt.datetime, event_type: str, status: str, amount: float = 1) -> Counts:
        """One processing outcome (processed, retried, failed): its total and its hour."""
        self.add("processed", amount, event_type=event_type, status=status)
        return self.add_hourly("by_type", at, amount, event_type=event_type, status=status)

    def observe(self, series: str, seconds: float, bounds: Sequence[float]) -> Counts:
        """One observation of a histogram: its bucket, and its sum."""
        self.add(series, le=bucket_label(seconds, bounds))
        return self.add(f"{series}_sum", max(0.0, seconds))

    def merge(self, other: Counts) -> None:
        for key, amount in other.amounts.items():
            self.amounts[key] += amount

    def __bool__(self) -> bool:
        return bool(self.amounts)


def write(counts: Counts, *, in_transaction: bool = False) -> None:
    """Add ``counts`` to their rows: one statement, one random shard, rows in key order (so
    two writers never wait on each other in a circle). ``in_transaction``: the caller's
    transaction holds it (a worker's outcome commits with its counts); otherwise it is its
    own :func:`quick_transaction`."""
    if not counts:
        return
    if in_transaction:
        _upsert(counts)
        return
    with quick_transaction():
        _upsert(counts)


def quick_transaction() -> AbstractContextManager[None]:
    """A short transaction for counts: bounded like the store's, and on PostgreSQL its commit
    does not wait for the WAL flush (a crash of the database server may lose its last
    fraction of a second of counts, never an event)."""
    return bounded_transaction(wait_for_flush=False)


def _upsert(counts: Counts) -> None:
    shard = random.randrange(SHARDS)  # noqa: S311 - spreading writers, not a secret
    rows = sorted(counts.amounts.items())
    table = connection.ops.quote_name(Tally._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[Any] = []
    for (series, labels, hour), amount in rows:
        adapted = connection.ops.adapt_datetimefield_value(hour)
        params += [series, labels, adapted, shard, amount]
    sql = (
        f"INSERT INTO {table} (series, labels, hour, shard, value) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (hour, series, labels, shard) "
        f"DO UPDATE SET value = {table}.value + EXCLUDED.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


#: How each outcome of processing is counted (``processed`` and ``by_type``).
COUNTED_AS: dict[str, str] = {
    Status.PROCESSED: "processed",
    Status.QUEUED: "retried",
    Status.FAILED: "failed",
}


def outcome_counts(events: Iterable[Any], status: str) -> Counts:
    """The counts of ``events`` ending an attempt in ``status`` (processed, queued for a
    retry, failed), with the processing lag of those processed; the caller writes them in
    the transaction that records the outcome, so they commit together."""
    now = timezone.now()
    counts = Counts()
    for event in events:
        counts.outcome(now, event.event_type, COUNTED_AS[status])
        if status == Status.PROCESSED and event.received_at is not None:
            counts.observe("lag_seconds", (now - event.received_at).total_seconds(), LAG_BUCKETS)
    return counts


class Pending:
    """What this process keeps to write later: the answers of the current second
    (:mod:`django_kakiyo.tally_writer`), and what could not be written while the database
    was away. A forked child starts empty (its parent's counts are the parent's to write)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counts = Counts()

    def __bool__(self) -> bool:
        return bool(self._counts)

    def keep(self, counts: Counts) -> None:
        with self._lock:
            self._counts.merge(counts)

    def take(self) -> Counts:
        with self._lock:
            taken, self._counts = self._counts, Counts()
        return taken


pending = Pending()


def write_or_keep(counts: Counts, *, database_up: bool = True) -> bool:
    """Write ``counts`` with whatever this process kept; keep them all if that fails (or
    without trying, when the caller knows the database is down). True when written."""
    if not database_up:
        pending.keep(counts)
        return False
    counts.merge(pending.take())
    try:
        write(counts)
    except DatabaseError:
        pending.keep(counts)
        return False
    return True


# -- reading -----------------------------------------------------------------------------------


def totals(series: Iterable[str]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The running totals of ``series``: per series, ``(labels, value)`` pairs."""
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    rows = (
        Tally.objects.filter(hour=ALL_TIME, series__in=list(series))
        .values_list("series", "labels")
        .order_by()
        .annotate(total=Sum("value"))
    )
    for name, labels, total in rows:
        found[name].append((parse_labels(labels), float(total or 0)))
    return found


def hourly(
    series: Iterable[str], since: dt.datetime, *, by_day: bool = False
) -> list[tuple[str, dict[str, str], dt.datetime, float]]:
    """The hourly rows of ``series`` from ``since`` on, shards summed (``by_day``: summed by
    UTC day, a 24th of the rows for a long period)."""
    chosen = Tally.objects.filter(hour__gte=hour_of(since), series__in=list(series))
    bucket = TruncDay("hour", tzinfo=dt.UTC) if by_day else F("hour")
    rows = (
        chosen.annotate(bucket=bucket)
        .values_list("series", "labels", "bucket")
        .order_by()
        .annotate(total=Sum("value"))
    )
    found: list[tuple[str, dict[str, str], dt.datetime, float]] = []
    for name, labels, moment, total in rows:
        found.append((name, parse_labels(labels), moment, float(total or 0)))
    return found


def since(series: Iterable[str], moment: dt.datetime) -> list[tuple[str, dict[str, str], float]]:
    """The hourly rows of ``series`` from ``moment`` on, summed over the period (the
    database adds them up: a row per label set comes back)."""
    rows = (
        Tally.objects.filter(hour__gte=hour_of(moment), series__in=list(series))
        .values_list("series", "labels")
        .order_by()
        .annotate(total=Sum("value"))
    )
    return [(name, parse_labels(labels), float(total or 0)) for name, labels, total in rows]


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(json.loads(text or "{}").items())


def parse_labels(text: str) -> dict[str, str]:
    """A stored label set (the same few strings come back on every row: parsed once)."""
    return dict(_parsed(text))


def compact(now: dt.datetime | None = None) -> int:
    """Fold the shards of closed hours into shard 0 and delete hours past
    :data:`KEEP_HOURLY`; how many rows went. Hours closed for over an hour only, so no
    writer can still be adding to them; the running totals are never folded (they are
    written all the time, and a few rows a series at most)."""
    now = now or timezone.now()
    closed = connection.ops.adapt_datetimefield_value(hour_of(now) - dt.timedelta(hours=1))
    oldest = connection.ops.adapt_datetimefield_value(hour_of(now) - KEEP_HOURLY)
    all_time = connection.ops.adapt_datetimefield_value(ALL_TIME)
    table = connection.ops.quote_name(Tally._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE hour > %s AND hour < %s",  # noqa: S608
                       [all_time, oldest])  # fmt: skip
        gone = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {table} (series, labels, hour, shard, value) "  # noqa: S608
            f"SELECT series, labels, hour, 0, SUM(value) FROM {table} "
            f"WHERE hour > %s AND hour < %s AND shard > 0 GROUP BY series, labels, hour "
            f"ON CONFLICT (hour, series, labels, shard) "
            f"DO UPDATE SET value = {table}.value + EXCLUDED.value",
            [all_time, closed],
        )
        cursor.execute(
            f"DELETE FROM {table} WHERE hour > %s AND hour < %s AND shard > 0",  # noqa: S608
            [all_time, closed],
        )
        gone += cursor.rowcount
    return max(0, int(gone))
