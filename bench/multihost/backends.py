"""The db and broker hosts of the multi-host run: PostgreSQL, and Redis or RabbitMQ.

- ``db``: a PostgreSQL 15 cluster made for the run with ``initdb`` (run as the ``postgres``
  user) in the run's temporary directory, listening on 10.77.1.2:5432 in its namespace, its
  Unix socket in that directory too (never the system's ``/var/run/postgresql``), with
  ``track_commit_timestamp`` on so the check can order commits; ``pg_ctl`` starts and stops it;
- ``broker``: ``redis-server``, or RabbitMQ with its own node name (``kmh@localhost``), data
  and log folders, Erlang cookie (``HOME``), epmd port 4370 and AMQP port 5673, so nothing is
  shared with a RabbitMQ of the machine's own.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from .services import BIN, Program, probe_tcp, run_on
from .topology import Topology, address

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
RABBIT_PORT = 5673


class Postgres:
    """The db host's cluster, made with initdb and run with pg_ctl as ``postgres``."""

    def __init__(self, topo: Topology, root: Path) -> None:
        self.topo = topo
        self.dir = root / "db"
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.log = root / "logs" / "db-postgres.log"

    def as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv]

    def init(self) -> None:
        self.socket_dir.mkdir(parents=True)
        subprocess.run(["chown", "-R", "postgres:", str(self.dir)], check=True)
        run_on(
            self.topo,
            "db",
            self.as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ),
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "listen_addresses = '*'\nport = 5432\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "track_commit_timestamp = on\nmax_connections = 200\n"
                "shared_buffers = 256MB\n"
            )
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.77.0.0/16 trust\n")
        self.log.touch()
        subprocess.run(["chown", "postgres:", str(self.log)], check=True)

    def start(self) -> None:
        run_on(
            self.topo,
            "db",
            self.as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ),
        )

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            run_on(
                self.topo,
                "db",
                self.as_postgres(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    mode,
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ),
            )

    def psql(self, sql: str, database: str = "postgres") -> str:
        return run_on(
            self.topo,
            "db",
            self.as_postgres(
                str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-d", database, "-XAtqc", sql
            ),
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@{address('db')}:5432/kakiyo"

    @property
    def local_dsn(self) -> str:
        """For programs on the db host itself (the check): the Unix socket."""
        return f"host={self.socket_dir} dbname=kakiyo user=postgres"


def broker_program(topo: Topology, kind: str, root: Path, env: dict[str, str]) -> Program:
    logs = root / "logs"
    if kind == "redis":
        argv = [
            "redis-server",
            "--bind",
            "0.0.0.0",  # noqa: S104 - its own namespace: only the run's hosts reach it
            "--port",
            "6379",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root / "broker"),
        ]
        (root / "broker").mkdir(exist_ok=True)
        return Program(topo, "broker", "redis", argv, env, logs)
    home = root / "broker"
    home.mkdir(exist_ok=True)
    (home / "rabbitmq.conf").write_text(
        "loopback_users = none\n"
        f"listeners.tcp.default = {RABBIT_PORT}\n"
        "distribution.listener.port_range.min = 25673\n"
        "distribution.listener.port_range.max = 25673\n"
    )
    (home / "enabled_plugins").write_text("[].\n")
    return Program(
        topo,
        "broker",
        "rabbitmq",
        [str(RABBIT_BIN / "rabbitmq-server")],
        {**env, **rabbit_env(home)},
        logs,
    )


def rabbit_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),  # its own Erlang cookie, not the system's
        "RABBITMQ_NODENAME": "kmh@localhost",
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(home / "rabbit.pid"),
        "ERL_EPMD_PORT": "4370",
    }


def broker_url(kind: str) -> str:
    if kind == "redis":
        return f"redis://{address('broker')}:6379/0"
    return f"amqp://guest:guest@{address('broker')}:{RABBIT_PORT}//"


def wait_broker(topo: Topology, kind: str, root: Path, env: dict[str, str]) -> None:
    if kind == "redis":
        probe_tcp(topo, "worker1", address("broker"), 6379, 30)
        return
    # await_startup fails at once while the node has not registered with epmd yet: retry.
    argv = [str(RABBIT_BIN / "rabbitmqctl"), "-q", "await_startup", "--timeout", "60"]
    deadline = time.monotonic() + 60
    while True:
        try:
            run_on(topo, "broker", argv, env={**env, **rabbit_env(root / "broker")})
            return
        except SystemExit:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def missing_tools(broker: str) -> list[str]:
    """What this machine lacks for a run with ``broker``: Debian's packages by name."""
    needs = {
        "iproute2 (ip, tc)": shutil.which("ip") and shutil.which("tc"),
        "postgresql-15": (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists(),
        "a postgres user": subprocess.run(["id", "postgres"], capture_output=True).returncode == 0,
        "runuser (util-linux)": shutil.which("runuser"),
        "redis-server": broker != "redis" or shutil.which("redis-server"),
        "rabbitmq-server": broker != "rabbitmq" or (RABBIT_BIN / "rabbitmq-server").exists(),
        "gunicorn and celery in .venv (bin/setup-venv)": (BIN / "gunicorn").exists()
        and (BIN / "celery").exists(),
    }
    return [name for name, present in needs.items() if not present]
