"""Wait until a host is inside a transaction on PostgreSQL, then apply a fault at once.

Runs on the ``db`` host. The faults "cut worker1 <-> db" and "kill -9 worker2" use it to hit
a worker in the middle of processing: its claim committed, its receivers' rows written in a
transaction not yet committed. That is where an event could be processed twice or lost, and
a fault at a random moment mostly finds the worker idle. ``pg_stat_activity`` is polled
every 2 ms over the Unix socket until a backend of ``--client`` is ``idle in transaction``
with a transaction id (it has written), then ``--then`` (a shell command) runs at once; after
``--timeout`` seconds it runs anyway. Prints one JSON line: whether a transaction was caught,
how old it was, how long the wait took.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

import psycopg

QUERY = (
    "SELECT pid, extract(epoch FROM clock_timestamp() - xact_start) * 1000 "
    "FROM pg_stat_activity WHERE client_addr = %s::inet "
    "AND state = 'idle in transaction' AND backend_xid IS NOT NULL LIMIT 1"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--client", required=True, help="the host's address")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--then", required=True, help="shell command: the fault")
    args = parser.parse_args()
    started = time.monotonic()
    row = None
    with psycopg.connect(args.dsn, autocommit=True) as connection:
        while row is None and time.monotonic() - started < args.timeout:
            row = connection.execute(QUERY, [args.client]).fetchone()
            if row is None:
                time.sleep(0.002)
    waited = time.monotonic() - started
    subprocess.run(args.then, shell=True, check=True)  # noqa: S602 - our own command
    print(json.dumps({
        "caught": row is not None,
        "backend": row[0] if row else None,
        "transaction_ms": round(float(row[1]), 1) if row else None,
        "waited_ms": round(waited * 1000),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
