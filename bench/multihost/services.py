"""Programs on the hosts of the multi-host run, each started inside its host's namespace.

- :class:`Program`: one long-running program, its output in ``logs/<host>-<name>.log``;
- ``web1``/``web2``: gunicorn serving ``example_project.wsgi`` with the run's settings (each
  host has its own ``SPOOL_DIR``);
- ``worker1``/``worker2``: a Celery worker each; ``worker2`` also runs beat (the sweeper);
- :func:`run_on`, :func:`probe_tcp`: one-off commands and readiness probes on a host.

Every program gets the repo's ``.venv`` Python, ``DJANGO_SETTINGS_MODULE`` and the ``MH_*``
variables ``bench/multihost/settings.py`` reads. Programs are stopped by their own pid; what is
left in a namespace is killed by :meth:`Topology.destroy`. The db and broker hosts are in
``backends.py``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .topology import Topology

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WEB_PORT = 8000
GUNICORN = [
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "4",
    "--timeout",
    "30",
    "--keep-alive",
    "5",
    "--log-level",
    "warning",
]
#: Pool processes per worker host: the receivers wait (20 ms each), so more than the cores.
WORKER_CONCURRENCY = 4
#: Worker hosts run at this niceness: on real hosts they have CPUs of their own, here they
#: share the machine's 2 cores with the web hosts, whose answers must not wait for them.
WORKER_NICE = "10"


class Program:
    """One long-running program on one host; its output goes to ``<logs>/<host>-<name>.log``."""

    def __init__(
        self,
        topo: Topology,
        host: str,
        name: str,
        argv: list[str],
        env: dict[str, str],
        logs: Path,
    ) -> None:
        self.topo, self.host, self.name, self.argv, self.env = topo, host, name, argv, env
        self.log_path = logs / f"{host}-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.topo.exec_prefix(self.host) + self.argv,
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the run only; it stops us in order
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def forget(self) -> None:
        """After a kill -9 of the whole host: reap the process, keep the log."""
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


def flags(**options: object) -> list[str]:
    """``--name value`` for each keyword argument."""
    return [item for name, value in options.items() for item in (f"--{name}", str(value))]


def run_on(topo: Topology, host: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run a command on ``host`` to completion; its output, or SystemExit on failure."""
    result = subprocess.run(
        topo.exec_prefix(host) + argv, capture_output=True, text=True, cwd=REPO, env=env
    )
    if result.returncode != 0:
        raise SystemExit(f"on {host}: {' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return str(result.stdout)


def wait_for(what: str, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.2)


def probe_tcp(topo: Topology, from_host: str, addr: str, port: int, timeout: float) -> None:
    """Wait until ``addr:port`` accepts a connection from ``from_host``."""
    code = (
        "import socket, sys, time\n"
        f"deadline = time.monotonic() + {timeout}\n"
        "while True:\n"
        "    try:\n"
        f"        socket.create_connection(({addr!r}, {port}), timeout=1).close(); break\n"
        "    except OSError:\n"
        "        if time.monotonic() > deadline: sys.exit(f'no answer from {addr}:{port}')\n"
        "        time.sleep(0.2)\n"
    )
    run_on(topo, from_host, [sys.executable, "-c", code])


def web_program(topo: Topology, host: str, env: dict[str, str], logs: Path) -> Program:
    argv = [
        str(BIN / "gunicorn"),
        "example_project.wsgi:application",
        "--bind",
        f"0.0.0.0:{WEB_PORT}",
        *GUNICORN,
    ]
    return Program(topo, host, "gunicorn", argv, env, logs)


def worker_program(topo: Topology, host: str, env: dict[str, str], logs: Path) -> Program:
    argv = [
        "nice",
        "-n",
        WORKER_NICE,
        str(BIN / "celery"),
        "-A",
        "example_project",
        "worker",
        "--pool",
        "prefork",
        "-c",
        str(WORKER_CONCURRENCY),
        "-n",
        f"{host}@multihost",
        "-l",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    return Program(topo, host, "celery", argv, env, logs)


def beat_program(topo: Topology, host: str, env: dict[str, str], root: Path) -> Program:
    argv = [
        str(BIN / "celery"),
        "-A",
        "example_project",
        "beat",
        "-l",
        "INFO",
        "-s",
        str(root / host / "beat-schedule"),
        "--pidfile=",
    ]
    return Program(topo, host, "beat", argv, env, root / "logs")


def worker_log_summary(logs: Path) -> str:
    """What the workers' logs tell, for information only (the verdict never reads logs)."""
    lines = [
        line
        for path in sorted(logs.glob("worker*-celery.log"))
        for line in path.read_text(errors="replace").splitlines()
    ]
    failed = [line for line in lines if "raised unexpected" in line]
    closed = sum("the connection is closed" in line for line in failed)
    # django_kakiyo's own lines (the settings' format, not Celery's "[date: LEVEL/...]")
    ours = [line for line in lines if " django_kakiyo." in line and not line.startswith("[")]
    lost = sum("claim lost" in line for line in ours)
    requeued = [line for line in ours if "Requeued" in line]
    events = sum(int(line.split("Requeued ")[1].split()[0]) for line in requeued)
    return (
        f"worker logs (information): {len(failed)} tasks failed ({closed} on 'the connection "
        f"is closed'), {lost} claims lost and rolled back, {len(requeued)} sweeper passes "
        f"requeued {events} events"
    )


def worker_ready(program: Program, since: int = 0) -> bool:
    """Celery logs ``<name> ready.`` once it consumes; ``since``: log offset to look after."""
    if not program.running():
        raise SystemExit(f"{program.host}'s Celery worker exited; see {program.log_path}")
    with open(program.log_path, "rb") as log:
        log.seek(since)
        return b" ready." in log.read()
