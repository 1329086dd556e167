"""Real servers for the integration tests: Redis (shared and private), Celery workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection

from ..services import port_open, require
from .brokers import BROKERS, PrivateRabbit, Queue, shared_url

REPO = Path(__file__).resolve().parents[2]

# Django's test server (live_server) listens with socketserver's backlog of 5: dozens of
# clients connecting at once on a loaded machine overflow it and get connection resets, which
# a real server's backlog (gunicorn's is 2048) would absorb.
ThreadedWSGIServer.request_queue_size = 128
SHARED_REDIS = ("127.0.0.1", 6379)
#: Database numbers of the shared Redis that belong to the tests. Two runs sharing one Redis
#: (two checkouts, a nox leg beside bin/run-tests) set other numbers so they never collide.
BROKER_DB = int(os.environ.get("KAKIYO_TEST_REDIS_BROKER_DB", "15"))
RECORD_DB = int(os.environ.get("KAKIYO_TEST_REDIS_RECORD_DB", "14"))


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(live_server: Any) -> Iterator[Any]:
    """pytest-django's live server, and at the end of the test a wait for its request threads.

    The webhook view counts each answer after it is sent (a resource closer of the
    response), so a request thread can still be writing when the client already has its
    answer and the test ends. On SQLite that thread shares the test's in-memory connection,
    and a write during the teardown's flush breaks it ("FOREIGN KEY constraint failed").
    For the same reason the server then handles one request at a time, each until its
    response is closed: otherwise the next request's store meets the previous one's
    counting on that shared connection ("on_commit() cannot be used in manual transaction
    management")."""
    httpd = live_server.thread.httpd
    if live_server.thread.connections_override and not getattr(httpd, "kakiyo_serial", False):
        httpd.set_app(one_request_at_a_time(httpd.get_app()))
        httpd.kakiyo_serial = True
    yield live_server
    deadline = time.monotonic() + 10
    while (
        any("process_request_thread" in thread.name for thread in threading.enumerate())
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)


def one_request_at_a_time(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` (WSGI), taking one request at a time, each until its response is closed (after
    its resource closers); an idle keep-alive connection holds nothing."""
    lock = threading.Lock()

    def serial(environ: Any, start_response: Any) -> Any:
        lock.acquire()
        try:
            response = app(environ, start_response)
        except BaseException:
            lock.release()
            raise
        closers = getattr(response, "_resource_closers", None)
        if closers is None:
            lock.release()
        else:
            closers.append(lock.release)  # after the view's own closers
        return response

    return serial


@pytest.fixture
def on_postgres() -> None:
    """Worker tests share the test database with a worker process: PostgreSQL only."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs a shared database: runs in the PostgreSQL pass")


@pytest.fixture
def shared_redis() -> None:
    require(port_open(*SHARED_REDIS), "Redis is not running on 127.0.0.1:6379")


@pytest.fixture
def records(shared_redis: None) -> Iterator[redis.Redis]:
    """Where the worker's receivers report their calls (a database of the shared Redis)."""
    store = redis.Redis(*SHARED_REDIS, db=RECORD_DB)
    store.flushdb()
    yield store
    store.flushdb()


class PrivateRedis:
    """A redis-server of the test's own on a free port, which the test may stop and start."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="kakiyo-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open("127.0.0.1", self.port), 10, "redis-server to listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    require(shutil.which("redis-server") is not None, "redis-server is not on PATH")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def use_broker(settings: Any) -> Iterator[Callable[[str], None]]:
    """Point this process's Celery app (and KAKIYO) at a broker URL."""
    from example_project import celery_app

    previous = celery_app.conf.broker_url

    def point(url: str, queue: str | None = None) -> None:
        settings.CELERY_BROKER_URL = url
        settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "celery", "CELERY_QUEUE": queue}
        celery_app.conf.broker_url = url
        # Connection pools are cached per app; drop them so the new URL is used.
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    yield point
    point(previous)


class Worker:
    """A real ``celery worker`` process on the test database.

    ``queue``: the one queue it consumes (and where its own retries and hand-ons go).
    """

    def __init__(
        self,
        broker_url: str,
        record_url: str,
        log: Path,
        *,
        queue: str | None = None,
        concurrency: int = 2,
        **env: str,
    ) -> None:
        self.log = log
        database = connection.settings_dict
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "PYTHONPATH": str(REPO),
            "CELERY_BROKER_URL": broker_url,
            "KAKIYO_TEST_RECORD_URL": record_url,
            "KAKIYO_TEST_QUEUE": queue or "",
            "KAKIYO_WORKER_DATABASE_URL": (
                f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}"
                f":{database['PORT'] or 5432}/{database['NAME']}"
            ),
            **env,
        }
        self.output = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "example_project", "worker",
             "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO",
             *(["-Q", queue] if queue else []),
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             f"--hostname=kakiyo-test-{os.getpid()}-{time.monotonic_ns()}@%h"],
            cwd=REPO,
            env=environment,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(self._ready, 60, f"the worker to be ready (log: {log})")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log.read_text()}")
        return b" ready." in self.log.read_bytes()

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as an OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL whatever of the process group is left after 20 s: a
        pool process outliving its parent would keep its database session open."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        deadline = time.monotonic() + 20
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self.output.close()

    def _group_alive(self) -> bool:
        """Whether a process of the worker's group still runs (zombies do not count: in a
        container nothing may reap them)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after it.
                state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
                if int(pgrp) == self.process.pid and state != "Z":
                    return True
        return False


@pytest.fixture
def start_worker(
    on_postgres: None, records: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []
    record_url = f"redis://{SHARED_REDIS[0]}:{SHARED_REDIS[1]}/{RECORD_DB}"

    def start(broker_url: str, **options: Any) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker(broker_url, record_url, log, **options)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def shared_broker(shared_redis: None, use_broker: Callable[[str], None]) -> str:
    """A database of the shared Redis as the broker, emptied first."""
    redis.Redis(*SHARED_REDIS, db=BROKER_DB).flushdb()
    url = f"redis://{SHARED_REDIS[0]}:{SHARED_REDIS[1]}/{BROKER_DB}"
    use_broker(url)
    return url


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, use_broker: Callable[..., None]) -> Iterator[Queue]:
    """A queue of the test's own on the machine's Redis, then on its RabbitMQ: this
    process publishes there, and workers started with ``queue=broker.name`` consume it."""
    queue = Queue(shared_url(request.param, BROKER_DB))
    use_broker(queue.url, queue.name)
    yield queue
    queue.delete()


@pytest.fixture(params=BROKERS)
def private_broker(request: pytest.FixtureRequest) -> Iterator[PrivateRedis | PrivateRabbit]:
    """A broker of the test's own, which it may stop and start: Redis, then RabbitMQ."""
    server: PrivateRedis | PrivateRabbit
    if request.param == "redis":
        require(shutil.which("redis-server") is not None, "redis-server is not on PATH")
        server = PrivateRedis()
        server.start()
        yield server
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
    else:
        server = PrivateRabbit()
        server.start()
        yield server
        server.remove()
