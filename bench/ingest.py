"""Ingest throughput and latency over HTTP: our endpoint against a hand-written baseline view.

    .venv/bin/python bench/ingest.py [--duration 20] [--rounds 3] [--connections 8]
                                     [--single 10] [--open-rates 50,120] [--profile 10]

Needs ``wrk`` (``apt-get install wrk``), PostgreSQL (database kakiyo_bench on 127.0.0.1,
created if missing) and Redis on 127.0.0.1:6379 (databases 10 and 11); ``--profile`` needs
``py-spy`` in the venv. It starts, once for both endpoints (bench/servers.py):

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

The load is wrk with bench/ingest.lua: ``--connections`` keep-alive connections, 2 threads,
``--duration`` seconds per round, each request a distinct pre-generated signed body (so
dedup never short-circuits; a thread that would repeat one is reported). Between rounds it
waits for the worker to drain, checks that every request got exactly one row (2xx <= rows
<= requests issued: wrk abandons the requests in flight when it stops, and the server still
stores them) and that every task ran (ours: every row ``processed``), then truncates the
tables and runs a CHECKPOINT.

The machine is shared: before each round it waits until the machine is idle, and it measures
the CPU used from the start of the load until the worker has processed every event, by
each of its own process groups (gunicorn, celery, postgres, redis, the load generator) and
by everything else. A round in which other processes used more than ``--max-other`` % of a
core is marked NOISY, repeated (up to ``--retries`` times) and left out of the medians. CPU
milliseconds per event, by group, are printed too: on 2 cores shared by everything, they
are what bounds throughput.

It prints req/s (requests answered per second of load), end-to-end events/s (events
processed per second from the start of the load until the worker caught up: work a set-up
defers past the load counts against it), p50/p99/max latency, non-2xx and socket errors per
round, the median of the clean rounds for each endpoint and the ratios ours/baseline. Then
``--single`` seconds of A/B/A/B with ONE connection (service time without queueing for the
CPU); then, for each of ``--open-rates`` (requests per second), A/B/A/B open-loop rounds of
``--open-seconds``: requests due at that fixed rate whatever the answers (bench/soak.py's
pacer), latency counted from when each was due, so both endpoints get the same offered load
and their p99s compare directly (wrk's closed loop gives the faster endpoint more load); and,
with
``--profile SECONDS``, one more one-connection round of each under
``py-spy record --idle --subprocesses`` on the gunicorn master, summarised as wall time per
request spent in each step (collapsed stacks in bench/results/profile-*.txt). Raw results go
to bench/results/ingest-*.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

ENDPOINTS = {"ours": "/kakiyo/webhook/", "baseline": "/baseline/webhook/"}
LUA = servers.REPO / "bench" / "ingest.lua"


def write_bodies(deliveries: list[tuple[str, bytes]], threads: int, prefix: Path) -> None:
    """Split the deliveries round-robin into one file per wrk thread."""
    for thread in range(threads):
        with open(f"{prefix}{thread}.tsv", "wb") as file:
            for signature, body in deliveries[thread::threads]:
                file.write(signature.encode() + b"\t" + body + b"\n")


def run_wrk(
    args: argparse.Namespace, stack: servers.Stack, path: str, seconds: float, connections: int
) -> dict:
    out = servers.RESULTS / "wrk-out.json"
    out.unlink(missing_ok=True)
    env = {
        **os.environ,
        "BENCH_BODIES": str(servers.RESULTS / "bodies-"),
        "BENCH_PATH": path,
        "BENCH_OUT": str(out),
    }
    command = [
        "wrk", "-t", str(min(args.wrk_threads, connections)), "-c", str(connections),
        "-d", f"{round(seconds)}s", "--timeout", "10s", "-s", str(LUA), stack.base_url + path,
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(out.read_text())


def drain(name: str, broker_url: str, timeout: float) -> dict[str, Any]:
    """Wait until every task of the round ran; what was left at the end of the load, and when
    the worker caught up."""
    import redis

    from bench.baseline import COUNTER_KEY, COUNTER_URL
    from django_kakiyo.models import WebhookEvent

    counter = redis.Redis.from_url(COUNTER_URL)
    load_ended = time.monotonic()
    time.sleep(0.5)  # requests in flight when wrk stopped still finish on the server
    rows = WebhookEvent.objects.count()

    def processed() -> int:
        if name == "ours":
            return servers.status_counts().get("processed", 0)
        return int(counter.get(COUNTER_KEY) or 0)

    backlog = rows - processed()
    caught_up = servers.wait_until(
        lambda: (
            processed() >= WebhookEvent.objects.count() and servers.broker_backlog(broker_url) == 0
        ),
        timeout,
    )
    # From the end of the load until the worker had processed everything; 0 when it had
    # already caught up at the first look (the half second above is not counted against it).
    seconds = None if caught_up is None else (time.monotonic() - load_ended if backlog else 0.0)
    rows = WebhookEvent.objects.count()
    return {
        "rows": rows,
        "processed": processed(),
        "statuses": servers.status_counts(),
        "backlog_at_end_of_load": backlog,
        "drain_seconds": seconds,
    }


def one_round(
    args: argparse.Namespace,
    stack: servers.Stack,
    name: str,
    seconds: float,
    broker_url: str,
    before_load: Any = None,
    connections: int | None = None,
) -> dict[str, Any]:
    import redis

    from bench.baseline import COUNTER_KEY, COUNTER_URL
    from django_kakiyo.models import RejectedRequest

    servers.reset_events()
    redis.Redis.from_url(COUNTER_URL).delete(COUNTER_KEY)
    waited, idle_busy = servers.wait_for_quiet(args.quiet, args.quiet_timeout)
    profiler_pids = before_load() if before_load is not None else []
    meter = servers.CpuMeter(stack, profiler_pids)
    lsn = servers.wal_lsn()
    meter.start()
    connections = connections or args.connections
    result = run_wrk(args, stack, ENDPOINTS[name], seconds, connections)
    result["connections"] = connections
    result["quiet_wait_s"] = waited
    result["busy_before"] = idle_busy
    result.update(drain(name, broker_url, args.drain_timeout))
    # Measured until the worker caught up: work deferred past the load still counts.
    result["cpu"] = meter.stop()
    # WAL written per stored event, the worker's updates included (cluster-wide).
    result["wal_bytes_per_event"] = servers.wal_bytes_since(lsn) / max(1, result["rows"])
    result["rejected"] = RejectedRequest.objects.count()
    result["name"] = name
    result["noisy"] = result["cpu"]["other_pct"] > args.max_other
    # CPU milliseconds per request answered, by process group (the box is CPU-bound).
    result["cpu_ms_per_request"] = {
        group: 1000 * result["cpu"][group] / max(1, result["requests"])
        for group in (*servers.CpuMeter.GROUPS, "ours")
    }
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    # Events stored and processed per second, from the start of the load until the worker
    # caught up: what the set-up sustains, rather than how fast requests were answered.
    drained = result["drain_seconds"] if result["drain_seconds"] is not None else float("nan")
    result["processed_per_s"] = result["processed"] / (result["duration_us"] / 1e6 + drained)
    result["socket_errors"] = sum(
        result[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    result["in_flight_at_stop"] = result["issued"] - result["ok"] - result["non2xx"]
    problems = []
    if result["wrapped"]:
        problems.append(f"a wrk thread ran out of bodies ({result['wrapped']} wraps)")
    if result["non2xx"] or result["socket_errors"] or result["rejected"]:
        problems.append("errors")
    if not result["ok"] <= result["rows"] <= result["issued"]:
        problems.append(
            f"{result['rows']} rows for {result['ok']} 2xx and {result['issued']} issued"
        )
    if result["processed"] != result["rows"]:
        problems.append(f"only {result['processed']} of {result['rows']} processed")
    result["problems"] = problems
    return result


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f}"


def print_round(result: dict[str, Any], label: str) -> None:
    drain_s = result["drain_seconds"]
    print(
        f"{label:<11} {result['name']:<9} {result['rps']:7.1f} req/s  "
        f"end-to-end {result['processed_per_s']:6.1f} ev/s  "
        f"p50 {ms(result['p50_us']):>6} ms  p99 {ms(result['p99_us']):>6} ms  "
        f"max {ms(result['max_us']):>6} ms  2xx {result['ok']:6d}  non-2xx {result['non2xx']}  "
        f"sock-err {result['socket_errors']}  in-flight {result['in_flight_at_stop']}  "
        f"rows {result['rows']}  processed {result['processed']}  "
        f"backlog {result['backlog_at_end_of_load']}  "
        f"drain {'TIMEOUT' if drain_s is None else f'{drain_s:.1f}s'}  "
        f"cpu ours {result['cpu']['ours_pct']:.0f}% other {result['cpu']['other_pct']:.0f}% "
        f"steal {result['cpu'].get('steal_pct', 0):.0f}%"
        + ("  NOISY" if result["noisy"] else "")
        + (f"  PROBLEM: {'; '.join(result['problems'])}" if result["problems"] else ""),
        flush=True,
    )


def summarise(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for name in ENDPOINTS:
        mine = [r for r in rounds if r["name"] == name and not r["noisy"]]
        mine = mine or [r for r in rounds if r["name"] == name]
        summary[name] = {
            "rps": statistics.median(r["rps"] for r in mine),
            "processed_per_s": statistics.median(r["processed_per_s"] for r in mine),
            "p50_ms": statistics.median(r["p50_us"] for r in mine) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in mine) / 1000,
            "max_ms": max(r["max_us"] for r in mine) / 1000,
            "ok": sum(r["ok"] for r in mine),
            "errors": sum(r["non2xx"] + r["socket_errors"] for r in mine),
            "rows": sum(r["rows"] for r in mine),
            "processed": sum(r["processed"] for r in mine),
            "issued": sum(r["issued"] for r in mine),
            "rounds": len(mine),
            "wal_bytes_per_event": statistics.median(r["wal_bytes_per_event"] for r in mine),
            "cpu_ours": statistics.median(r["cpu"]["ours_pct"] for r in mine),
            "cpu_other": statistics.median(r["cpu"]["other_pct"] for r in mine),
            **{
                f"cpu_ms_{group}": statistics.median(r["cpu_ms_per_request"][group] for r in mine)
                for group in (*servers.CpuMeter.GROUPS, "ours")
            },
        }
    return summary


def profile_round(
    args: argparse.Namespace, stack: servers.Stack, name: str, broker_url: str
) -> tuple[Path, float]:
    """One more round of ``name``, one request in flight, with py-spy sampling the gunicorn
    workers' wall-clock time (``--idle``: waits on PostgreSQL and Redis included)."""
    assert stack.gunicorn is not None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = servers.RESULTS / f"profile-{name}.txt"
    command = [
        py_spy, "record", "--subprocesses", "--idle", "-p", str(stack.gunicorn.pid),
        "-d", str(args.profile), "-r", str(PROFILE_HZ), "-f", "raw", "-o", str(out),
        "--nonblocking",
    ]  # fmt: skip
    spies: list[subprocess.Popen[bytes]] = []

    def start_py_spy() -> list[int]:
        out.unlink(missing_ok=True)
        spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(1)
        return [spies[-1].pid]

    for attempt in range(1 + args.retries):
        result = one_round(args, stack, name, args.profile + 2, broker_url, start_py_spy, 1)
        print_round(result, "profiled" + "'" * attempt)
        _, errors = spies[-1].communicate(timeout=60)
        if not out.exists():
            raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')}")
        if not result["noisy"]:
            break
    return out, result["rps"] * args.profile


