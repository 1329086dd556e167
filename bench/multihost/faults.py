"""The faults of the multi-host run, and the timeline that applies them during the load.

Each fault is applied at its offset from the start of the load and, when it lasts, undone
after its duration; a progress line is printed at each start and end:

- ``impair``: latency and loss between kakiyo and the web hosts: ``tc netem`` on kakiyo's
  link where the kernel has netem, else emulated by the sender (``SIGUSR1``/``SIGUSR2``);
- ``cut web <-> broker``: both web hosts lose the broker (router blackhole rules), 20 s;
- ``cut worker1 <-> db``: worker1 loses PostgreSQL, 20 s;
- ``kill -9 worker2``: every process in worker2's namespace (Celery master, its pool and
  beat) is killed with SIGKILL, then started again;
- ``stop db``: ``pg_ctl stop -m fast``, 5 s, ``pg_ctl start``.
"""

from __future__ import annotations

import heapq
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .backends import Postgres
from .services import Program, flags, run_on
from .topology import NETEM, Topology, address


class Run(Protocol):
    """What the faults act on and report to: the run (``run.Run``), seen from below, so that
    this module does not import the one that imports it."""

    topo: Topology
    postgres: Postgres
    sender: Program | None
    netem: bool
    windows: list[dict[str, object]]

    def log(self, message: str) -> None: ...

    def env(self, host: str) -> dict[str, str]: ...

    def restart_worker2(self) -> None: ...


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load starts
    name: str
    duration: float  # 0: an instant fault (no end line)


@dataclass(frozen=True)
class Profile:
    """The size of a run: load, timeline and the shortened timeouts (all seconds)."""

    rate: float  # deliveries per second
    prospects: int  # chains in parallel
    duration: float  # seconds of load
    requeue_after: float  # KAKIYO['REQUEUE_AFTER']
    processing_timeout: float  # KAKIYO['PROCESSING_TIMEOUT']
    sweep: float  # beat's interval for the sweeper
    visibility: float  # Redis visibility_timeout
    cron: float  # kakiyo_import_spool's interval on each web host
    drain: float  # the most the drain may take
    receiver_work: float  # seconds each processing takes in the receiver (inside the transaction)
    timeline: tuple[Fault, ...]


QUICK = Profile(
    rate=16, prospects=40, duration=84, requeue_after=5, processing_timeout=10, sweep=2,
    visibility=30, cron=10, drain=60, receiver_work=0.02,
    timeline=(
        Fault(4, "impair", 14),
        Fault(20, "cut web <-> broker", 20),
        Fault(43, "cut worker1 <-> db", 20),
        Fault(66, "kill -9 worker2", 0),
        Fault(72, "stop db", 5),
    ),
)  # fmt: skip
FULL = Profile(
    rate=100, prospects=300, duration=290, requeue_after=30, processing_timeout=15, sweep=5,
    visibility=120, cron=30, drain=600, receiver_work=0.02,
    timeline=(
        Fault(30, "impair", 30),
        Fault(90, "cut web <-> broker", 20),
        Fault(140, "cut worker1 <-> db", 20),
        Fault(190, "kill -9 worker2", 0),
        Fault(230, "stop db", 5),
    ),
)  # fmt: skip


