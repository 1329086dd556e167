"""Admin, stats and API pages on 1,000,000 events, and pruning under an ingest load.

    .venv/bin/python bench/admin_pages.py [--rows 1000000] [--prune 500000] [--repeat 7]

Needs PostgreSQL (KAKIYO_BENCH_DATABASE_URL, default database kakiyo_bench on 127.0.0.1,
created if missing). It (re)loads the events with one server-side INSERT ... SELECT (not
through HTTP), then times each page through Django's whole stack (test client, logged in as
a superuser, no network) ``--repeat`` times and reports the median and the worst. The
baseline, measured in the same run, is the admin changelist of a model with one row (the
users list): the ratio is what the big table costs.

Then it marks ``--prune`` of the oldest events processed, starts a separate process posting
signed deliveries one after another, measures their latency for 5 s, runs
``kakiyo_prune`` on those rows while the load goes on, and compares the load's p50/p99
during the prune with before it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

EVENT_TYPES = [
    "linkedin.message.sent",
    "linkedin.message.received",
    "linkedin.invitation.sent",
    "linkedin.invitation.accepted",
    "prospect.qualification.manual",
    "prospect.unqualified",
]

LOAD_SQL = """
INSERT INTO django_kakiyo_webhookevent (
    event_type, team_id, agent_id, campaign_id, chat_id, prospect_id, occurred_at,
    received_at, last_received_at, delivery_count, payload, raw_body, headers, remote_addr,
    signature_method, dedup_key, status, status_changed_at, invalid_reason, next_attempt_at,
    attempts, last_error, last_traceback, processed_at, history)
SELECT
    (%(types)s::text[])[1 + n %% 6],
    'team_' || (n %% 5),
    'agent_' || (n %% 50),
    'campaign_' || (n %% 500),
    'chat_' || (n %% 300000),
    'prospect_' || (n %% 200000),
    now() - (n * interval '2 seconds'),
    now() - (n * interval '2 seconds'),
    now() - (n * interval '2 seconds'),
    1,
    jsonb_build_object('event', (%(types)s::text[])[1 + n %% 6], 'teamId', 'team_' || (n %% 5),
        'data', jsonb_build_object('prospectId', 'prospect_' || (n %% 200000),
                                   'message', 'Hello there, number ' || n)),
    convert_to('{"event":"bench","n":' || n || '}', 'UTF8'),
    '{}'::jsonb,
    '203.0.113.9',
    'raw',
    encode(sha256(convert_to('bench-' || n, 'UTF8')), 'hex'),
    CASE WHEN n %% 100 = 0 THEN 'failed' WHEN n %% 1000 = 1 THEN 'queued' ELSE 'processed' END,
    now(), '', NULL, 1, '', '', now(), '[]'::jsonb
FROM generate_series(1, %(rows)s) AS n
"""


def median_and_max(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def ingest_load(started: Any, stop: Any, out_path: str) -> None:
    """A separate process posting distinct signed deliveries back to back until ``stop``."""
    import django

    django.setup()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--prune", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import django

    from bench import settings as bench_settings
    from bench.latency import ensure_database

    ensure_database(bench_settings.DATABASE_URL)
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from django_kakiyo.models import RejectedRequest, WebhookEvent

    call_command("migrate", verbosity=0)
    if WebhookEvent.objects.count() != args.rows:
        print(f"loading {args.rows} events ...", flush=True)
        start = time.time()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE django_kakiyo_webhookevent")
            cursor.execute(LOAD_SQL, {"types": EVENT_TYPES, "rows": args.rows})
            cursor.execute("ANALYZE django_kakiyo_webhookevent")
        print(f"loaded in {time.time() - start:.0f} s", flush=True)
    RejectedRequest.objects.all().delete()
    admin = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", "bench"
    )
    client = Client()
    client.force_login(admin)

    base = "/admin/django_kakiyo/webhookevent/"
    pages = {
        "baseline: users changelist (1 row)": "/admin/auth/user/",
        "events changelist": base,
        "changelist by type and status": (
            f"{base}?event_type=prospect.unqualified&status__exact=failed"
        ),
        "search by prospect id": f"{base}?q=prospect_4242",
        "changelist, one day (date hierarchy)": "DAY",
        "event detail": "DETAIL",
        "stats page, 24 h": f"{base}stats/",
        "stats page, 7 days": f"{base}stats/?period=7d",
        "API list": "/kakiyo/api/events/",
        "API list by type and status": (
            "/kakiyo/api/events/?type=prospect.unqualified&status=failed"
        ),
        "API list by prospect": "/kakiyo/api/events/?prospect=prospect_4242",
    }
    newest = WebhookEvent.objects.order_by("-received_at").first()
    assert newest is not None
    day = newest.received_at
    pages["changelist, one day (date hierarchy)"] = (
        f"{base}?received_at__day={day.day}&received_at__month={day.month}"
        f"&received_at__year={day.year}"
    )
    pages["event detail"] = f"{base}{newest.pk}/change/"

    print(f"\nserver time per page, {args.rows} events, {args.repeat} runs each")
    baseline = None
    for name, url in pages.items():
        client.get(url)  # warm
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
        if baseline is None:
            baseline = statistics.median(times)
        ratio = statistics.median(times) / baseline
        print(f"  {name:<40} {median_and_max(times)}   {ratio:5.1f}x baseline", flush=True)

    # Pruning under load.
    oldest = list(
        WebhookEvent.objects.order_by("received_at").values_list("pk", flat=True)[: args.prune]
    )
    cutoff_event = WebhookEvent.objects.get(pk=oldest[-1])
    WebhookEvent.objects.filter(received_at__lte=cutoff_event.received_at).update(
        status="processed"
    )
    days = (time.time() - cutoff_event.received_at.timestamp()) / 86400 - 1e-6
    out_path = str(REPO / "bench" / "prune-load.json")
    context = multiprocessing.get_context("spawn")
    started, stop = context.Event(), context.Event()
    load = context.Process(target=ingest_load, args=(started, stop, out_path))
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
    samples = json.loads(Path(out_path).read_text())
    before = [s[1] for s in samples[20:] if s[0] + s[1] < prune_start]
    during = [s[1] for s in samples if s[0] >= prune_start and s[0] + s[1] <= prune_end]
    statuses = {s[2] for s in samples}
    remaining = WebhookEvent.objects.count()
    print(
        f"\npruned {args.prune} events in {prune_end - prune_start:.1f} s "
        f"({remaining} rows left) while a separate process posted deliveries back to back"
    )
    print(
        f"  ingest before the prune: {len(before)} requests, p50 "
        f"{statistics.median(before) * 1000:.1f} ms, p99 {percentile(before, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  ingest during the prune: {len(during)} requests, p50 "
        f"{statistics.median(during) * 1000:.1f} ms, p99 {percentile(during, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  p99 during / before: {percentile(during, 0.99) / percentile(before, 0.99):.2f}x; "
        f"status codes seen: {sorted(statuses)}"
    )


if __name__ == "__main__":
    main()
