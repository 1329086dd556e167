"""Drain: how fast a worker empties a backlog of stored events, against bare no-op tasks.

    .venv/bin/python bench/drain.py [--n 5000] [--rounds 3] [--broker redis|rabbitmq]

Needs PostgreSQL (database kakiyo_bench on 127.0.0.1, created if missing) and Redis on
127.0.0.1:6379 (databases 10 and 11), or RabbitMQ on 127.0.0.1:5672 with ``--broker
rabbitmq``. Each round, with no worker running:

- **baseline**: ``--n`` bare Celery tasks (``bench.bare``: counts that it ran, nothing else)
  are published, one message each;
- **ours**: ``--n`` events are stored (``received``, as the webhook stores them) and published
  the way the web process does, ``PUBLISH_BATCH_SIZE`` ids to a message;

then one Celery worker (prefork, 2 processes, the bench settings: ``CELERY_DB_REUSE_MAX``,
prefetch 1, acks late) is started, and the clock runs from its first task to the last task
run (baseline) or the last event processed (ours). The worker runs no receiver for our events:
this measures the app's own pipeline (claim, mark processed, commit). It prints tasks/s and
events/s per round, their medians, and the ratio ours/baseline (goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.database import reset_events
from bench.harness.environment import INGEST_SETTINGS, exit_on_sigterm, setup_django
from bench.harness.servers import CeleryWorker

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def purge(app: object) -> None:
    app.control.purge()  # type: ignore[attr-defined]


def baseline_round(n: int, broker_env: dict[str, str]) -> float:
    import redis

    from bench.baseline import COUNTER_KEY, COUNTER_URL, bare_task

    counter = redis.Redis.from_url(COUNTER_URL)
    counter.delete(COUNTER_KEY)
    for index in range(n):
        bare_task.delay(index)
    return run_worker("drain-baseline", broker_env, lambda: int(counter.get(COUNTER_KEY) or 0), n)


def ours_round(n: int, broker_env: dict[str, str]) -> float:
    from django.utils import timezone

    from django_kakiyo.models import WebhookEvent
    from django_kakiyo.publishing import publish_in_batches

    reset_events()
    now = timezone.now()
    rows = [
        WebhookEvent(
            event_type="linkedin.message.received",
            prospect_id=f"p_{index}",
            payload={"event": "linkedin.message.received", "data": {"prospectId": f"p_{index}"}},
            raw_body=b"{}",
            dedup_key=f"{index:064d}",
            received_at=now,
            last_received_at=now,
            status_changed_at=now,
            next_attempt_at=now,
        )
        for index in range(n)
    ]
    created = WebhookEvent.objects.bulk_create(rows, batch_size=1000)
    published = publish_in_batches([row.pk for row in created])
    assert published == n, f"published {published} of {n}"
    processed = WebhookEvent.objects.filter(status="processed")
    return run_worker("drain-ours", broker_env, processed.count, n)


def run_worker(name: str, env: dict[str, str], done: Callable[[], int], n: int) -> float:
    """Start a worker on the waiting messages; items/s from its first to its last."""
    worker = CeleryWorker(name, INGEST_SETTINGS, env=env)
    worker.start()
    try:
        worker.wait_for(lambda: done() > 0, "the worker did not start", timeout=120, poll=0.01)
        started = time.monotonic()
        first = done()
        worker.wait_for(lambda: done() >= n, f"{name}: all {n} done", timeout=600, poll=0.01)
        return (n - first) / (time.monotonic() - started)
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="Tasks and events per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--broker", choices=["redis", "rabbitmq"], default="redis")
    args = parser.parse_args()
    exit_on_sigterm()
    env = {"KAKIYO_BENCH_BROKER_URL": RABBITMQ_URL} if args.broker == "rabbitmq" else {}
    os.environ.update(env)  # this process publishes there too
    setup_django(INGEST_SETTINGS)
    from example_project import celery_app

    baseline, ours = [], []
    for round_number in range(1, args.rounds + 1):
        purge(celery_app)
        baseline.append(baseline_round(args.n, env))
        purge(celery_app)
        ours.append(ours_round(args.n, env))
        print(f"round {round_number}: baseline {baseline[-1]:.0f} tasks/s, "
              f"ours {ours[-1]:.0f} events/s", flush=True)  # fmt: skip
    b, o = statistics.median(baseline), statistics.median(ours)
    print(f"median: baseline {b:.0f} tasks/s, ours {o:.0f} events/s ({args.broker})")
    print(f"ratio ours/baseline: drain {o / b:.2f}x (goal: at least 0.5x)")


if __name__ == "__main__":
    main()
