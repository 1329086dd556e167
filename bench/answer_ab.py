"""The web side alone, in one process: our webhook view against the hand-written baseline.

    .venv/bin/python bench/answer_ab.py [--n 2000] [--rounds 5]

No server, no network, no worker: Django's test client posts distinct signed deliveries to
``/kakiyo/webhook/`` and ``/baseline/webhook/`` (``bench.ingest_settings``: PostgreSQL
database ``KAKIYO_BENCH_DATABASE_URL``, default ``kakiyo_bench``, migrated first; the example
project's full middleware), alternating rounds of
``--n`` each. Publishing is switched off for both (no broker is reached; our ids go to the
publisher thread, which is stopped; the baseline's ``on_commit`` runs a no-op), so this
measures what the request costs: parse, verify, store, commit, answer. It prints the median
time per request of each, and the ratio. Useful next to ``ingest.py`` (whose req/s also
depends on the worker sharing the CPU) to compare commits: it needs nothing of the bench
harness, so a copy runs on an older checkout (give that one a database of its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="Requests per round (2000).")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds of each (5).")
    args = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.ingest_settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    import bench.baseline
    from django_kakiyo.publishing import background_publisher
    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    background_publisher.submit = lambda event_id: True  # type: ignore[method-assign]

    class NoTask:
        def delay(self, *args: object) -> None:
            pass

    bench.baseline.bare_task = NoTask()  # type: ignore[assignment]
    call_command("migrate", verbosity=0)
    client = Client()
    serial = iter(range(10**9))

    def reset_events() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE django_kakiyo_webhookevent CASCADE")
            cursor.execute("CHECKPOINT")

    def run(url: str) -> float:
        bodies = []
        for _ in range(args.n):
            index = next(serial)
            event_type = "linkedin.message.received"
            bodies.append(sign_payload(make_payload(event_type, sample_data(event_type, index))))
        start = time.perf_counter()
        for body, headers in bodies:
            response = client.post(url, data=body, content_type="application/json",
                                   headers=headers)  # fmt: skip
            assert response.status_code == 200, response.content
        return (time.perf_counter() - start) / args.n

    reset_events()
    run("/kakiyo/webhook/"), run("/baseline/webhook/")  # warm-up
    ours, base = [], []
    for _ in range(args.rounds):
        reset_events()
        ours.append(run("/kakiyo/webhook/"))
        reset_events()
        base.append(run("/baseline/webhook/"))
    o, b = statistics.median(ours), statistics.median(base)
    print(f"per request, median of {args.rounds} rounds of {args.n}: ours {o * 1000:.3f} ms, "
          f"baseline {b * 1000:.3f} ms; requests/s ratio ours/baseline {b / o:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
