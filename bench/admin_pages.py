"""Admin, stats and API pages on 1,000,000 events, and pruning under an ingest load.

    .venv/bin/python bench/admin_pages.py [--rows 1000000] [--prune 500000] [--repeat 7]

Needs PostgreSQL (KAKIYO_BENCH_DATABASE_URL, default database kakiyo_bench on 127.0.0.1,
created if missing). It (re)loads the events with one server-side INSERT ... SELECT (not
through HTTP), a receiver outcome per event (failed ones with 5 attempts, one in 50 with a
failed first attempt), and the monitoring tallies the upgrade would start from them
(migration 0008's backfill: totals, and the hourly rows of the stats page). Then it times
each page through Django's whole stack (test client, logged in as a superuser, no network;
``health/`` and ``metrics/`` also with the bearer token, as a probe and Prometheus call them)
``--repeat`` times and reports the median and the worst. The baseline, measured in the same
run, is the admin changelist of a model with one row (the users list): the ratio is what the
big table costs.

Then it marks ``--prune`` of the oldest events processed, starts a separate process posting
signed deliveries one after another, measures their latency for 5 s, runs
``kakiyo_prune`` on those rows while the load goes on, and compares the load's p50/p99
during the prune with before it. ``--prune 0`` leaves the prune out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import environment
from bench.harness.deliveries import EVENT_TYPES
from bench.harness.report import percentile

SETTINGS = "bench.settings"
PRUNE_LOAD = environment.RESULTS / "prune-load.json"  # the load process's samples
TYPES = EVENT_TYPES[:6]  # LOAD_SQL cycles through 6 types
ADMIN = "/admin/django_kakiyo/webhookevent/"
API = "/kakiyo/api/events/"
TOKEN = "bench-monitoring-token-0123456789abcdef"

#: A receiver outcome per event, as processing records them.
OUTCOMES_SQL = """
INSERT INTO django_kakiyo_receiveroutcome (event_id, receiver, status, attempts, last_error,
                                           updated_at)
SELECT id, 'crm.receivers.on_message',
       CASE WHEN status = 'failed' THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN status = 'failed' THEN 5 WHEN id % 50 = 0 THEN 2 ELSE 1 END,
       CASE WHEN status = 'failed' THEN 'RuntimeError(''CRM down'')' ELSE '' END,
       received_at
