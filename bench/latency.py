"""Receipt -> receiver latency with a Celery worker on Redis, against a bare Celery baseline.

    .venv/bin/python bench/latency.py [--n 300] [--pause 0.1] [--publish-interval 0]

Needs PostgreSQL (KAKIYO_BENCH_DATABASE_URL, default database kakiyo_bench on 127.0.0.1,
created if missing) and Redis on 127.0.0.1:6379 (databases 10 and 11). It starts one worker
(prefork, 2 processes; log in bench/results/latency-worker.log), then alternates, one request
in flight at a time:

- ours: a signed delivery POSTed through Django's full request stack (test client, no
  network), stored in PostgreSQL, handed to this process's publisher thread; the clock
  stops when a receiver connected to ``event_received`` runs in the worker;
- baseline: ``baseline_task.delay()``, a bare Celery task doing the same stamp.

``--pause SECONDS`` sleeps before each delivery (a quiet spell); ``--publish-interval``
overrides ``PUBLISH_BATCH_INTERVAL`` (0 by default: the publisher sends as soon as it has an
id). It prints p50/p99 of each, how much of ours the answer took (the request: verify, store,
commit), and the ratio ours / baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import environment
from bench.harness.report import percentile, ratio
from bench.harness.servers import CeleryWorker

WARMUP = 20  # the first deliveries of each warm up connections and caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="Samples of each (default 300).")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="Seconds of quiet before each delivery (0)."
    )
    parser.add_argument(
        "--publish-interval",
        type=float,
        default=None,
        help="KAKIYO['PUBLISH_BATCH_INTERVAL'] for this run (default: the setting's).",
    )
    args = parser.parse_args()

    bench_settings = environment.setup_django("bench.settings")
    import redis
    from django.conf import settings
    from django.test import Client

    from bench.stamps import STAMPS_URL, baseline_task
    from django_kakiyo.conf import kakiyo_settings
    from django_kakiyo.models import WebhookEvent
    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    if args.publish_interval is not None:
        settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_INTERVAL": args.publish_interval}
        kakiyo_settings.reload()
    WebhookEvent.objects.all().delete()
    stamps = redis.Redis.from_url(STAMPS_URL)
    stamps.flushdb()
    redis.Redis.from_url(bench_settings.CELERY_BROKER_URL).flushdb()

    def wait(key: str) -> float:
        while (value := stamps.get(key)) is None:
            time.sleep(0.0005)
        return float(value)

    ours: list[float] = []
    answers: list[float] = []
    base: list[float] = []
    with CeleryWorker("latency-worker", "bench.settings", concurrency=2) as worker:
        baseline_task.delay("warmup")
        worker.wait_for(lambda: stamps.get("warmup"), "the worker did not start")
        client = Client()
        for index in range(args.n + WARMUP):
            event_type = "linkedin.message.received"
            body, headers = sign_payload(make_payload(event_type, sample_data(event_type, index)))
            time.sleep(args.pause)
            start = time.time()
            response = client.post(
                "/kakiyo/webhook/", data=body, content_type="application/json", headers=headers
            )
            answer = time.time() - start
            ours_latency = wait(f"event:{response.json()['id']}") - start

            start = time.time()
            baseline_task.delay(f"base:{index}")
            base_latency = wait(f"base:{index}") - start
            if index >= WARMUP:
                ours.append(ours_latency)
                answers.append(answer)
                base.append(base_latency)

    def row(name: str, values: list[float]) -> str:
        return (
            f"{name:<34} p50 {statistics.median(values) * 1000:7.2f} ms   "
            f"p99 {percentile(values, 0.99) * 1000:7.2f} ms"
        )

    print(
        f"receipt -> receiver latency, {args.n} samples each, one in flight, pause "
        f"{args.pause:g} s, PUBLISH_BATCH_INTERVAL {kakiyo_settings.PUBLISH_BATCH_INTERVAL:g} s"
    )
    print(row("bare Celery task (baseline)", base))
    print(row("django-kakiyo delivery -> receiver", ours))
    print(row("  of which the answer", answers))
    print(
        f"ratio ours/baseline: p50 {ratio(statistics.median(ours), statistics.median(base))}, "
        f"p99 {ratio(percentile(ours, 0.99), percentile(base, 0.99))}"
    )


if __name__ == "__main__":
    main()