PROFILE_HZ = 500


#: Inclusive wall time of these frames (every needle in the stack), in this order.
PROFILE_MARKERS: dict[str, tuple[str, ...]] = {
    "whole request in Django (WSGIHandler)": ("__call__ (django/core/handlers/wsgi.py",),
    "view: ours (WebhookView.post)": ("post (django_kakiyo/views.py",),
    "view: baseline (baseline_webhook)": ("baseline_webhook (bench/baseline.py",),
    "  verify_signature": ("verify_signature (django_kakiyo/signing.py",),
    "  read_event (strict JSON parse, envelope)": ("read_event (django_kakiyo/envelope.py",),
    "  json.loads (baseline)": ("baseline_webhook", "loads (json/__init__.py"),
    "  redact_headers + client_ip": (
        "post (django_kakiyo/views.py",
        "redact_headers (django_kakiyo/ingest.py",
    ),
    "  INSERT (Model.save)": ("save_base (django/db/models/base.py",),
    "  hand the id to the publisher thread (ours)": ("submit (django_kakiyo/publishing.py",),
    "  bare_task.delay (baseline)": ("delay (celery/app/task.py",),
    "  JsonResponse": ("__init__ (django/http/response.py",),
}


def profile_summary(path: Path, requests: float) -> list[tuple[str, float, float]]:
    """(label, ms per request, % of the time inside Django) for each marker found."""
    stacks: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    (marker,) = PROFILE_MARKERS["whole request in Django (WSGIHandler)"]
    in_request = {s: n for s, n in stacks.items() if marker in s}
    total = sum(in_request.values()) or 1
    rows = []
    for label, needles in PROFILE_MARKERS.items():
        hit = sum(n for s, n in in_request.items() if all(needle in s for needle in needles))
        if hit:
            ms_per_request = 1000 * hit / PROFILE_HZ / max(1.0, requests)
            rows.append((label, ms_per_request, 100 * hit / total))
    return rows


