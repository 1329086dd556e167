"""The summary bench/ingest.py prints: medians of the clean A/B rounds and ours/baseline ratios."""

from __future__ import annotations

import statistics
from typing import Any

from bench.harness.procfs import CpuMeter
from bench.harness.report import ratio
from bench.harness.rounds import ENDPOINTS, Round

Summary = dict[str, dict[str, Any]]
CPU_GROUPS = (*CpuMeter.GROUPS, "ours")


def clean(rounds: list[Round]) -> list[Round]:
    """The rounds that were not noisy, or all of them if every one was."""
    return [r for r in rounds if not r["noisy"]] or rounds


def summarise(rounds: list[Round]) -> Summary:
    """Per endpoint, over its clean wrk rounds: medians, worst max, totals."""
    summary: Summary = {}
    for name in ENDPOINTS:
        mine = clean([r for r in rounds if r["name"] == name])
        summary[name] = {
            **{
                key: statistics.median(r[key] for r in mine)
                for key in ("rps", "processed_per_s", "wal_bytes_per_event")
            },
            "p50_ms": statistics.median(r["p50_us"] for r in mine) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in mine) / 1000,
            "max_ms": max(r["max_us"] for r in mine) / 1000,
            **{key: sum(r[key] for r in mine) for key in ("ok", "rows", "processed", "issued")},
            "errors": sum(r["non2xx"] + r["socket_errors"] for r in mine),
            "rounds": len(mine),
            "cpu_ours": statistics.median(r["cpu"]["ours_pct"] for r in mine),
            "cpu_other": statistics.median(r["cpu"]["other_pct"] for r in mine),
            **{
                f"cpu_ms_{group}": statistics.median(r["cpu_ms_per_request"][group] for r in mine)
                for group in CPU_GROUPS
            },
        }
    return summary


def summarise_open_loop(results: list[Round]) -> dict[float, Summary]:
    """Per rate and endpoint: median p50/p99 of the clean rounds, worst max, errors."""
    summary: dict[float, Summary] = {}
    for rate in sorted({r["rate"] for r in results}):
        summary[rate] = {}
        for name in ENDPOINTS:
            mine = [r for r in results if r["rate"] == rate and r["name"] == name]
            kept = clean(mine)
            summary[rate][name] = {
                "p50_ms": statistics.median(r["p50_ms"] for r in kept),
                "p99_ms": statistics.median(r["p99_ms"] for r in kept),
                "max_ms": max(r["max_ms"] for r in kept),
                "errors": sum(r["errors"] for r in mine),
                "rounds": len(kept),
            }
    return summary


def print_closed(summary: Summary, rounds: list[Round], seconds: float, connections: int) -> None:
    ours, base = summary["ours"], summary["baseline"]
    print(f"\nmedian of the clean rounds, {seconds:g} s each, {connections} conns")
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
        f"ours/baseline: throughput {ratio(ours['rps'], base['rps'])}, "
        f"end-to-end {ratio(ours['processed_per_s'], base['processed_per_s'])}, "
        f"p50 {ratio(ours['p50_ms'], base['p50_ms'])}, p99 {ratio(ours['p99_ms'], base['p99_ms'])}"
    )
    header = "  ".join(f"{g if g != 'ours' else 'total':>8}" for g in CPU_GROUPS)
    print(f"{'CPU ms per event':<19}{header}")
    for name, row in summary.items():
        print(f"  {name:<16} " + "  ".join(f"{row[f'cpu_ms_{g}']:8.2f}" for g in CPU_GROUPS))
    wal = [f"{n} {row['wal_bytes_per_event'] / 1024:.1f} KiB" for n, row in summary.items()]
    print("WAL per event (request + worker): " + ", ".join(wal))
    for name, row in summary.items():
        print(
            f"{name}: {row['issued']} requests issued, {row['ok']} answered 2xx, "
            f"{row['rows']} rows, {row['processed']} processed"
        )
    all_problems = [f"{r['name']}: {p}" for r in rounds for p in r["problems"]]
    print("checks: " + ("all passed" if not all_problems else "; ".join(all_problems)))


def print_single(single: Summary) -> None:
    print("\none request in flight (median of 2 rounds of each):")
    for name, row in single.items():
        print(
            f"  {name:<10} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:6.2f} ms  "
            f"p99 {row['p99_ms']:6.2f} ms  CPU {row['cpu_ms_ours']:.1f} ms/request "
            f"(gunicorn {row['cpu_ms_gunicorn']:.1f}, celery {row['cpu_ms_celery']:.1f}, "
            f"postgres {row['cpu_ms_postgres']:.1f})"
        )
    print_latency_ratios(single)


def print_open_loop(summary: dict[float, Summary]) -> None:
    for rate, by_name in summary.items():
        print(
            f"\nopen loop, {rate:g} requests/s due (median of {by_name['ours']['rounds']} rounds):"
        )
        for name, row in by_name.items():
            print(
                f"  {name:<10} p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
                f"max {row['max_ms']:6.1f} ms  errors {row['errors']}"
            )
        print_latency_ratios(by_name)


def print_latency_ratios(by_name: Summary) -> None:
    ours, base = by_name["ours"], by_name["baseline"]
    print(
        f"  ours/baseline: p50 {ratio(ours['p50_ms'], base['p50_ms'])}, "
        f"p99 {ratio(ours['p99_ms'], base['p99_ms'])}"
    )


def print_profiles(profiles: dict[str, list[tuple[str, float, float]]]) -> None:
    for name, rows in profiles.items():
        print(f"\npy-spy --idle, {name}, one request in flight: wall time per request")
        for label, ms_per_request, share in rows:
            print(f"  {label:<45} {ms_per_request:7.3f} ms  {share:5.1f} %")
