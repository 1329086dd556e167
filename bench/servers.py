"""Shared by bench/ingest.py and bench/soak.py: gunicorn and a Celery worker on this machine.

Not a benchmark itself. Starts the servers the way both scripts run them, generates signed
deliveries, reads process memory from /proc and waits for the worker to drain.

- gunicorn: ``example_project.wsgi`` with ``DJANGO_SETTINGS_MODULE=bench.ingest_settings``
  (PostgreSQL ``kakiyo_bench`` with persistent connections, Celery broker Redis db 11,
  ``KAKIYO['PROCESSING'] = "celery"``), :data:`GUNICORN_OPTIONS`;
- one Celery worker: ``celery -A example_project worker``, prefork, 2 processes.

Only the processes started here are ever stopped, by their own pid.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"  # git-ignored: logs and generated bodies
SETTINGS_MODULE = "bench.ingest_settings"

#: The same for both endpoints: 2 worker processes x 2 threads (4 requests in flight at
#: most, on 2 cores), keep-alive so the load generator reuses its connections.
GUNICORN_OPTIONS = [
    "--workers", "2",
    "--worker-class", "gthread",
    "--threads", "2",
    "--keep-alive", "60",
    "--backlog", "2048",
    "--timeout", "60",
    "--log-level", "warning",
]  # fmt: skip
WORKER_CONCURRENCY = 2

#: Event types whose sample data carries per-index ids, so every generated body differs.
EVENT_TYPES = [
    "linkedin.message.sent",
    "linkedin.message.received",
    "linkedin.invitation.sent",
    "linkedin.invitation.accepted",
    "prospect.qualification.manual",
    "prospect.unqualified",
    "prospect.qualified",
    "prospect.responded",
    "message.sent",
    "connection.accepted",
]

PENDING = ("received", "queued", "processing")


def setup_django() -> Any:
    """Configure Django for the bench in this process; create and migrate the database."""
    sys.path.insert(0, str(REPO))
    import django

    from bench.latency import ensure_database  # sets DJANGO_SETTINGS_MODULE=bench.settings

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    from bench import ingest_settings

    ensure_database(ingest_settings.DATABASE_URL)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return ingest_settings


def exit_on_sigterm() -> None:
    """Turn SIGTERM (and SIGINT, which background jobs ignore) into SystemExit, so that
    ``with Stack(...)`` stops gunicorn and the worker when the bench is stopped."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def code_fingerprint() -> str:
    """HEAD and a hash of the app's working-tree sources: other people edit them meanwhile."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted((REPO / "django_kakiyo").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return f"HEAD {head}, django_kakiyo/*.py sha256 {digest.hexdigest()[:12]}"


def generate_deliveries(count: int, offset: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct (signature, body) pairs, signed with the bench secret."""
    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    deliveries = []
    for index in range(offset, offset + count):
        event_type = EVENT_TYPES[index % len(EVENT_TYPES)]
        body, headers = sign_payload(make_payload(event_type, sample_data(event_type, index)))
        deliveries.append((headers["X-Kakiyo-Signature"], body))
    if len({body for _, body in deliveries}) != count:
        raise SystemExit("generated bodies are not all distinct")
    return deliveries


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/PID/task/*/children)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children(current)
    return tree


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Stack:
    """gunicorn (bench settings) and one Celery worker, started together, stopped by pid."""

    def __init__(
        self,
        name: str,
        port: int | None = None,
        gunicorn_options: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.name = name
        self.gunicorn_options = gunicorn_options or GUNICORN_OPTIONS
        self.extra_env = env or {}
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        RESULTS.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": str(REPO),
            **self.extra_env,
        }
        bindir = Path(sys.executable).parent
        worker_log = open(RESULTS / f"{self.name}-worker.log", "wb")  # noqa: SIM115
        gunicorn_log = open(RESULTS / f"{self.name}-gunicorn.log", "wb")  # noqa: SIM115
        self._logs = [worker_log, gunicorn_log]
        self.worker = subprocess.Popen(
            [str(bindir / "celery"), "-A", "example_project", "worker",
             "--pool", "prefork", "-c", str(WORKER_CONCURRENCY),
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
            cwd=REPO, env=env, stdout=worker_log, stderr=worker_log,
        )  # fmt: skip
        self.gunicorn = subprocess.Popen(
            [str(bindir / "gunicorn"), "example_project.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", *self.gunicorn_options],
            cwd=REPO, env=env, stdout=gunicorn_log, stderr=gunicorn_log,
        )  # fmt: skip
        self._wait_http()
        self._wait_worker()

    def _wait_http(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.gunicorn is not None
            if self.gunicorn.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {RESULTS / self.name}-gunicorn.log")
            request = urllib.request.Request(self.base_url + "/kakiyo/webhook/", method="OPTIONS")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    options = self.gunicorn_options
                    workers = int(options[options.index("--workers") + 1])
                    if response.status == 200 and len(self.gunicorn_workers()) == workers:
                        return
            except OSError:  # refused, reset or timed out while it boots
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer within 60 s")
            time.sleep(0.2)

    def _wait_worker(self) -> None:
        import redis

        from bench.baseline import COUNTER_KEY, COUNTER_URL, bare_task

        counter = redis.Redis.from_url(COUNTER_URL)
        counter.delete(COUNTER_KEY)
        bare_task.delay(0)
        deadline = time.monotonic() + 60
        while not counter.get(COUNTER_KEY):
            assert self.worker is not None
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start; see {RESULTS / self.name}-worker.log")
            time.sleep(0.05)
        counter.delete(COUNTER_KEY)

    def gunicorn_workers(self) -> list[int]:
        return children(self.gunicorn.pid) if self.gunicorn else []

    def memory(self) -> dict[str, dict[int, int]]:
        """VmRSS (KiB) of every process of each tree: ``{"gunicorn": {pid: kib}, ...}``."""
        trees = {"gunicorn": self.gunicorn, "celery": self.worker}
        return {
            name: {pid: rss_kib(pid) for pid in process_tree(proc.pid)}
            for name, proc in trees.items()
            if proc is not None
        }

    def stop(self) -> None:
        for proc in (self.gunicorn, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.gunicorn, self.worker):
            if proc is None:
                continue
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reset_events() -> None:
    """Empty the event tables, then CHECKPOINT so every round starts from the same state."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE django_kakiyo_webhookevent, django_kakiyo_rejectedrequest RESTART IDENTITY"
        )
        cursor.execute("CHECKPOINT")


def wal_lsn() -> str:
    """PostgreSQL's current WAL position (the whole cluster: other databases write too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return str(cursor.fetchone()[0])


def wal_bytes_since(lsn: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [lsn])
        return int(cursor.fetchone()[0])


def status_counts() -> dict[str, int]:
    from django.db.models import Count

    from django_kakiyo.models import WebhookEvent

    rows = WebhookEvent.objects.order_by().values_list("status").annotate(n=Count("pk"))
    return {status: n for status, n in rows}


def wait_until(done: Callable[[], bool], timeout: float, poll: float = 0.25) -> float | None:
    """Seconds until ``done()`` held, or None when ``timeout`` passed first."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            return None
        time.sleep(poll)
    return time.monotonic() - start


def broker_backlog(broker_url: str) -> int:
    """Messages waiting in the default Celery queue."""
    import redis

    return int(redis.Redis.from_url(broker_url).llen("celery"))


# -- CPU accounting: other people's processes share these 2 cores ------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> int:
    """Busy jiffies of all CPUs since boot (user, nice, system, irq, softirq; not steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[0:3]) + fields[5] + fields[6]


def steal_jiffies() -> int:
    """Jiffies the hypervisor gave to other guests while this one wanted to run."""
    return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


def process_jiffies(pid: int) -> int:
    """utime + stime of ``pid`` (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def bench_database_pids() -> list[int]:
    """PostgreSQL backends connected to the bench database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "OR backend_type IN ('checkpointer', 'background writer', 'walwriter')"
        )
        return [row[0] for row in cursor.fetchall()]


def redis_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU used during a span by each of the bench's own processes and by everything else.

    Groups: ``gunicorn`` and ``celery`` (the process trees), ``postgres`` (the bench
    database's backends and PostgreSQL's writer processes), ``redis``, ``loadgen`` (this
    process and its waited-for children, i.e. wrk). ``other`` is whatever else ran on the
    machine meanwhile: when it is more than a few percent of a core, the span's numbers are
    not clean. ``steal`` is CPU time the hypervisor gave to other virtual machines. Values are
    CPU seconds; :meth:`stop` also gives percent of one core.
    """

    GROUPS = ("gunicorn", "celery", "postgres", "redis", "loadgen")

    def __init__(self, stack: Stack, profiler_pids: list[int] | None = None) -> None:
        self.stack = stack
        #: A profiler's processes (py-spy): neither "ours" nor "other".
        self.profiler_pids = profiler_pids or []

    def _sample(self) -> dict[str, dict[int, int]]:
        groups: dict[str, dict[int, int]] = {}
        for name, proc in (("gunicorn", self.stack.gunicorn), ("celery", self.stack.worker)):
            pids = process_tree(proc.pid) if proc is not None else []
            groups[name] = {pid: process_jiffies(pid) for pid in pids}
        groups["postgres"] = {pid: process_jiffies(pid) for pid in bench_database_pids()}
        groups["redis"] = {pid: process_jiffies(pid) for pid in redis_pids()}
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        groups["loadgen"] = {0: round(seconds * CLOCK_TICKS)}
        groups["profiler"] = {pid: process_jiffies(pid) for pid in self.profiler_pids}
        return groups

    def start(self) -> None:
        self._start = self._sample()
        self._machine = machine_jiffies()
        self._steal = steal_jiffies()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group, plus ``ours``, ``other`` and ``machine`` and, for each of
        those, ``*_pct`` (percent of one core over the span) and ``wall``."""
        busy = machine_jiffies()
        wall = time.monotonic() - self._wall
        end = self._sample()
        result: dict[str, float] = {"wall": wall}
        for group in (*self.GROUPS, "profiler"):
            before = self._start.get(group, {})
            jiffies = sum(max(0, j - before.get(pid, 0)) for pid, j in end[group].items())
            result[group] = jiffies / CLOCK_TICKS
        result["ours"] = sum(result[group] for group in self.GROUPS)
        result["machine"] = (busy - self._machine) / CLOCK_TICKS
        result["other"] = max(0.0, result["machine"] - result["ours"] - result["profiler"])
        result["steal"] = (steal_jiffies() - self._steal) / CLOCK_TICKS
        for key in (*self.GROUPS, "profiler", "ours", "other", "machine", "steal"):
            result[f"{key}_pct"] = 100 * result[key] / wall
        return result


def wait_for_quiet(
    threshold: float = 15.0, timeout: float = 600.0, window: float = 2.0
) -> tuple[float, float]:
    """Wait until the machine (with the bench idle) uses less than ``threshold`` % of one core
    over two consecutive ``window``s. Returns (seconds waited, last busy %); gives up after
    ``timeout``."""
    start = time.monotonic()
    quiet = 0
    busy_percent = 0.0
    while True:
        before = machine_jiffies()
        time.sleep(window)
        busy_percent = 100 * (machine_jiffies() - before) / CLOCK_TICKS / window
        quiet = quiet + 1 if busy_percent < threshold else 0
        if quiet >= 2 or time.monotonic() - start > timeout:
            return time.monotonic() - start, busy_percent