def actions(run: Run) -> dict[str, tuple[Callable[[], str], Callable[[], str]]]:
    """For each fault name: (apply, undo), each returning what it did, for the log line."""
    topo = run.topo

    def impair() -> str:
        if run.netem:
            topo.impair()
            return f"tc netem {NETEM} on kakiyo's link, both ways"
        assert run.sender is not None and run.sender.proc is not None
        run.sender.proc.send_signal(signal.SIGUSR1)
        return (
            "EMULATED in the sender (no netem in this kernel): +80+-20 ms each way, "
            "1 % of requests and 1 % of answers lost"
        )

    def unimpair() -> str:
        if run.netem:
            topo.unimpair()
        elif run.sender is not None and run.sender.proc is not None:
            run.sender.proc.send_signal(signal.SIGUSR2)
        return "impairment removed"

    def cut_web_broker() -> str:
        topo.cut("web1", "broker")
        topo.cut("web2", "broker")
        return "router drops web1, web2 <-> broker (ip rule ... blackhole)"

    def heal_web_broker() -> str:
        topo.heal("web1", "broker")
        topo.heal("web2", "broker")
        return "web1, web2 <-> broker restored"

    def cut_worker_db() -> str:
        caught = in_transaction(run, "worker1", topo.cut_command("worker1", "db"))
        return f"router drops worker1 <-> db (ip rule ... blackhole); {caught}"

    def heal_worker_db() -> str:
        topo.heal("worker1", "db")
        return "worker1 <-> db restored"

    def kill_worker2() -> str:
        pids = topo.pids("worker2")
        caught = in_transaction(
            run, "worker2", f"ip netns pids {topo.ns('worker2')} | xargs -r kill -9"
        )
        deadline = time.monotonic() + 10
        while topo.pids("worker2") and time.monotonic() < deadline:
            time.sleep(0.05)
        run.restart_worker2()
        return (
            f"SIGKILL to all {len(pids)} processes of worker2 {sorted(pids)} ({caught}); restarted"
        )

    def stop_db() -> str:
        started = time.monotonic()
        run.postgres.stop("fast")
        return f"pg_ctl stop -m fast took {time.monotonic() - started:.1f} s"

    def start_db() -> str:
        started = time.monotonic()
        run.postgres.start()
        return f"pg_ctl start took {time.monotonic() - started:.1f} s"

    def nothing() -> str:
        return ""

    return {
        "impair": (impair, unimpair),
        "cut web <-> broker": (cut_web_broker, heal_web_broker),
        "cut worker1 <-> db": (cut_worker_db, heal_worker_db),
        "kill -9 worker2": (kill_worker2, nothing),
        "stop db": (stop_db, start_db),
    }


def in_transaction(run: Run, host: str, command: str) -> str:
    """Run ``command`` as soon as ``host`` is inside a transaction (``inflight.py``)."""
    options = flags(dsn=run.postgres.local_dsn, client=address(host), timeout=10, then=command)
    argv = [sys.executable, "-m", "bench.multihost.inflight", *options]
    found = json.loads(run_on(run.topo, "db", argv, env=run.env("db")))
    run.windows[-1]["caught"] = found["caught"]
    if found["caught"]:
        return (
            f"caught {host} {found['transaction_ms']} ms into a transaction "
            f"(after {found['waited_ms']} ms of watching)"
        )
    return f"no transaction of {host} seen in {found['waited_ms']} ms: applied anyway"


def play(run: Run, timeline: tuple[Fault, ...], load_started: float) -> None:
    """Apply the timeline; returns when the last fault has been undone. A fault lasts its
    duration from the moment it was applied (a fault may wait for its moment)."""
    steps = actions(run)
    windows: dict[int, dict[str, object]] = {}
    queue = [(fault.at, order, "start") for order, fault in enumerate(timeline)]
    heapq.heapify(queue)
    while queue:
        when, order, kind = heapq.heappop(queue)
        fault = timeline[order]
        time.sleep(max(0.0, load_started + when - time.monotonic()))
        apply, undo = steps[fault.name]
        if kind == "start":
            windows[order] = {"name": fault.name, "start": time.time()}
            run.windows.append(windows[order])
        try:
            what = apply() if kind == "start" else undo()
        except BaseException as error:
            run.log(f"fault {kind}: {fault.name}: FAILED: {error!r}")
            raise
        if kind == "start" and fault.duration:
            heapq.heappush(queue, (time.monotonic() - load_started + fault.duration, order, "end"))
        if kind == "end":
            windows[order]["end"] = time.time()
        length = f" for {fault.duration:.0f} s" if kind == "start" and fault.duration else ""
        run.log(f"fault {kind}: {fault.name}{length}" + (f": {what}" if what else ""))
