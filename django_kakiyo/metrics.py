"""The Prometheus metrics (``metrics/``), read from the database at each scrape.

Nothing is counted in a process's memory: counters and histograms are the tallies every
process writes (:mod:`django_kakiyo.tallies`), gauges are indexed readings
(:mod:`django_kakiyo.readings`). So any web process of any host answers the same numbers for
the whole deployment, Celery workers' work included, with no ``PROMETHEUS_MULTIPROC_DIR`` and
no server hook; the cost is a few small queries per scrape. prometheus_client (the
``django-kakiyo[metrics]`` extra) only writes the text format.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections import defaultdict
from collections.abc import Iterator, Sequence

from django.utils import timezone

from .at_risk import current_risks
from .conf import kakiyo_settings
from .database import bounded_transaction
from .health import spooled
from .models import DeliveryRisk
from .readings import backlog, failed_since, oldest_unprocessed, receiver_failures
from .tallies import INF, LAG_BUCKETS, REQUEST_BUCKETS, totals

#: The outcomes always shown (0 until one happens), so rates work from the first scrape.
OUTCOMES = ("accepted", "duplicate", "invalid", "spooled", "unavailable", "error")
#: The tallies a scrape reads.
SERIES = ("deliveries", "processed", "request_seconds", "request_seconds_sum", "lag_seconds",
          "lag_seconds_sum")  # fmt: skip


def metrics_available() -> bool:
    """Whether ``metrics/`` answers: ``METRICS`` says so, or (None) prometheus_client is
    installed."""
    wanted = kakiyo_settings.METRICS
    installed = importlib.util.find_spec("prometheus_client") is not None
    return installed if wanted is None else bool(wanted) and installed


def exposition() -> tuple[bytes, str]:
    """The text format and its content type. Raises DatabaseError when the database is
    unavailable (the view answers 503)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(KakiyoCollector())  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST


class KakiyoCollector:
    """One scrape's metrics, read in one short transaction."""

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import (  # an optional dependency
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        now = timezone.now()
        with bounded_transaction():
            found = totals(SERIES)
            failures = receiver_failures()
            waiting = backlog()
            oldest = oldest_unprocessed()
            failed = failed_since(now - dt.timedelta(hours=1))
            risks = {risk.kind for risk in current_risks()}

        deliveries = CounterMetricFamily(
            "kakiyo_deliveries", "Webhook answers by outcome (rejected: by reason) and "
            "endpoint (empty: the settings URL).", labels=["outcome", "reason", "endpoint"],
        )  # fmt: skip
        by_outcome: dict[tuple[str, ...], float] = {(name, "", ""): 0.0 for name in OUTCOMES}
        by_outcome.update(summed(found["deliveries"], ("outcome", "reason", "endpoint")))
        for (outcome, reason, endpoint), value in sorted(by_outcome.items()):
            deliveries.add_metric([outcome, reason, endpoint], value)
        yield deliveries
        processed = CounterMetricFamily(
            "kakiyo_events_processed", "Processing outcomes (processed, retried, failed).",
            labels=["event_type", "status"],
        )  # fmt: skip
        for labels, value in summed(found["processed"], ("event_type", "status")):
            processed.add_metric(list(labels), value)
        yield processed
        receivers = CounterMetricFamily(
            "kakiyo_receiver_failures", "Failed receiver attempts, by receiver.",
            labels=["receiver"],
        )  # fmt: skip
        for receiver, count in sorted(failures.items()):
            receivers.add_metric([receiver], count)
        yield receivers
        yield GaugeMetricFamily("kakiyo_backlog_events", "Events waiting or processing.",
                                value=waiting)  # fmt: skip
        age = (now - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "kakiyo_oldest_unprocessed_age_seconds",
            "Seconds since the oldest waiting or processing event arrived (0: none).", value=age,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "kakiyo_failed_last_hour_events", "Events that ended failed in the last hour.",
            value=failed,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "kakiyo_spooled_deliveries",
            "Deliveries in this host's spool, waiting to be imported.", value=spooled(),
        )  # fmt: skip
        at_risk = GaugeMetricFamily(
            "kakiyo_webhook_at_risk", "1 while answers put the webhook at risk, by kind.",
            labels=["kind"],
        )  # fmt: skip
        for kind in DeliveryRisk.Kind.values:
            at_risk.add_metric([kind], 1.0 if kind in risks else 0.0)
        yield at_risk
        for name, series, bounds, doc in (
            ("kakiyo_request_duration_seconds", "request_seconds", REQUEST_BUCKETS,
             "Time from a webhook request's start to its answer sent."),
            ("kakiyo_processing_lag_seconds", "lag_seconds", LAG_BUCKETS,
             "Time from an event's receipt to its processing."),
        ):  # fmt: skip
            buckets, _ = histogram(found[series], bounds)
            sum_value = sum(value for _, value in found[f"{series}_sum"])
            yield HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum_value)


def summed(
    rows: list[tuple[dict[str, str], float]], names: Sequence[str]
) -> list[tuple[tuple[str, ...], float]]:
    """Rows summed over the label sets ``names`` project them on, in a stable order."""
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in rows:
        sums[tuple(labels.get(name, "") for name in names)] += value
    return sorted(sums.items())


def histogram(
    rows: list[tuple[dict[str, str], float]], bounds: Sequence[float]
) -> tuple[list[tuple[str, float]], float]:
    """Non-cumulative bucket tallies as Prometheus's cumulative buckets, and the count."""
    per_bucket = dict(summed(rows, ("le",)))
    buckets, running = [], 0.0
    for bound in [*(f"{b:g}" for b in bounds), INF]:
        running += per_bucket.get((bound,), 0.0)
        buckets.append((bound, running))
    return buckets, running
