"""The verdict of the multi-host run, from the sender's records, the receivers' and the database.

Runs on the ``db`` host (its Unix socket). Never uses the app's counters or status
bookkeeping for the verdict; it reads:

- the sender's JSON lines: what was sent, which answer (200 or 202) each delivery got, when,
  and how often the webhook would have been disabled;
- ``multihost_processing``, the receivers' append-only table (a row per *committed*
  processing, written in the transaction that marks the event processed), ordered by the
  commit time of the row (``pg_xact_commit_timestamp``; PostgreSQL runs with
  ``track_commit_timestamp``), then by row id within one transaction;
- the ``dedup_key`` column of ``django_kakiyo_webhookevent``: which deliveries are stored (the
  key is the SHA-256 of the signed bytes, which the sender computes from what it sent).

``multihost: A acknowledged, S stored, P processed once, L lost, D processed twice,
O out of order, X disabled``, then detail lines; exit status 1 unless A = S = P and
L = D = O = X = 0. ``--progress`` prints a JSON line of counts instead, for the drain.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg

Delivery = dict[str, Any]


def in_order_check(delivery: Delivery) -> bool:
    """Whether a delivery takes part in the pairwise order check. The one place to change.

    For now: every acknowledged delivery except those answered 202 (spooled while the
    database was down). A spooled delivery is processed after its import, so it may come
    after later events of its prospect; it must still be processed exactly once (P, L, D),
    which is checked for every delivery.
    """
    return bool(delivery["status"] != 202)


def read_sender(path: str) -> tuple[list[Delivery], dict[str, Any]]:
    deliveries, summary = [], {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if "summary" in record:
                summary = record["summary"]
            else:
                deliveries.append(record)
    return deliveries, summary


def read_database(dsn: str) -> tuple[dict[str, str], dict[str, list[tuple[Any, ...]]]]:
    """``{dedup_key: status}`` of the stored events, and every processing per dedup key in
    commit order: ``(commit time, row id, host, pid, event id)``."""
    with psycopg.connect(dsn) as connection:
        events: dict[str, str] = dict(
            connection.execute("SELECT dedup_key, status FROM django_kakiyo_webhookevent")
        )
        processings: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        rows = connection.execute(
            "SELECT dedup_key, pg_xact_commit_timestamp(xmin) AS committed, id, host, pid, "
            "event_id FROM multihost_processing ORDER BY committed, id"
        )
        for key, *rest in rows:
            processings[key].append(tuple(rest))
    return events, processings


def out_of_order(
    acked: Iterable[Delivery],
    processings: dict[str, list[tuple[Any, ...]]],
    windows: list[dict[str, Any]],
) -> tuple[int, Counter[str], list[str]]:
    """Pairs of one prospect's deliveries (those :func:`in_order_check` takes) whose first
    processings committed in the other order than their 2xx answers came; per pair, the
    last fault begun before the earlier delivery's answer; a few examples."""
    by_prospect: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in acked:
        if in_order_check(delivery) and processings.get(delivery["sha256"]):
            by_prospect[delivery["prospect"]].append(delivery)
    total, causes, examples = 0, Counter[str](), list[str]()
    for prospect, chain in sorted(by_prospect.items()):
        chain.sort(key=lambda d: d["acked_at"])
        first = [processings[d["sha256"]][0] for d in chain]
        for i, earlier in enumerate(chain):
            for j in range(i + 1, len(chain)):
                if first[j][:2] < first[i][:2]:
                    total += 1
                    causes[last_fault_before(earlier["acked_at"], windows)] += 1
                    if len(examples) < 5 and j == i + 1:
                        later, a, b = chain[j], first[i], first[j]
                        examples.append(
                            f"{prospect}: n={later['n']} (seq {later['seq']}, {b[2]}, "
                            f"{b[0]:%H:%M:%S.%f}) before n={earlier['n']} (seq "
                            f"{earlier['seq']}, {a[2]}, {a[0]:%H:%M:%S.%f})"
                        )
    return total, causes, examples