def single_rounds(
    args: argparse.Namespace, stack: servers.Stack, broker_url: str
) -> list[dict[str, Any]]:
    """A/B/A/B with one request in flight: service time without queueing for the CPU."""
    results = []
    for index in range(2):
        for name in ENDPOINTS:
            for attempt in range(1 + args.retries):
                result = one_round(args, stack, name, args.single, broker_url, connections=1)
                results.append(result)
                print_round(result, f"c=1 {index + 1}" + "'" * attempt)
                if not result["noisy"]:
                    break
    return results


def open_loop_round(
    args: argparse.Namespace,
    stack: servers.Stack,
    name: str,
    rate: float,
    deliveries: list[tuple[str, bytes]],
    broker_url: str,
) -> dict[str, Any]:
    """``--open-seconds`` of requests due at a fixed ``rate`` (bench/soak.py's pacer), latency
    counted from when each was due: both endpoints get the same offered load, whatever their
    throughput, so their latencies compare directly."""
    import redis

    from bench import soak
    from bench.baseline import COUNTER_KEY, COUNTER_URL

    servers.reset_events()
    redis.Redis.from_url(COUNTER_URL).delete(COUNTER_KEY)
    waited, _ = servers.wait_for_quiet(args.quiet, args.quiet_timeout)
    meter = servers.CpuMeter(stack)
    meter.start()
    count = int(rate * args.open_seconds)
    results = soak.run_load(
        stack.port, deliveries[:count], rate, args.open_senders, time.monotonic() + 0.2,
        ENDPOINTS[name],
    )  # fmt: skip
    drained = drain(name, broker_url, args.drain_timeout)
    cpu = meter.stop()
    latencies = [end - due for _i, due, _s, end, status, error in results]
    errors = sum(1 for *_rest, status, error in results if status != 200 or error)
    result = {
        "name": name,
        "rate": rate,
        "requests": len(results),
        "errors": errors,
        "p50_ms": 1000 * soak.percentile(latencies, 0.50),
        "p99_ms": 1000 * soak.percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
        "cpu": cpu,
        "noisy": cpu["other_pct"] > args.max_other,
        **drained,
    }
    result["problems"] = [
        problem
        for problem, bad in (
            ("errors", errors),
            (f"{result['rows']} rows for {len(results)} requests", result["rows"] != count),
            (f"only {result['processed']} processed", result["processed"] != result["rows"]),
        )
        if bad
    ]
    print(
        f"open {rate:g}/s  {name:<9} p50 {result['p50_ms']:6.1f} ms  p99 "
        f"{result['p99_ms']:6.1f} ms  max {result['max_ms']:6.1f} ms  errors {errors}  rows "
        f"{result['rows']}  processed {result['processed']}  cpu ours "
        f"{cpu['ours_pct']:.0f}% other {cpu['other_pct']:.0f}%  (waited {waited:.0f} s)"
        + ("  NOISY" if result["noisy"] else "")
        + (f"  PROBLEM: {'; '.join(result['problems'])}" if result["problems"] else ""),
        flush=True,
    )
    return result


