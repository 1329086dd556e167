"""The A/B rounds of bench/ingest.py: our endpoint and the baseline's, under the same load.

Every round starts from the same state (tables truncated, a CHECKPOINT, the machine idle),
measures CPU by process group from the start of the load until the worker has processed the
round's last event, and checks that every request made one row and every row was processed
(ours) or every bare task ran (baseline). A round in which other processes used more than
``--max-other`` % of a core is noisy: repeated, up to ``--retries`` times, and left out of
the medians.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench.baseline import COUNTER_KEY, COUNTER_URL
from bench.harness import database, pyspy
from bench.harness.environment import RESULTS
from bench.harness.load import run_load
from bench.harness.procfs import CpuMeter
from bench.harness.report import percentile
from bench.harness.servers import Stack
from bench.harness.waiting import wait_for_quiet, wait_until
from bench.harness.wrk import run_wrk

ENDPOINTS = {"ours": "/kakiyo/webhook/", "baseline": "/baseline/webhook/"}
Round = dict[str, Any]


class Rounds:
    """Runs rounds against ``stack``; ``args`` are ingest.py's options."""

    def __init__(self, args: argparse.Namespace, stack: Stack, broker_url: str) -> None:
        self.args = args
        self.stack = stack
        self.broker_url = broker_url
        self.counter = redis.Redis.from_url(COUNTER_URL)

    def until_clean(self, run: Callable[[], Round], label: str | None = None) -> list[Round]:
        """``run()`` until a round is not noisy (at most 1 + ``--retries`` times); all of them."""
        results = []
        for attempt in range(1 + self.args.retries):
            results.append(run())
            if label is not None:
                print_round(results[-1], label + "'" * attempt)
            if not results[-1]["noisy"]:
                break
        return results

    def _prepare(self) -> tuple[float, float]:
        database.reset_events()
        self.counter.delete(COUNTER_KEY)
        return wait_for_quiet(self.args.quiet, self.args.quiet_timeout)

    def _processed(self, name: str) -> int:
        if name == "ours":
            return database.status_counts().get("processed", 0)
        return int(self.counter.get(COUNTER_KEY) or 0)

    def drain(self, name: str) -> Round:
        """Wait until every task of the round ran; what was left at the end of the load, and
        when the worker caught up."""
        from django_kakiyo.models import WebhookEvent

        load_ended = time.monotonic()
        time.sleep(0.5)  # requests in flight when the load stopped still finish on the server
        backlog = WebhookEvent.objects.count() - self._processed(name)
        caught_up = wait_until(
            lambda: (
                self._processed(name) >= WebhookEvent.objects.count()
                and database.broker_backlog(self.broker_url) == 0
            ),
            self.args.drain_timeout,
        )
        # From the end of the load until the worker had processed everything; 0 when it had
        # already caught up at the first look (the half second above is not counted).
        seconds = (
            None if caught_up is None else (time.monotonic() - load_ended if backlog else 0.0)
        )
        return {
            "rows": WebhookEvent.objects.count(),
            "processed": self._processed(name),
            "statuses": database.status_counts(),
            "backlog_at_end_of_load": backlog,
            "drain_seconds": seconds,
        }

    def closed(
        self,
        name: str,
        seconds: float,
        connections: int | None = None,
        before_load: Callable[[], list[int]] | None = None,
    ) -> Round:
        """``seconds`` of wrk on ``name``'s endpoint; ``before_load`` may start a profiler and
        return its pids."""
        from django_kakiyo.models import RejectedRequest

        waited, idle_busy = self._prepare()
        meter = CpuMeter(self.stack.roots(), before_load() if before_load else [])
        lsn = database.wal_lsn()
        meter.start()
        connections = connections or self.args.connections
        result = run_wrk(
            self.stack.base_url, ENDPOINTS[name], seconds, connections, self.args.wrk_threads
        )
        result.update(connections=connections, quiet_wait_s=waited, busy_before=idle_busy)
        result.update(self.drain(name))
        # Measured until the worker caught up: work deferred past the load still counts.
        result["cpu"] = cpu = meter.stop()
        # WAL written per stored event, the worker's updates included (cluster-wide).
        result["wal_bytes_per_event"] = database.wal_bytes_since(lsn) / max(1, result["rows"])
        result["rejected"] = RejectedRequest.objects.count()
        result["name"] = name
        result["noisy"] = cpu["other_pct"] > self.args.max_other
        # CPU milliseconds per request answered, by process group (the box is CPU-bound).
        result["cpu_ms_per_request"] = {
            group: 1000 * cpu[group] / max(1, result["requests"])
            for group in (*CpuMeter.GROUPS, "ours")
        }
        load_seconds = result["duration_us"] / 1e6
        result["rps"] = result["requests"] / load_seconds
        # Events stored and processed per second, from the start of the load until the worker
        # caught up: what the set-up sustains, rather than how fast requests were answered.
        drained = result["drain_seconds"] if result["drain_seconds"] is not None else float("nan")
        result["processed_per_s"] = result["processed"] / (load_seconds + drained)
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
            rows, ok, issued = result["rows"], result["ok"], result["issued"]
            problems.append(f"{rows} rows for {ok} 2xx and {issued} issued")
        if result["processed"] != result["rows"]:
            problems.append(f"only {result['processed']} of {result['rows']} processed")
        result["problems"] = problems
        return result

    def open(self, name: str, rate: float, deliveries: list[tuple[str, bytes]]) -> Round:
        """``--open-seconds`` of requests due at a fixed ``rate``, latency counted from when
        each was due: both endpoints get the same offered load, whatever their throughput,
        so their latencies compare directly."""
        waited, _ = self._prepare()
        meter = CpuMeter(self.stack.roots())
        meter.start()
        count = int(rate * self.args.open_seconds)
        results = run_load(
            self.stack.port, deliveries[:count], rate, self.args.open_senders,
            time.monotonic() + 0.2, ENDPOINTS[name],
        )  # fmt: skip
        drained = self.drain(name)
        cpu = meter.stop()
        latencies = [r.latency for r in results]
        errors = sum(1 for r in results if r.failed)
        result = {
            "name": name,
            "rate": rate,
            "requests": len(results),
            "errors": errors,
            "p50_ms": 1000 * percentile(latencies, 0.50),
            "p99_ms": 1000 * percentile(latencies, 0.99),
            "max_ms": 1000 * max(latencies),
            "cpu": cpu,
            "noisy": cpu["other_pct"] > self.args.max_other,
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
            + flags(result),
            flush=True,
        )
        return result

    def profile(self, name: str) -> tuple[Path, float]:
        """One more round of ``name``, one request in flight, with py-spy sampling the
        gunicorn workers' wall-clock time; the collapsed stacks and the requests answered."""
        seconds = self.args.profile
        out = RESULTS / f"profile-{name}.txt"
        command = pyspy.record_command(self.stack.gunicorn.pid, seconds, out)
        spies: list[subprocess.Popen[bytes]] = []

        def start_py_spy() -> list[int]:
            out.unlink(missing_ok=True)
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            spies.append(spy)
            time.sleep(1)
            return [spy.pid]

        def run() -> Round:
            result = self.closed(name, seconds + 2, 1, start_py_spy)
            _, errors = spies[-1].communicate(timeout=60)
            if not out.exists():
                raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')}")
            return result

        result = self.until_clean(run, "profiled")[-1]
        return out, result["rps"] * seconds


def flags(result: Round) -> str:
    return ("  NOISY" if result["noisy"] else "") + (
        f"  PROBLEM: {'; '.join(result['problems'])}" if result["problems"] else ""
    )


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f}"


def print_round(result: Round, label: str) -> None:
    """One line per wrk round: rates, latencies, errors, rows, drain, CPU."""
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
        f"steal {result['cpu'].get('steal_pct', 0):.0f}%" + flags(result),
        flush=True,
    )
