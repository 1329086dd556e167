"""Answer time with no broker: a receiver sleeping 3 s must not delay the HTTP answer.

    .venv/bin/python bench/answer_time.py [--n 20] [--sleep 3]
                                          [--servers runserver,gunicorn,uvicorn]
                                          [--database-url postgres://postgres@127.0.0.1/kakiyo_bench]

Needs nothing but the venv (bin/setup-venv installs gunicorn and uvicorn) for the default
database, a SQLite file in bench/results/; ``--database-url`` names another (a PostgreSQL
database is created if missing). With no broker configured, the app's default runs receivers
in a background thread of the web process, after the answer. For each server, serving the
example project (bench/answer_settings.py: no broker, bench/slow_receiver.py's receiver):

- ``runserver``: ``manage.py runserver --noreload``;
- ``gunicorn``: ``example_project.wsgi``, 2 workers x 4 threads, gthread;
- ``uvicorn``: the ASGI app ``example_project.asgi:application``;

it starts the server twice on the emptied database: first with a receiver that returns at
once (the baseline), then with one that sleeps ``--sleep`` seconds. Each time it
POSTs the same ``--n`` signed deliveries one after another, each on a new connection (as a
webhook sender does), and times each answer; then it polls the database until every event
is ``processed`` (so every receiver ran) and checks, with the slow receiver, that each event
was processed at least ``--sleep`` seconds after it arrived (the receiver really slept).

Prints per server and receiver the answer time's p50 and max, the statuses, how many events
were processed and how long after the last answer; then a ratio line per server (slow /
baseline) and the checks. Raw results go to bench/results/answer-time-*.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import environment
from bench.harness.database import status_counts
from bench.harness.deliveries import WEBHOOK_PATH, Connection, generate_deliveries
from bench.harness.report import median, ratio
from bench.harness.servers import BIN, Gunicorn, HttpServer, free_port
from bench.harness.waiting import wait_until

SETTINGS = "bench.answer_settings"
SQLITE = f"sqlite:///{environment.RESULTS / 'answer-time.sqlite3'}"
GTHREAD = ["--workers", "2", "--worker-class", "gthread", "--threads", "4",
           "--log-level", "warning"]  # fmt: skip


def server(kind: str, name: str, env: dict[str, str]) -> HttpServer:
    """``kind`` (runserver, gunicorn, uvicorn) on a free port."""
    port = free_port()
    if kind == "gunicorn":
        return Gunicorn(name, SETTINGS, GTHREAD, port, env=env)
    command = {
        "runserver": [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        "uvicorn": [f"{BIN}/uvicorn", "example_project.asgi:application", "--host",
                    "127.0.0.1", "--port", str(port), "--log-level", "warning"],
    }[kind]  # fmt: skip
    return HttpServer(name, command, SETTINGS, port, env=env)


def shortest_processing_s() -> float:
    """The shortest time from an event's arrival to its being processed (seconds)."""
    from django_kakiyo.models import WebhookEvent

    times = WebhookEvent.objects.filter(status="processed").values_list(
        "received_at", "processed_at"
    )
    return min(((done - came).total_seconds() for came, done in times), default=0.0)


def run(kind: str, receiver: str, sleep: float, deliveries: list[tuple[str, bytes]]) -> dict:
    """Start ``kind`` with a receiver sleeping ``sleep`` s, send, time, wait for processing."""
    from django_kakiyo.models import RejectedRequest, WebhookEvent

    WebhookEvent.objects.all().delete()
    RejectedRequest.objects.all().delete()
    name = f"answer-time-{kind}-{receiver.replace(' ', '-')}"
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "KAKIYO_BENCH_RECEIVER_SLEEP": str(sleep)}
    answers: list[float] = []
    codes: Counter[str] = Counter()
    with server(kind, name, env) as site:
        for signature, body in deliveries:
            connection = Connection(site.port)
            start = time.monotonic()
            status, _, error = connection.post(WEBHOOK_PATH, body, signature)
            answers.append(time.monotonic() - start)
            connection.close()
            codes[str(status or error)] += 1
        last_answer = time.monotonic()
        processed = wait_until(
            lambda: status_counts().get("processed", 0) >= len(deliveries),
            timeout=len(deliveries) * sleep + 60,
        )
        drained = time.monotonic() - last_answer if processed is not None else None
    result = {"server": kind, "receiver": receiver, "sleep": sleep, "counts": status_counts()}
    result["shortest_s"] = shortest_processing_s()
    result.update(
        p50=median(answers), max=max(answers), answers=answers, codes=dict(codes), drained=drained
    )
    print(
        f"  {kind:<10} {receiver:<14} answer p50 {result['p50'] * 1000:7.1f} ms  max "
        f"{result['max'] * 1000:7.1f} ms  {dict(codes)}  processed "
        f"{result['counts'].get('processed', 0)}/{len(deliveries)} "
        + ("(TIMEOUT)" if drained is None else f"{drained:.1f} s after the last answer"),
        flush=True,
    )
    return result


def problems(result: dict, n: int) -> list[str]:
    """What went wrong in one run, if anything."""
    found = []
    where = f"{result['server']} {result['receiver']}"
    if result["codes"] != {"200": n}:
        found.append(f"{where}: answers {result['codes']}")
    if result["counts"] != {"processed": n}:
        found.append(f"{where}: events {result['counts']} for {n} deliveries")
    if result["sleep"] and (result["shortest_s"] or 0) < result["sleep"]:
        found.append(f"{where}: an event was processed {result['shortest_s']} s after arrival")
    if result["sleep"] and result["max"] >= result["sleep"]:
        found.append(f"{where}: an answer waited {result['max']:.1f} s")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="Deliveries per run (20).")
    parser.add_argument("--sleep", type=float, default=3, help="The receiver's sleep (3 s).")
    parser.add_argument("--servers", default="runserver,gunicorn,uvicorn", help="(all three)")
    parser.add_argument("--database-url", default=SQLITE, help="(bench/results/*.sqlite3)")
    args = parser.parse_args()
    environment.exit_on_sigterm()
    environment.RESULTS.mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    environment.setup_django(SETTINGS)
    deliveries = generate_deliveries(args.n)
    print(f"{environment.code_fingerprint()}; {args.n} deliveries one after another, each on "
          f"a new connection; receiver sleeping {args.sleep:g} s or not at all; "
          f"database {args.database_url}")  # fmt: skip

    results = []
    for kind in args.servers.split(","):
        base = run(kind, "baseline", 0.0, deliveries)
        slow = run(kind, "slow receiver", args.sleep, deliveries)
        print(f"ratio {kind} slow receiver/baseline: p50 {ratio(slow['p50'], base['p50'])}, "
              f"max {ratio(slow['max'], base['max'])}", flush=True)  # fmt: skip
        results += [base, slow]
    found = [problem for result in results for problem in problems(result, args.n)]
    print("checks: " + ("all passed" if not found else "; ".join(found)))
    out = environment.save_results("answer-time", {"args": vars(args), "results": results})
    print(f"raw results: {out.relative_to(environment.REPO)}")


if __name__ == "__main__":
    main()