def open_loop_rounds(
    args: argparse.Namespace,
    stack: servers.Stack,
    deliveries: list[tuple[str, bytes]],
    broker_url: str,
) -> list[dict[str, Any]]:
    """A/B/A/B... (``--open-rounds`` of each) at each of ``--open-rates``, repeating a noisy
    round."""
    results = []
    for rate in args.open_rates:
        for _ in range(args.open_rounds):
            for name in ENDPOINTS:
                for _attempt in range(1 + args.retries):
                    result = open_loop_round(args, stack, name, rate, deliveries, broker_url)
                    results.append(result)
                    if not result["noisy"]:
                        break
    return results


def summarise_open_loop(results: list[dict[str, Any]]) -> dict[float, dict[str, dict]]:
    """Per rate and endpoint: median p50/p99 of the clean rounds, worst max, errors."""
    summary: dict[float, dict[str, dict]] = {}
    for rate in sorted({r["rate"] for r in results}):
        summary[rate] = {}
        for name in ENDPOINTS:
            mine = [r for r in results if r["rate"] == rate and r["name"] == name]
            clean = [r for r in mine if not r["noisy"]] or mine
            summary[rate][name] = {
                "p50_ms": statistics.median(r["p50_ms"] for r in clean),
                "p99_ms": statistics.median(r["p99_ms"] for r in clean),
                "max_ms": max(r["max_ms"] for r in clean),
                "errors": sum(r["errors"] for r in mine),
                "rounds": len(clean),
            }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="Seconds per round (20).")
    parser.add_argument("--warmup", type=int, default=5, help="Seconds of warm-up each (5).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of each endpoint (3).")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8).")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2).")
    parser.add_argument(
        "--bodies", type=int, default=40_000, help="Distinct signed bodies (40000)."
    )
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument(
        "--open-rates",
        type=lambda text: [float(rate) for rate in text.split(",") if rate],
        default=[50.0, 120.0],
        help="Fixed request rates of the open-loop rounds (50,120; empty: none).",
    )
    parser.add_argument("--open-seconds", type=float, default=30, help="Per round (30).")
    parser.add_argument("--open-rounds", type=int, default=3, help="Of each, per rate (3).")
    parser.add_argument("--open-senders", type=int, default=16, help="Sender threads (16).")
    parser.add_argument(
        "--quiet",
        type=float,
        default=15,
        help="Before each round, wait until the machine uses less than this %% of one core "
        "(15): other people's processes share it.",
    )
    parser.add_argument("--quiet-timeout", type=float, default=600)
    parser.add_argument(
        "--max-other",
        type=float,
        default=15,
        help="A round during which other processes used more than this %% of one core is "
        "noisy: repeated (up to --retries times) and left out of the medians (15).",
    )
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument(
        "--single",
        type=int,
        default=10,
        help="Seconds of each of 2 rounds per endpoint with ONE connection (10; 0: none).",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="Seconds of py-spy (wall clock, one connection) per endpoint (0: none).",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    servers.exit_on_sigterm()
    bench_settings = servers.setup_django()
    import redis

    broker_url = bench_settings.CELERY_BROKER_URL
    fingerprint = servers.code_fingerprint()
    print(f"code: {fingerprint}", flush=True)
    servers.RESULTS.mkdir(exist_ok=True)
    started = time.time()
    deliveries = servers.generate_deliveries(args.bodies)
    write_bodies(deliveries, args.wrk_threads, servers.RESULTS / "bodies-")
    print(
        f"{len(deliveries)} distinct signed bodies "
        f"({statistics.mean(len(b) for _, b in deliveries):.0f} bytes on average) "
        f"generated in {time.time() - started:.1f} s",
        flush=True,
    )
    redis.Redis.from_url(broker_url).flushdb()

    rounds: list[dict[str, Any]] = []
    singles: list[dict[str, Any]] = []
    open_loop: list[dict[str, Any]] = []
    profiles: dict[str, list[tuple[str, float, float]]] = {}
    with servers.Stack("ingest") as stack:
        print(
            f"gunicorn {stack.base_url} (pid {stack.gunicorn.pid if stack.gunicorn else '?'}, "
            f"workers {stack.gunicorn_workers()}), celery worker pid "
            f"{stack.worker.pid if stack.worker else '?'}; wrk -t{args.wrk_threads} "
            f"-c{args.connections} -d{args.duration:g}s",
            flush=True,
        )
        for name in ENDPOINTS:
            print_round(one_round(args, stack, name, args.warmup, broker_url), "warm-up")
        for index in range(args.rounds):
            for name in ENDPOINTS:
                for attempt in range(1 + args.retries):
                    result = one_round(args, stack, name, args.duration, broker_url)
                    rounds.append(result)
                    print_round(result, f"round {index + 1}" + "'" * attempt)
                    if not result["noisy"]:
                        break
        if args.single:
            singles = single_rounds(args, stack, broker_url)
        if args.open_rates:
            open_loop = open_loop_rounds(args, stack, deliveries, broker_url)
        if args.profile:
            for name in ENDPOINTS:
                profiles[name] = profile_summary(*profile_round(args, stack, name, broker_url))
        memory = stack.memory()
    servers.reset_events()

    summary = summarise(rounds)
    single = summarise(singles) if singles else {}
    ours, base = summary["ours"], summary["baseline"]
    print(f"\nmedian of the clean rounds, {args.duration:g} s each, {args.connections} conns")
    print(
        f"{'':<10} {'rounds':>6} {'req/s':>8} {'ev/s e2e':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>7} {'cpu ours':>9} {'cpu other':>9}"
    )
    for name, row in summary.items():
        print(
            f"{name:<10} {row['rounds']:6d} {row['rps']:8.1f} {row['processed_per_s']:8.1f} "
            f"{row['p50_ms']:8.2f} "
            f"{row['p99_ms']:8.2f} {row['max_ms']:8.1f} {row['errors']:7d} "
            f"{row['cpu_ours']:8.0f}% {row['cpu_other']:8.0f}%"
        )
    print(
        f"ours/baseline: throughput {ours['rps'] / base['rps']:.2f}x, "
        f"end-to-end {ours['processed_per_s'] / base['processed_per_s']:.2f}x, "
        f"p50 {ours['p50_ms'] / base['p50_ms']:.2f}x, p99 {ours['p99_ms'] / base['p99_ms']:.2f}x"
    )
    groups = (*servers.CpuMeter.GROUPS, "ours")
    header = "  ".join(f"{g if g != 'ours' else 'total':>8}" for g in groups)
    print(f"{'CPU ms per event':<19}{header}")
    for name, row in summary.items():
        print(f"  {name:<16} " + "  ".join(f"{row[f'cpu_ms_{g}']:8.2f}" for g in groups))
    wal = [f"{n} {row['wal_bytes_per_event'] / 1024:.1f} KiB" for n, row in summary.items()]
    print("WAL per event (request + worker): " + ", ".join(wal))
    for name, row in summary.items():
        print(
            f"{name}: {row['issued']} requests issued, {row['ok']} answered 2xx, "
            f"{row['rows']} rows, {row['processed']} processed"
        )
    all_problems = [f"{r['name']}: {p}" for r in rounds for p in r["problems"]]
    print("checks: " + ("all passed" if not all_problems else "; ".join(all_problems)))
    if single:
        print("\none request in flight (median of 2 rounds of each):")
        for name, row in single.items():
            print(
                f"  {name:<10} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:6.2f} ms  "
                f"p99 {row['p99_ms']:6.2f} ms  CPU {row['cpu_ms_ours']:.1f} ms/request "
                f"(gunicorn {row['cpu_ms_gunicorn']:.1f}, celery {row['cpu_ms_celery']:.1f}, "
                f"postgres {row['cpu_ms_postgres']:.1f})"
            )
        s_ours, s_base = single["ours"], single["baseline"]
        print(
            f"  ours/baseline: p50 {s_ours['p50_ms'] / s_base['p50_ms']:.2f}x, "
            f"p99 {s_ours['p99_ms'] / s_base['p99_ms']:.2f}x"
        )
    open_summary = summarise_open_loop(open_loop) if open_loop else {}
    for rate, by_name in open_summary.items():
        o_ours, o_base = by_name["ours"], by_name["baseline"]
        print(f"\nopen loop, {rate:g} requests/s due (median of {o_ours['rounds']} rounds):")
        for name, row in by_name.items():
            print(
                f"  {name:<10} p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                f"max {row['max_ms']:6.1f} ms  errors {row['errors']}"
            )
        print(
            f"  ours/baseline: p50 {o_ours['p50_ms'] / o_base['p50_ms']:.2f}x, "
            f"p99 {o_ours['p99_ms'] / o_base['p99_ms']:.2f}x"
        )
    for name, rows in profiles.items():
        print(f"\npy-spy --idle, {name}, one request in flight: wall time per request")
        for label, ms_per_request, share in rows:
            print(f"  {label:<45} {ms_per_request:7.3f} ms  {share:5.1f} %")
    out = servers.RESULTS / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "code": fingerprint,
                "args": vars(args),
                "gunicorn": servers.GUNICORN_OPTIONS,
                "rounds": rounds,
                "summary": summary,
                "single_rounds": singles,
                "single_summary": single,
                "open_loop_rounds": open_loop,
                "open_loop_summary": {str(rate): v for rate, v in open_summary.items()},
                "profiles": profiles,
                "memory_kib": {k: {str(p): v for p, v in d.items()} for k, d in memory.items()},
            },
            indent=2,
        )
    )
    print(f"\nraw results: {out.relative_to(servers.REPO)}")


if __name__ == "__main__":
    main()