FROM django_kakiyo_webhookevent
"""

#: One server-side INSERT ... SELECT of the events (psycopg parameters: types, rows).
LOAD_SQL = (Path(__file__).parent / "admin_pages.sql").read_text()


def load_events(rows: int) -> None:
    """(Re)load ``rows`` events with one server-side INSERT ... SELECT, unless they are there."""
    from django.apps import apps as django_apps
    from django.db import connection

    from django_kakiyo.models import ReceiverOutcome, RejectedRequest, WebhookEvent

    if WebhookEvent.objects.count() != rows:
        print(f"loading {rows} events ...", flush=True)
        start = time.time()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE django_kakiyo_receiveroutcome, django_kakiyo_webhookevent")
            cursor.execute(LOAD_SQL, {"types": TYPES, "rows": rows})
        print(f"loaded in {time.time() - start:.0f} s", flush=True)
    if not ReceiverOutcome.objects.exists():
        print("receiver outcomes and tallies ...", flush=True)
        start = time.time()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE django_kakiyo_tally")
            cursor.execute(OUTCOMES_SQL)
        backfill = importlib.import_module(
            "django_kakiyo.migrations.0008_tallies_from_stored_rows"
        ).backfill
        with connection.schema_editor() as editor:
            backfill(django_apps, editor)
        with connection.cursor() as cursor:
            for table in ("webhookevent", "receiveroutcome", "tally"):
                cursor.execute(f"VACUUM ANALYZE django_kakiyo_{table}")
        print(f"done in {time.time() - start:.0f} s", flush=True)
    RejectedRequest.objects.all().delete()


def pages() -> dict[str, str]:
    """The pages timed, the baseline first."""
    from django_kakiyo.models import WebhookEvent

    newest = WebhookEvent.objects.order_by("-received_at").first()
    assert newest is not None
    day = newest.received_at
    return {
        "baseline: users changelist (1 row)": "/admin/auth/user/",
        "events changelist": ADMIN,
        "changelist by type and status": (
            f"{ADMIN}?event_type=prospect.unqualified&status__exact=failed"
        ),
        "search by prospect id": f"{ADMIN}?q=prospect_4242",
        "changelist, one day (date hierarchy)": (
            f"{ADMIN}?received_at__day={day.day}&received_at__month={day.month}"
            f"&received_at__year={day.year}"
        ),
        "event detail": f"{ADMIN}{newest.pk}/change/",
        "stats page, 24 h": f"{ADMIN}stats/",
        "stats page, 7 days": f"{ADMIN}stats/?period=7d",
        "stats page, 30 days": f"{ADMIN}stats/?period=30d",
        "health/ (bearer token)": "/kakiyo/health/",
        "metrics/ (bearer token)": "/kakiyo/metrics/",
        "metrics/ (logged in)": "/kakiyo/metrics/",
        "API list": API,
        "API list by type and status": f"{API}?type=prospect.unqualified&status=failed",
        "API list by prospect": f"{API}?prospect=prospect_4242",
    }


def time_pages(repeat: int) -> None:
    """Each page ``repeat`` times as a logged-in superuser: median, worst, x baseline."""
    from django.contrib.auth.models import User
    from django.test import Client

    admin = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", "bench"
    )
    client = Client()
    client.force_login(admin)
    probe = Client(headers={"Authorization": f"Bearer {TOKEN}"})  # no session
    baseline = None
    for name, url in pages().items():
        by = probe if "bearer" in name else client
        by.get(url)  # warm
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = by.get(url)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
        if "metrics" in name:
            assert response["Content-Type"].startswith("text/plain"), response["Content-Type"]
        baseline = baseline or statistics.median(times)
        ratio = statistics.median(times) / baseline
        print(
            f"  {name:<40} median {statistics.median(times) * 1000:7.1f} ms   max "
            f"{max(times) * 1000:7.1f} ms   {ratio:5.1f}x baseline",
            flush=True,
        )


def ingest_load(started: Any, stop: Any, out_path: str) -> None:
    """A separate process posting distinct signed deliveries back to back until ``stop``."""
    environment.setup_django(SETTINGS, migrate=False)
    from django.test import Client

    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    client = Client()
    samples = []
    index = 0
    while not stop.is_set():
        index += 1
        payload = make_payload("linkedin.message.received", sample_data("x", 10**7 + index))
        payload["data"]["load"] = f"{os.getpid()}-{index}-{time.time()}"
        body, headers = sign_payload(payload)
        start = time.time()
        response = client.post(
            "/kakiyo/webhook/", data=body, content_type="application/json", headers=headers
        )
        samples.append((start, time.time() - start, response.status_code))
        if index == 20:
            started.set()
    Path(out_path).write_text(json.dumps(samples))


def prune_under_load(prune: int) -> None:
    """Prune the oldest ``prune`` events while ingest_load runs; its latency before/during."""
    from django.core.management import call_command

    from django_kakiyo.models import WebhookEvent

    oldest = list(
        WebhookEvent.objects.order_by("received_at").values_list("pk", flat=True)[:prune]
    )
    cutoff = WebhookEvent.objects.get(pk=oldest[-1]).received_at
    WebhookEvent.objects.filter(received_at__lte=cutoff).update(status="processed")
    days = (time.time() - cutoff.timestamp()) / 86400 - 1e-6
    environment.RESULTS.mkdir(exist_ok=True)
    context = multiprocessing.get_context("spawn")
    started, stop = context.Event(), context.Event()
    load = context.Process(target=ingest_load, args=(started, stop, str(PRUNE_LOAD)))
    load.start()
    started.wait(60)
    time.sleep(5)  # the "before" phase
    prune_start = time.time()
    with open(os.devnull, "w") as devnull:
        call_command("kakiyo_prune", "--days", str(days), stdout=devnull)
    prune_end = time.time()
    time.sleep(1)
    stop.set()
    load.join(60)
    samples = json.loads(PRUNE_LOAD.read_text())
    before = [s[1] for s in samples[20:] if s[0] + s[1] < prune_start]
    during = [s[1] for s in samples if s[0] >= prune_start and s[0] + s[1] <= prune_end]
    print(
        f"\npruned {prune} events in {prune_end - prune_start:.1f} s "
        f"({WebhookEvent.objects.count()} rows left) while a separate process posted "
        "deliveries back to back"
    )
    for label, values in (("before", before), ("during", during)):
        print(
            f"  ingest {label} the prune: {len(values)} requests, p50 "
            f"{statistics.median(values) * 1000:.1f} ms, p99 "
            f"{percentile(values, 0.99) * 1000:.1f} ms"
        )
    print(
        f"  p99 during / before: {percentile(during, 0.99) / percentile(before, 0.99):.2f}x; "
        f"status codes seen: {sorted({s[2] for s in samples})}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--prune", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ["KAKIYO_BENCH_KAKIYO"] = json.dumps({"MONITORING_TOKEN": TOKEN, "METRICS": True})
    environment.setup_django(SETTINGS)
    load_events(args.rows)
    print(f"\nserver time per page, {args.rows} events, {args.repeat} runs each")
    time_pages(args.repeat)
    if args.prune > 0:  # --prune 0: the pages alone
        prune_under_load(args.prune)


if __name__ == "__main__":
    main()
