"""Server processes for the benchmarks: gunicorn, a Celery worker, or any other server.

Each is started with its log in bench/results/NAME.log and the bench's environment
(``DJANGO_SETTINGS_MODULE``, the repository on ``PYTHONPATH``), waited for until it answers,
and stopped by its own pid: only the processes started here are ever stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar

from bench.harness.environment import INGEST_SETTINGS, REPO, RESULTS
from bench.harness.procfs import children, tree_memory

BIN = os.path.dirname(sys.executable)

#: ingest.py's and soak.py's: 2 worker processes x 2 threads (4 requests in flight at most, on
#: 2 cores), keep-alive so the load generator reuses its connections.
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_M = TypeVar("_M", bound="Managed")


class Managed:
    """``with`` starts it (stopping what did start if that fails) and stops it at the end."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _M) -> _M:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess(Managed):
    """One process, its output in bench/results/NAME.log, stopped by pid (SIGTERM, then KILL)."""

    def __init__(
        self, name: str, command: list[str], settings: str, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        self.log_path = RESULTS / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not started"
        return self.process.pid

    def start(self) -> None:
        RESULTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=self.env, stdout=self._log, stderr=self._log
        )

    def fail(self, what: str) -> NoReturn:
        raise SystemExit(f"{what}; see {self.log_path}")

    def wait_for(
        self, done: Callable[[], Any], what: str, timeout: float = 60, poll: float = 0.05
    ) -> None:
        """Poll ``done()`` until it is true; exit the bench if the process dies or time is up."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.process is None or self.process.poll() is not None:
                self.fail(f"{self.name} exited")
            if time.monotonic() > deadline:
                self.fail(f"{what} within {timeout:g} s")
            time.sleep(poll)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def stop(self) -> None:
        self.terminate()
        self.wait_stopped()


class HttpServer(ServerProcess):
    """A web server on 127.0.0.1:``port``, ready once OPTIONS /kakiyo/webhook/ answers 200."""

    def __init__(self, name: str, command: list[str], settings: str, port: int, **kw: Any) -> None:
        super().__init__(name, command, settings, **kw)
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        request = urllib.request.Request(self.base_url + "/kakiyo/webhook/", method="OPTIONS")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:  # refused, reset or timed out while it boots
            return False

    def start(self) -> None:
        super().start()
        self.wait_for(self.ready, f"{self.name} did not answer", poll=0.2)

    def ready(self) -> bool:
        return self.answers()


class Gunicorn(HttpServer):
    """``gunicorn example_project.wsgi`` with ``options``; ready when all its workers are up."""

    def __init__(
        self, name: str, settings: str, options: list[str], port: int | None = None, **kw: Any
    ) -> None:
        port = port or free_port()
        command = [f"{BIN}/gunicorn", "example_project.wsgi:application",
                   "--bind", f"127.0.0.1:{port}", *options]  # fmt: skip
        super().__init__(name, command, settings, port, **kw)
        self.workers = int(options[options.index("--workers") + 1])

    def worker_pids(self) -> list[int]:
        return children(self.pid) if self.process else []

    def ready(self) -> bool:
        return super().ready() and len(self.worker_pids()) == self.workers


class CeleryWorker(ServerProcess):
    """``celery -A example_project worker``, prefork, ``concurrency`` processes."""

    def __init__(self, name: str, settings: str, concurrency: int = 2, **kw: Any) -> None:
        command = [f"{BIN}/celery", "-A", "example_project", "worker",
                   "--pool", "prefork", "-c", str(concurrency),
                   "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "-l", "WARNING"]  # fmt: skip
        super().__init__(name, command, settings, **kw)


class Stack(Managed):
    """gunicorn and one Celery worker with bench.ingest_settings, started and stopped together.

    ``gunicorn_options`` default to :data:`GUNICORN_OPTIONS`; ``env`` is added to both
    processes' environment (e.g. ``KAKIYO_BENCH_KAKIYO``, read by bench/settings.py).
    """

    def __init__(
        self,
        name: str,
        port: int | None = None,
        gunicorn_options: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.gunicorn_options = gunicorn_options or GUNICORN_OPTIONS
        self.gunicorn = Gunicorn(
            f"{name}-gunicorn", INGEST_SETTINGS, self.gunicorn_options, port, env=env
        )
        self.worker = CeleryWorker(f"{name}-worker", INGEST_SETTINGS, WORKER_CONCURRENCY, env=env)
        self.port = self.gunicorn.port
        self.base_url = self.gunicorn.base_url

    def start(self) -> None:
        import redis

        from bench.baseline import COUNTER_KEY, COUNTER_URL, bare_task

        self.worker.start()
        self.gunicorn.start()
        counter = redis.Redis.from_url(COUNTER_URL)
        counter.delete(COUNTER_KEY)
        bare_task.delay(0)
        self.worker.wait_for(lambda: counter.get(COUNTER_KEY), "the worker did not start")
        counter.delete(COUNTER_KEY)

    def roots(self) -> dict[str, int]:
        """The root pid of each process tree, for :class:`~bench.harness.procfs.CpuMeter`."""
        return {"gunicorn": self.gunicorn.pid, "celery": self.worker.pid}

    def memory(self) -> dict[str, dict[int, int]]:
        """VmRSS (KiB) of every process of each tree: ``{"gunicorn": {pid: kib}, ...}``."""
        return tree_memory(self.roots())

    def stop(self) -> None:
        for server in (self.gunicorn, self.worker):
            server.terminate()
        for server in (self.gunicorn, self.worker):
            server.wait_stopped()
