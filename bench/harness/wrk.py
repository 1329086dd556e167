"""The closed-loop load of bench/ingest.py: wrk with bench/ingest.lua and pre-signed bodies.

Each wrk thread reads its own file of distinct deliveries (BODIES0.tsv, BODIES1.tsv, ...:
``<signature>\\t<body>`` a line), so dedup never short-circuits; ingest.lua writes a JSON
summary (requests, 2xx, errors, latency percentiles in microseconds) that :func:`run_wrk` returns.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from bench.harness.environment import REPO, RESULTS

LUA = REPO / "bench" / "ingest.lua"
BODIES = RESULTS / "bodies-"


def write_bodies(deliveries: list[tuple[str, bytes]], threads: int) -> None:
    """Split the deliveries round-robin into one file per wrk thread."""
    RESULTS.mkdir(exist_ok=True)
    for thread in range(threads):
        with open(f"{BODIES}{thread}.tsv", "wb") as file:
            for signature, body in deliveries[thread::threads]:
                file.write(signature.encode() + b"\t" + body + b"\n")


def run_wrk(url: str, path: str, seconds: float, connections: int, threads: int) -> dict[str, Any]:
    """``seconds`` of wrk on ``url + path``; ingest.lua's summary."""
    out = RESULTS / "wrk-out.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_BODIES": str(BODIES), "BENCH_PATH": path, "BENCH_OUT": str(out)}
    command = [
        "wrk", "-t", str(min(threads, connections)), "-c", str(connections),
        "-d", f"{round(seconds)}s", "--timeout", "10s", "-s", str(LUA), url + path,
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    return dict(json.loads(out.read_text()))
