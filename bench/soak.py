"""Soak: our endpoint at a steady rate for minutes; errors, memory and latency drift.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 50] [--senders 8]

Needs PostgreSQL (database kakiyo_bench on 127.0.0.1, created if missing) and Redis on
127.0.0.1:6379 (databases 10 and 11). Starts the same gunicorn (2 workers x 2 threads,
gthread, bench.ingest_settings) and Celery worker (prefork, 2 processes) as bench/ingest.py
(bench/harness/servers.py), empties the event table, then POSTs distinct pre-generated signed
deliveries to ``/kakiyo/webhook/`` at ``--rate`` requests per second for ``--minutes``,
after a 10 s warm-up at the same rate.

The load is open-loop (bench/harness/load.py, a Python pacer, not wrk, which cannot hold a
fixed rate): request k is due at start + k/rate, whatever happened to earlier ones, and is
sent by the first of ``--senders`` threads that is free, each with its own keep-alive
connection. Latency is measured from the moment a request was due, so a stall shows up as
latency instead of as a slower rate.

It reports errors (non-2xx, duplicates, connection errors; goal 0), VmRSS of every gunicorn
and Celery process at the start (after the warm-up), every minute and at the end, p50/p99/max
latency and the worker's backlog per minute, CPU used by the bench and by other processes
per minute, and at the end waits for the worker and checks that every request got one row
and every row ended ``processed``. Raw results go to bench/results/soak-*.json.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import environment
from bench.harness.database import PENDING, reset_events, status_counts
from bench.harness.deliveries import generate_deliveries
from bench.harness.load import Result, run_load
from bench.harness.monitor import MinuteSampler
from bench.harness.procfs import describe_memory, total_kib
from bench.harness.report import median, percentile
from bench.harness.servers import GUNICORN_OPTIONS, WORKER_CONCURRENCY, Stack
from bench.harness.waiting import wait_until

WARMUP_SECONDS = 10


def per_minute_rows(results: list[Result], t0: float, samples: list[dict]) -> list[dict]:
    """Requests, errors and latency per minute of due time, with that minute's sample."""
    by_minute: dict[int, list[Result]] = collections.defaultdict(list)
    for result in results:
        by_minute[int((result.due - t0) // 60)].append(result)
    print(f"{'minute':>6} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'gunicorn MiB':>12} {'celery MiB':>10} {'unprocessed':>11} "
          f"{'cpu other':>9}")  # fmt: skip
    rows = []
    for minute, items in sorted(by_minute.items()):
        latencies = [r.latency * 1000 for r in items]
        sample = samples[minute] if minute < len(samples) else None
        row = {
            "minute": minute + 1,
            "requests": len(items),
            "errors": sum(1 for r in items if r.failed),
            "p50_ms": median(latencies),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies),
            "queue_wait_max_ms": max((r.start - r.due) * 1000 for r in items),
            **({k: v for k, v in sample.items() if k != "minute"} if sample else {}),
        }
        rows.append(row)
        print(
            f"{row['minute']:>6} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:7.1f} "
            f"{row['p99_ms']:7.1f} {row['max_ms']:7.1f} "
            + (
                f"{sample['gunicorn_kib'] / 1024:12.1f} {sample['celery_kib'] / 1024:10.1f} "
                f"{sample['pending']:11d} {sample['cpu']['other_pct']:8.0f}%"
                if sample
                else ""
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="Length of the soak (10).")
    parser.add_argument("--rate", type=float, default=50, help="Requests per second (50).")
    parser.add_argument("--senders", type=int, default=8, help="Sender threads (8).")
    parser.add_argument("--drain-timeout", type=float, default=600)
    args = parser.parse_args()
    environment.exit_on_sigterm()
    bench_settings = environment.setup_django()
    import redis

    from django_kakiyo.models import RejectedRequest, WebhookEvent

    fingerprint = environment.code_fingerprint()
    print(f"code: {fingerprint}", flush=True)
    warmup_count = int(WARMUP_SECONDS * args.rate)
    deliveries = generate_deliveries(warmup_count + int(args.minutes * 60 * args.rate))
    print(f"{len(deliveries)} distinct signed bodies generated", flush=True)
    reset_events()
    redis.Redis.from_url(bench_settings.CELERY_BROKER_URL).flushdb()

    with Stack("soak") as stack:
        print(f"gunicorn {stack.base_url} {' '.join(GUNICORN_OPTIONS)}; celery worker prefork "
              f"-c {WORKER_CONCURRENCY}; {args.rate:g} req/s for {args.minutes:g} min, "
              f"{args.senders} senders", flush=True)  # fmt: skip
        warmup = run_load(
            stack.port, deliveries[:warmup_count], args.rate, args.senders, time.monotonic()
        )
        warmup_errors = sum(1 for r in warmup if r.failed)
        memory_start = stack.memory()
        print(f"memory at start: {describe_memory(memory_start)}", flush=True)
        t0 = time.monotonic() + 0.5
        sampler = MinuteSampler(stack, t0)
        sampler.start()
        results = run_load(stack.port, deliveries[warmup_count:], args.rate, args.senders, t0)
        load_seconds = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        memory_end = stack.memory()
        print(f"memory at end:   {describe_memory(memory_end)}", flush=True)
        rows_pending = status_counts()
        drain_seconds = wait_until(
            lambda: status_counts().get("processed", 0) == WebhookEvent.objects.count(),
            args.drain_timeout,
        )
        statuses = status_counts()
        rejected = RejectedRequest.objects.count()

    print(f"\n{len(results)} requests in {load_seconds:.0f} s "
          f"({len(results) / load_seconds:.1f}/s)")  # fmt: skip
    per_minute = per_minute_rows(results, t0, sampler.minutes)
    latencies = [r.latency * 1000 for r in results]
    print(f"whole soak: p50 {median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} "
          f"ms, max {max(latencies):.1f} ms")  # fmt: skip
    errors = collections.Counter(r.error or f"HTTP {r.status}" for r in results if r.failed)
    print(f"errors: {errors.total()}" + (f" {dict(errors)}" if errors else ""))
    for tree in ("gunicorn", "celery"):
        start_kib, end_kib = total_kib(memory_start, tree), total_kib(memory_end, tree)
        print(f"{tree} RSS: {start_kib / 1024:.1f} MiB at start, {end_kib / 1024:.1f} MiB at "
              f"end ({(end_kib - start_kib) / 1024:+.1f} MiB)")  # fmt: skip
    drained = "TIMEOUT" if drain_seconds is None else f"{drain_seconds:.1f} s"
    print(f"unprocessed when the load stopped: {sum(rows_pending.get(s, 0) for s in PENDING)}; "
          f"drained in {drained}")  # fmt: skip
    total_requests = warmup_count + len(results)
    rows, processed = sum(statuses.values()), statuses.get("processed", 0)
    answered = total_requests - errors.total() - warmup_errors
    print(f"rows {rows} (requests incl. warm-up {total_requests}, answered 200 {answered}), "
          f"processed {processed}, statuses {statuses}, rejected {rejected}, warm-up errors "
          f"{warmup_errors}")  # fmt: skip
    checks = [
        check
        for check, bad in (
            (f"{errors.total() + warmup_errors} errors", errors.total() or warmup_errors),
            (f"{rows} rows for {total_requests} requests", rows != total_requests),
            (f"{rows - processed} rows not processed", processed != rows),
            (f"{rejected} rejected requests", rejected),
        )
        if bad
    ]
    print("checks: " + ("all passed" if not checks else "; ".join(checks)))
    out = environment.save_results(
        "soak",
        {"code": fingerprint, "args": vars(args), "gunicorn": GUNICORN_OPTIONS,
         "per_minute": per_minute, "memory_start_kib": memory_start,
         "memory_end_kib": memory_end, "errors": dict(errors), "rows": rows,
         "processed": processed, "statuses": statuses, "drain_seconds": drain_seconds,
         "checks": checks},
        default=str,
    )  # fmt: skip
    print(f"raw results: {out.relative_to(environment.REPO)}")


if __name__ == "__main__":
    main()
