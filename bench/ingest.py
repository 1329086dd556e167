"""Ingest throughput and latency over HTTP: our endpoint against a hand-written baseline view.

    .venv/bin/python bench/ingest.py [--duration 20] [--rounds 3] [--connections 8]
                                     [--single 10] [--open-rates 50,120] [--profile 10]

Needs ``wrk`` (``apt-get install wrk``), PostgreSQL (database kakiyo_bench on 127.0.0.1,
created if missing) and Redis on 127.0.0.1:6379 (databases 10 and 11); ``--profile`` needs
``py-spy`` in the venv. It starts, once for both endpoints (bench/harness/servers.py):

- gunicorn serving ``example_project.wsgi`` with ``bench.ingest_settings`` (PostgreSQL with
  persistent connections, Celery broker Redis db 11, ``PROCESSING = "celery"``):
  2 workers x 2 threads (gthread), keep-alive;
- one Celery worker (prefork, 2 processes).

Then it drives, with the same load, alternately (a warm-up of each, then A/B/A/B...):

- ours: ``/kakiyo/webhook/``, the real app (verify, strict parse, store, hand the id to the
  web process's publisher thread, which publishes batches; the worker claims a batch and
  marks its events processed);
- baseline: ``/baseline/webhook/`` (bench/baseline.py): HMAC + ``compare_digest``,
  ``json.loads``, one ORM insert of the same row shape into the same table, a bare Celery
  task published on commit.

The load is wrk with bench/ingest.lua (bench/harness/wrk.py): ``--connections`` keep-alive
connections, 2 threads, ``--duration`` seconds per round, each request a distinct
pre-generated signed body. How a round is prepared, measured (CPU by process group until the
worker caught up) and checked (one row per request, every task run), and when it is NOISY
and repeated: bench/harness/rounds.py.

It prints req/s (requests answered per second of load), end-to-end events/s (events
processed per second from the start of the load until the worker caught up), p50/p99/max
latency, errors per round, the median of the clean rounds for each endpoint, the ratios
ours/baseline and CPU milliseconds per event by process group (on 2 shared cores, they bound
throughput). Then ``--single`` seconds of A/B/A/B with ONE connection (service time without
queueing for the CPU); then, for each of ``--open-rates`` (requests per second), A/B/A/B
open-loop rounds of ``--open-seconds`` (bench/harness/load.py): requests due at that fixed
rate whatever the answers, latency counted from when each was due, so both endpoints get the
same offered load and their p99s compare directly (wrk's closed loop gives the faster
endpoint more load); and, with ``--profile SECONDS``, one more one-connection round of each
under py-spy (bench/harness/pyspy.py), summarised as wall time per request spent in each
step (collapsed stacks in bench/results/profile-*.txt). Raw results go to
bench/results/ingest-*.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ab_report, environment, pyspy
from bench.harness.database import reset_events
from bench.harness.deliveries import generate_deliveries
from bench.harness.rounds import ENDPOINTS, Round, Rounds, print_round
from bench.harness.servers import GUNICORN_OPTIONS, Stack
from bench.harness.wrk import write_bodies


def rates(text: str) -> list[float]:
    return [float(rate) for rate in text.split(",") if rate]


#: (flag, type, default, help) of each option.
OPTIONS = [
    ("--duration", int, 20, "Seconds per round (20)."),
    ("--warmup", int, 5, "Seconds of warm-up each (5)."),
    ("--rounds", int, 3, "Rounds of each endpoint (3)."),
    ("--connections", int, 8, "wrk connections (8)."),
    ("--wrk-threads", int, 2, "wrk threads (2)."),
    ("--bodies", int, 40_000, "Distinct signed bodies (40000)."),
    ("--drain-timeout", float, 300, None),
    ("--open-rates", rates, [50.0, 120.0],
     "Fixed request rates of the open-loop rounds (50,120; empty: none)."),
    ("--open-seconds", float, 30, "Per round (30)."),
    ("--open-rounds", int, 3, "Of each, per rate (3)."),
    ("--open-senders", int, 16, "Sender threads (16)."),
    ("--quiet", float, 15,
     "Before each round, wait until the machine uses less than this %% of one core (15): "
     "other people's processes share it."),
    ("--quiet-timeout", float, 600, None),
    ("--max-other", float, 15,
     "A round during which other processes used more than this %% of one core is noisy: "
     "repeated (up to --retries times) and left out of the medians (15)."),
    ("--retries", int, 2, None),
    ("--single", int, 10,
     "Seconds of each of 2 rounds per endpoint with ONE connection (10; 0: none)."),
    ("--profile", int, 0,
     "Seconds of py-spy (wall clock, one connection) per endpoint (0: none)."),
]  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, kind, default, text in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    environment.exit_on_sigterm()
    bench_settings = environment.setup_django()
    import redis

    fingerprint = environment.code_fingerprint()
    print(f"code: {fingerprint}", flush=True)
    started = time.time()
    deliveries = generate_deliveries(args.bodies)
    write_bodies(deliveries, args.wrk_threads)
    print(
        f"{len(deliveries)} distinct signed bodies "
        f"({statistics.mean(len(b) for _, b in deliveries):.0f} bytes on average) "
        f"generated in {time.time() - started:.1f} s",
        flush=True,
    )
    redis.Redis.from_url(bench_settings.CELERY_BROKER_URL).flushdb()

    rounds: list[Round] = []
    singles: list[Round] = []
    open_loop: list[Round] = []
    profiles: dict[str, list[tuple[str, float, float]]] = {}
    with Stack("ingest") as stack:
        print(
            f"gunicorn {stack.base_url} (pid {stack.gunicorn.pid}, workers "
            f"{stack.gunicorn.worker_pids()}), celery worker pid {stack.worker.pid}; "
            f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration:g}s",
            flush=True,
        )
        ab = Rounds(args, stack, bench_settings.CELERY_BROKER_URL)
        for name in ENDPOINTS:
            print_round(ab.closed(name, args.warmup), "warm-up")
        for index in range(args.rounds):
            for name in ENDPOINTS:
                rounds += ab.until_clean(
                    lambda name=name: ab.closed(name, args.duration), f"round {index + 1}"
                )
        for index in range(2 if args.single else 0):
            for name in ENDPOINTS:
                singles += ab.until_clean(
                    lambda name=name: ab.closed(name, args.single, connections=1),
                    f"c=1 {index + 1}",
                )
        for rate in args.open_rates:
            for _ in range(args.open_rounds):
                for name in ENDPOINTS:
                    open_loop += ab.until_clean(
                        lambda name=name, rate=rate: ab.open(name, rate, deliveries)
                    )
        for name in ENDPOINTS if args.profile else ():
            profiles[name] = pyspy.summary(*ab.profile(name))
        memory = stack.memory()
    reset_events()

    summary = ab_report.summarise(rounds)
    ab_report.print_closed(summary, rounds, args.duration, args.connections)
    single = ab_report.summarise(singles) if singles else {}
    if single:
        ab_report.print_single(single)
    open_summary = ab_report.summarise_open_loop(open_loop) if open_loop else {}
    ab_report.print_open_loop(open_summary)
    ab_report.print_profiles(profiles)
    out = environment.save_results(
        "ingest",
        {
            "code": fingerprint,
            "args": vars(args),
            "gunicorn": GUNICORN_OPTIONS,
            "rounds": rounds,
            "summary": summary,
            "single_rounds": singles,
            "single_summary": single,
            "open_loop_rounds": open_loop,
            "open_loop_summary": {str(rate): v for rate, v in open_summary.items()},
            "profiles": profiles,
            "memory_kib": {k: {str(p): v for p, v in d.items()} for k, d in memory.items()},
        },
    )
    print(f"\nraw results: {out.relative_to(environment.REPO)}")


if __name__ == "__main__":
    main()