def last_fault_before(when: float, windows: list[dict[str, Any]]) -> str:
    begun = [w for w in windows if w["start"] <= when]
    return f"after {begun[-1]['name']}" if begun else "before any fault"


def verdict(records: str, dsn: str, faults: str | None) -> int:
    deliveries, summary = read_sender(records)
    windows = json.loads(Path(faults).read_text()) if faults and Path(faults).exists() else []
    events, processings = read_database(dsn)
    acked = [d for d in deliveries if d["status"]]
    runs = Counter(len(processings.get(d["sha256"], ())) for d in acked)
    a = len(acked)
    s = sum(1 for d in acked if d["sha256"] in events)
    p, lost = runs[1], runs[0]
    sent_keys = {d["sha256"] for d in deliveries}
    twice = sum(1 for d in deliveries if len(processings.get(d["sha256"], ())) > 1)
    o, causes, examples = out_of_order(acked, processings, windows)
    x = len(summary.get("disabled", []))
    print(
        f"multihost: {a} acknowledged, {s} stored, {p} processed once, {lost} lost, "
        f"{twice} processed twice, {o} out of order, {x} disabled"
    )
    answers = Counter(d["status"] for d in acked)
    spooled = sum(1 for d in acked if (d.get("answer") or {}).get("status") == "spooled")
    retried = sum(1 for d in acked if len(d["attempts"]) > 1)
    duplicates = sum(1 for d in acked if (d.get("answer") or {}).get("duplicate") is True)
    given_up = [d for d in deliveries if not d["status"]]
    unknown_events = sorted(set(events) - sent_keys)
    unknown_runs = sorted(set(processings) - sent_keys)
    checked = sum(1 for d in acked if in_order_check(d))
    print(
        f"  answers: {dict(sorted(answers.items()))} ({spooled} spooled), {retried} "
        f"delivered after a retry, {duplicates} answered duplicate, {len(given_up)} given up "
        f"(of which {sum(1 for d in given_up if d['sha256'] in events)} stored anyway)"
    )
    print(
        f"  events by status: {dict(Counter(events.values()).most_common())}; order checked "
        f"on {checked} deliveries (202s left out: check.in_order_check)"
    )
    for disabled in summary.get("disabled", []):
        print(f"  disabled: {disabled['why']} (seq {disabled['seq']})")
    if causes:
        print(f"  out of order, by the last fault begun before the earlier 2xx: {dict(causes)}")
    for example in examples:
        print(f"  out of order: {example}")
    for d in acked:
        if len(processings.get(d["sha256"], ())) != 1:
            rows = processings.get(d["sha256"], [])
            print(
                f"  seq {d['seq']} ({d['prospect']} n={d['n']}, answered {d['status']}): "
                f"processed {len(rows)} times {[(r[2], r[3], r[4]) for r in rows]}, "
                f"stored as {events.get(d['sha256'], 'nothing')}"
            )
    if unknown_events or unknown_runs:
        print(
            f"  NOT FROM THE SENDER: {len(unknown_events)} events, "
            f"{len(unknown_runs)} processed keys"
        )
    good = a == s == p and lost == twice == o == x == 0 and a > 0
    return 0 if good and not unknown_events and not unknown_runs else 1


def progress(records: str, dsn: str) -> None:
    deliveries, _ = read_sender(records)
    events, processings = read_database(dsn)
    acked = [d for d in deliveries if d["status"]]
    print(
        json.dumps(
            {
                "acked": len(acked),
                "acked_processed": sum(1 for d in acked if processings.get(d["sha256"])),
                "pending": sum(
                    1 for st in events.values() if st in ("received", "queued", "processing")
                ),
                "failed": sum(1 for st in events.values() if st == "failed"),
                "processings": sum(len(rows) for rows in processings.values()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", required=True, help="the sender's JSON lines")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--faults", help="the faults as they happened (JSON), to attribute O")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    if args.progress:
        progress(args.records, args.dsn)
    else:
        sys.exit(verdict(args.records, args.dsn, args.faults))


if __name__ == "__main__":
    main()
