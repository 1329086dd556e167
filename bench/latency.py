"""Receipt -> receiver latency with a Celery worker on Redis, against a bare Celery baseline.

    .venv/bin/python bench/latency.py [--n 300] [--pause 0.1] [--publish-interval 0]

Needs PostgreSQL (KAKIYO_BENCH_DATABASE_URL, default database kakiyo_bench on 127.0.0.1,
created if missing) and Redis on 127.0.0.1:6379 (databases 10 and 11). It starts one worker
(prefork, 2 processes), then alternates, one request in flight at a time:

- ours: a signed delivery POSTed through Django's full request stack (test client, no
  network), stored in PostgreSQL, handed to this process's publisher thread; the clock
  stops when a receiver connected to ``event_received`` runs in the worker;
- baseline: ``baseline_task.delay()``, a bare Celery task doing the same stamp.

Back to back, a delivery arrives every 20-30 ms, within the publisher's
``PUBLISH_BATCH_INTERVAL`` (0.05 s) of the previous one, so it waits for the rest of the
interval: the worst case of batching. ``--pause SECONDS`` sleeps before each delivery (a
quiet spell: published at once); ``--publish-interval`` overrides the setting. It prints
p50/p99 of each and their ratio (ours / baseline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


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

    import django

    from bench import settings as bench_settings

    ensure_database(bench_settings.DATABASE_URL)
    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from bench.stamps import STAMPS_URL, baseline_task
    from django_kakiyo.conf import kakiyo_settings
    from django_kakiyo.models import WebhookEvent
    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    if args.publish_interval is not None:
        settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_INTERVAL": args.publish_interval}
        kakiyo_settings.reload()
    call_command("migrate", verbosity=0)
    WebhookEvent.objects.all().delete()
    stamps = redis.Redis.from_url(STAMPS_URL)
    stamps.flushdb()
    redis.Redis.from_url(bench_settings.CELERY_BROKER_URL).flushdb()

    log = open(REPO / "bench" / "latency-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "example_project", "worker", "-c", "2",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        baseline_task.delay("warmup")
        deadline = time.monotonic() + 60
        while not stamps.get("warmup"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not start; see bench/latency-worker.log")
            time.sleep(0.05)

        client = Client()

        def wait(key: str) -> float:
            while (value := stamps.get(key)) is None:
                time.sleep(0.0005)
            return float(value)

        ours: list[float] = []
        base: list[float] = []
        for index in range(args.n + 20):
            body, headers = sign_payload(
                make_payload(
                    "linkedin.message.received", sample_data("linkedin.message.received", index)
                )
            )
            time.sleep(args.pause)
            start = time.time()
            response = client.post(
                "/kakiyo/webhook/", data=body, content_type="application/json", headers=headers
            )
            event_id = response.json()["id"]
            ours_latency = wait(f"event:{event_id}") - start

            start = time.time()
            baseline_task.delay(f"base:{index}")
            base_latency = wait(f"base:{index}") - start
            if index >= 20:  # the first 20 of each warm up connections and caches
                ours.append(ours_latency)
                base.append(base_latency)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()

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
    print(
        f"ratio ours/baseline: p50 {statistics.median(ours) / statistics.median(base):.2f}x, "
        f"p99 {percentile(ours, 0.99) / percentile(base, 0.99):.2f}x"
    )


if __name__ == "__main__":
    main()
