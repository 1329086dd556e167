"""Soak: our endpoint at a steady rate for minutes; errors, memory and latency drift.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 50] [--senders 8]

Needs PostgreSQL (database kakiyo_bench on 127.0.0.1, created if missing) and Redis on
127.0.0.1:6379 (databases 10 and 11). Starts the same gunicorn (2 workers x 2 threads,
gthread, bench.ingest_settings) and Celery worker (prefork, 2 processes) as bench/ingest.py
(bench/servers.py), empties the event table, then POSTs distinct pre-generated signed
deliveries to ``/kakiyo/webhook/`` at ``--rate`` requests per second for ``--minutes``,
after a 10 s warm-up at the same rate.

The load is open-loop (a Python pacer, not wrk, which cannot hold a fixed rate): request k
is due at start + k/rate, whatever happened to earlier ones, and is sent by the first of
``--senders`` threads that is free, each with its own keep-alive connection. Latency is
measured from the moment a request was due, so a stall shows up as latency instead of as a
slower rate.

It reports errors (non-2xx, duplicates, connection errors; goal 0), VmRSS of every gunicorn
and Celery process at the start (after the warm-up), every minute and at the end, p50/p99/max
latency and the worker's backlog per minute, CPU used by the bench and by other processes
per minute, and at the end waits for the worker and checks that every request got one row
and every row ended ``processed``. Raw results go to bench/results/soak-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

PATH = "/kakiyo/webhook/"
WARMUP_SECONDS = 10


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else math.nan


class Sender(threading.Thread):
    """Takes due requests off the queue and sends each on its own keep-alive connection."""

    def __init__(
        self, port: int, jobs: queue.Queue[Any], results: list[tuple], path: str = PATH
    ) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.jobs = jobs
        self.results = results
        self.connection: http.client.HTTPConnection | None = None

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            index, due, signature, body = job
            start = time.monotonic()
            status, error = 0, ""
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=30
                    )
                self.connection.request(
                    "POST",
                    self.path,
                    body=body,
                    headers={"Content-Type": "application/json", "X-Kakiyo-Signature": signature},
                )
                response = self.connection.getresponse()
                answer = response.read()
                status = response.status
                if status == 200 and json.loads(answer).get("duplicate") is not False:
                    error = "duplicate"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = type(exc).__name__
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
            end = time.monotonic()
            self.results.append((index, due, start, end, status, error))


def run_load(
    port: int,
    deliveries: list[tuple[str, bytes]],
    rate: float,
    senders: int,
    t0: float,
    path: str = PATH,
) -> list[tuple]:
    """Send every delivery, the k-th due at t0 + k/rate; returns one tuple per request:
    (index, due, start, end, status, error)."""
    jobs: queue.Queue[Any] = queue.Queue()
    results: list[tuple] = []
    threads = [Sender(port, jobs, results, path) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for index, (signature, body) in enumerate(deliveries):
        due = t0 + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((index, due, signature, body))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return results


def total_kib(memory: dict[str, dict[int, int]], tree: str) -> int:
    return sum(memory.get(tree, {}).values())


def describe_memory(memory: dict[str, dict[int, int]]) -> str:
    parts = []
    for tree, pids in memory.items():
        each = ", ".join(f"{pid}: {kib / 1024:.1f}" for pid, kib in pids.items())
        parts.append(f"{tree} {total_kib(memory, tree) / 1024:.1f} MiB ({each})")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="Length of the soak (10).")
    parser.add_argument("--rate", type=float, default=50, help="Requests per second (50).")
    parser.add_argument("--senders", type=int, default=8, help="Sender threads (8).")
    parser.add_argument("--drain-timeout", type=float, default=600)
    args = parser.parse_args()

    servers.exit_on_sigterm()
    bench_settings = servers.setup_django()
    import redis

    from django_kakiyo.models import RejectedRequest, WebhookEvent

    fingerprint = servers.code_fingerprint()
    print(f"code: {fingerprint}", flush=True)
    warmup_count = int(WARMUP_SECONDS * args.rate)
    count = int(args.minutes * 60 * args.rate)
    deliveries = servers.generate_deliveries(warmup_count + count)
    print(f"{len(deliveries)} distinct signed bodies generated", flush=True)
    servers.reset_events()
    redis.Redis.from_url(bench_settings.CELERY_BROKER_URL).flushdb()

    minutes: list[dict[str, Any]] = []
    with servers.Stack("soak") as stack:
        print(
            f"gunicorn {stack.base_url} {' '.join(servers.GUNICORN_OPTIONS)}; celery worker "
            f"prefork -c {servers.WORKER_CONCURRENCY}; {args.rate:g} req/s for "
            f"{args.minutes:g} min, {args.senders} senders",
            flush=True,
        )
        warmup = run_load(
            stack.port, deliveries[:warmup_count], args.rate, args.senders, time.monotonic()
        )
        warmup_errors = sum(1 for r in warmup if r[4] != 200 or r[5])
        memory_start = stack.memory()
        print(f"memory at start: {describe_memory(memory_start)}", flush=True)

        t0 = time.monotonic() + 0.5
        stop = threading.Event()

        def monitor() -> None:
            """Every minute of the load: memory, the worker's backlog, CPU."""
            meter = servers.CpuMeter(stack)
            meter.start()
            minute = 0
            while True:
                stopped = stop.wait(max(0.0, t0 + 60 * (minute + 1) - time.monotonic()))
                if stopped and time.monotonic() - (t0 + 60 * minute) < 5:
                    break  # the load ended right at a minute boundary, already sampled
                cpu = meter.stop()
                meter.start()
                memory = stack.memory()
                statuses = servers.status_counts()
                minutes.append(
                    {
                        "minute": minute + 1,
                        "gunicorn_kib": total_kib(memory, "gunicorn"),
                        "celery_kib": total_kib(memory, "celery"),
                        "pending": sum(statuses.get(s, 0) for s in servers.PENDING),
                        "rows": sum(statuses.values()),
                        "cpu": cpu,
                    }
                )
                print(
                    f"  minute {minute + 1}: gunicorn "
                    f"{total_kib(memory, 'gunicorn') / 1024:.1f} MiB, celery "
                    f"{total_kib(memory, 'celery') / 1024:.1f} MiB, unprocessed "
                    f"{minutes[-1]['pending']}, cpu ours {cpu['ours_pct']:.0f}% other "
                    f"{cpu['other_pct']:.0f}% steal {cpu['steal_pct']:.0f}%",
                    flush=True,
                )
                minute += 1
                if stopped:
                    break
            from django.db import connection

            connection.close()

        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        results = run_load(stack.port, deliveries[warmup_count:], args.rate, args.senders, t0)
        load_seconds = time.monotonic() - t0
        stop.set()
        watcher.join()
        memory_end = stack.memory()
        print(f"memory at end:   {describe_memory(memory_end)}", flush=True)

        rows_pending = servers.status_counts()
        drain_seconds = servers.wait_until(
            lambda: servers.status_counts().get("processed", 0) == WebhookEvent.objects.count(),
            args.drain_timeout,
        )
        statuses = servers.status_counts()
        rejected = RejectedRequest.objects.count()

    # Per minute of due time.
    by_minute: dict[int, list[tuple]] = {}
    for result in results:
        by_minute.setdefault(int((result[1] - t0) // 60), []).append(result)
    errors = [r for r in results if r[4] != 200 or r[5]]
    ok = len(results) - len(errors)
    total_requests = warmup_count + len(results)
    rows = sum(statuses.values())
    processed = statuses.get("processed", 0)

    achieved = len(results) / load_seconds
    print(f"\n{len(results)} requests in {load_seconds:.0f} s ({achieved:.1f}/s)")
    print(f"{'minute':>6} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'gunicorn MiB':>12} {'celery MiB':>10} {'unprocessed':>11} "
          f"{'cpu other':>9}")  # fmt: skip
    per_minute = []
    for minute, items in sorted(by_minute.items()):
        latencies = [(r[3] - r[1]) * 1000 for r in items]
        sample = minutes[minute] if minute < len(minutes) else None
        row = {
            "minute": minute + 1,
            "requests": len(items),
            "errors": sum(1 for r in items if r[4] != 200 or r[5]),
            "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies),
            "queue_wait_max_ms": max((r[2] - r[1]) * 1000 for r in items),
            **({k: v for k, v in sample.items() if k != "minute"} if sample else {}),
        }
        per_minute.append(row)
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
    all_latencies = [(r[3] - r[1]) * 1000 for r in results]
    print(
        f"whole soak: p50 {statistics.median(all_latencies):.1f} ms, "
        f"p99 {percentile(all_latencies, 0.99):.1f} ms, max {max(all_latencies):.1f} ms"
    )
    kinds: dict[str, int] = {}
    for r in errors:
        key = r[5] or f"HTTP {r[4]}"
        kinds[key] = kinds.get(key, 0) + 1
    print(f"errors: {len(errors)}" + (f" {kinds}" if kinds else ""))
    for tree in ("gunicorn", "celery"):
        start_kib, end_kib = total_kib(memory_start, tree), total_kib(memory_end, tree)
        print(
            f"{tree} RSS: {start_kib / 1024:.1f} MiB at start, {end_kib / 1024:.1f} MiB at end "
            f"({(end_kib - start_kib) / 1024:+.1f} MiB)"
        )
    print(
        f"unprocessed when the load stopped: "
        f"{sum(rows_pending.get(s, 0) for s in servers.PENDING)}; drained in "
        + ("TIMEOUT" if drain_seconds is None else f"{drain_seconds:.1f} s")
    )
    print(f"rows {rows} (requests incl. warm-up {total_requests}, answered 200 "
          f"{ok + warmup_count - warmup_errors}), processed {processed}, statuses {statuses}, "
          f"rejected {rejected}, warm-up errors {warmup_errors}")  # fmt: skip
    checks = []
    if errors or warmup_errors:
        checks.append(f"{len(errors) + warmup_errors} errors")
    if rows != total_requests:
        checks.append(f"{rows} rows for {total_requests} requests")
    if processed != rows:
        checks.append(f"{rows - processed} rows not processed")
    if rejected:
        checks.append(f"{rejected} rejected requests")
    print("checks: " + ("all passed" if not checks else "; ".join(checks)))

    out = servers.RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "code": fingerprint,
                "args": vars(args),
                "gunicorn": servers.GUNICORN_OPTIONS,
                "per_minute": per_minute,
                "memory_start_kib": memory_start,
                "memory_end_kib": memory_end,
                "errors": kinds,
                "rows": rows,
                "processed": processed,
                "statuses": statuses,
                "drain_seconds": drain_seconds,
                "checks": checks,
            },
            indent=2,
            default=str,
        )
    )
    print(f"raw results: {out.relative_to(servers.REPO)}")


if __name__ == "__main__":
    main()
