"""Flood: authentic deliveries while fake-signed 1 MB bodies pour in; latency against no flood.

    .venv/bin/python bench/flood.py [--seconds 30] [--flooders 6] [--rate 5]

Needs PostgreSQL (database kakiyo_bench on 127.0.0.1, created if missing) and Redis on
127.0.0.1:6379 (databases 10 and 11). Starts gunicorn (2 workers x 4 threads, gthread) and a
Celery worker with the bench settings (bench/harness/servers.py), then runs, for
``--seconds`` each:

1. **quiet**: authentic signed deliveries, one every 1/``--rate`` s on one keep-alive
   connection (open loop, bench/harness/load.py: latency counts from when a delivery was due);
2. **flood**: the same, while ``--flooders`` connections send, back to back, a 1 MB JSON body
   ``[{"0":0},{"0":0},...]`` with a well-formed but wrong ``X-Kakiyo-Signature``: the body the
   attack report used, slow to re-serialise;
3. **unprotected flood** (skip with ``--no-unprotected``): phase 2 on a server restarted with
   the fallback's guards lifted (``CANONICAL_MAX_BYTES`` 2 MiB, ``CANONICAL_CPU_BUDGET``
   1000), which is how the app behaved before them.

Prints, per phase, the authentic deliveries' p50 / p95 / max latency, their statuses, the
flood requests answered per second and their statuses, then the ratios against the quiet
phase. The goal (hostile-traffic issue): under the flood, a median under 0.1 s and never
over 2 s, every authentic delivery answered 200. Raw results go to bench/results/flood-*.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import environment
from bench.harness.database import reset_events
from bench.harness.deliveries import WEBHOOK_PATH, Connection, generate_deliveries
from bench.harness.load import run_load
from bench.harness.report import percentile
from bench.harness.servers import Stack

FAKE_SIGNATURE = "ab" * 32
GUNICORN_OPTIONS = [
    "--workers", "2",
    "--worker-class", "gthread",
    "--threads", "4",
    "--keep-alive", "60",
    "--timeout", "60",
    "--log-level", "warning",
]  # fmt: skip
UNPROTECTED = {"CANONICAL_MAX_BYTES": 2 * 1024 * 1024, "CANONICAL_CPU_BUDGET": 1000}


def attack_body(size: int = 1_000_000) -> bytes:
    item = b'{"0":0},'
    return b"[" + item * (size // len(item)) + b'{"0":0}]'


def flood(port: int, stop: threading.Event, statuses: Counter[Any]) -> None:
    """Post the attack body back to back on one connection until ``stop``."""
    body = attack_body()
    connection = Connection(port, timeout=60)
    while not stop.is_set():
        status, _, error = connection.post(WEBHOOK_PATH, body, FAKE_SIGNATURE)
        statuses[status or error] += 1
    connection.close()


def phase(port: int, deliveries: list[tuple[str, bytes]], rate: float, flooders: int) -> dict:
    """The authentic deliveries at ``rate`` on one connection, under ``flooders`` floods."""
    stop = threading.Event()
    flood_statuses: Counter[Any] = Counter()
    threads = [
        threading.Thread(target=flood, args=(port, stop, flood_statuses), daemon=True)
        for _ in range(flooders)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2 if flooders else 0)  # let the flood reach its pace
    started = time.monotonic()
    results = run_load(port, deliveries, rate, senders=1, t0=started, timeout=60)
    seconds = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(60)
    latencies = [r.latency for r in results]
    return {
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
        "statuses": dict(Counter(r.outcome for r in results)),
        "flood_per_second": sum(flood_statuses.values()) / seconds if flooders else 0.0,
        "flood_statuses": {str(k): v for k, v in flood_statuses.items()},
    }


def run_stack(name: str, env: dict[str, str], plan: list[tuple[str, int]], args: Any) -> dict:
    """Start a Stack with ``env``, run each (label, flooders) phase of ``plan`` on it."""
    results = {}
    offset = 0
    with Stack(name, gunicorn_options=GUNICORN_OPTIONS, env=env) as stack:
        for label, flooders in plan:
            count = int(args.seconds * args.rate)
            deliveries = generate_deliveries(count, offset)
            offset += count
            print(f"{label}: {count} authentic deliveries at {args.rate}/s, "
                  f"{flooders} flooding connections", flush=True)  # fmt: skip
            results[label] = phase(stack.port, deliveries, args.rate, flooders)
            report(label, results[label])
    return results


def report(label: str, result: dict) -> None:
    print(
        f"  {label}: p50 {result['p50'] * 1000:.1f} ms, p95 {result['p95'] * 1000:.1f} ms, "
        f"max {result['max'] * 1000:.1f} ms; authentic {result['statuses']}; flood "
        f"{result['flood_per_second']:.1f} req/s {result['flood_statuses']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="Length of each phase (30).")
    parser.add_argument("--flooders", type=int, default=6, help="Flooding connections (6).")
    parser.add_argument("--rate", type=float, default=5, help="Authentic deliveries/s (5).")
    parser.add_argument("--no-unprotected", action="store_true", help="Skip phase 3.")
    args = parser.parse_args()
    environment.exit_on_sigterm()
    environment.setup_django()
    reset_events()
    print(environment.code_fingerprint(), flush=True)

    results = run_stack("flood", {}, [("quiet", 0), ("flood", args.flooders)], args)
    if not args.no_unprotected:
        env = {"KAKIYO_BENCH_KAKIYO": json.dumps(UNPROTECTED)}
        plan = [("unprotected flood", args.flooders)]
        results.update(run_stack("flood-unprotected", env, plan, args))

    quiet = results["quiet"]
    for label in results:
        if label != "quiet":
            ratios = ", ".join(f"{key} {results[label][key] / quiet[key]:.1f}x"
                               for key in ("p50", "p95", "max"))  # fmt: skip
            print(f"ratio {label}/quiet: {ratios}")
    flooded = results["flood"]
    ok = flooded["p50"] < 0.1 and flooded["max"] < 2 and set(flooded["statuses"]) == {"200"}
    verdict = "met" if ok else "MISSED"
    print(f"goal (median < 0.1 s, max < 2 s, all 200 under the flood): {verdict}")
    out = environment.save_results("flood", {"args": vars(args), "results": results})
    print(f"raw results: {out}")


if __name__ == "__main__":
    main()
