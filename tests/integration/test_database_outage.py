"""A database outage, for real: the example project on a PostgreSQL server this test starts,
stops and starts again, with deliveries arriving throughout.

Runs once, in the first (SQLite) pass of bin/run-tests: it brings its own database server.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload, sample_data, sign_payload

from ..services import port_open, require
from .conftest import REPO, free_port, wait_for

pytestmark = pytest.mark.integration

SECRET = "outage-secret-0123456789abcdef"
TOKEN = "outage-monitoring-token-0123456789"


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) on a free port, as the ``postgres`` user."""

    def __init__(self) -> None:
        initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
        require(bool(initdb[-1]), "PostgreSQL server binaries (initdb) are not installed")
        self.bin = Path(str(initdb[-1])).parent
        self.root = Path(tempfile.mkdtemp(prefix="kakiyo-pg-"))
        self.port = free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            require(shutil.which("runuser") is not None, "runuser is needed to run initdb")
            shutil.chown(self.root, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/kakiyo"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-o", options,
                  "-l", str(self.root / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def sql(self, statement: str, database: str = "kakiyo") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{database}", autocommit=True
        ) as conn:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    if connection.vendor != "sqlite":
        pytest.skip("runs once, in the SQLite pass: it brings its own PostgreSQL server")
    server = PrivatePostgres()
    server.start()
    server.sql("CREATE DATABASE kakiyo", database="postgres")
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):
        server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def start_site(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Any]:
    """The example project (runserver, in-process processing) on the private database."""
    servers: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(spool_dir: str) -> str:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DATABASE_URL": postgres.url,
            "KAKIYO_WEBHOOK_SECRETS": SECRET,
            "KAKIYO_SPOOL_DIR": spool_dir,
            "KAKIYO_MONITORING_TOKEN": TOKEN,
        }
        env.pop("CELERY_BROKER_URL", None)
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        port = free_port()
        log = (tmp_path / f"runserver-{port}.log").open("wb")
        logs.append(log)
        servers.append(
            subprocess.Popen(
                [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for(lambda: port_open("127.0.0.1", port), 30, "runserver to listen")
        return f"http://127.0.0.1:{port}/kakiyo/webhook/"

    yield start
    for server in servers:
        server.terminate()
        server.wait(10)
    for log in logs:
        log.close()


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Kakiyo-Signature": compute_signature(body, SECRET),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def bodies(start: int, count: int) -> list[bytes]:
    return [
        sign_payload(make_payload("linkedin.message.received", sample_data("x", index)), SECRET)[0]
        for index in range(start, start + count)
    ]


def test_outage_is_spooled_acknowledged_and_imported_exactly_once(
    postgres: PrivatePostgres, start_site: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    url = start_site(str(spool))
    before, during, after = bodies(0, 5), bodies(100, 10), bodies(200, 1)

    assert [post(url, body)[0] for body in before] == [200] * 5
    # Without a broker, receivers run in the web process's thread after the answer: let
    # them finish, so the outage interrupts deliveries, not their processing (claims a dead
    # database interrupts are the sweeper's, after PROCESSING_TIMEOUT).
    wait_for(lambda: postgres.sql("SELECT count(*) FROM crm_timelineentry") == [(5,)], 30,
             "the first deliveries to be processed")  # fmt: skip
    postgres.stop()
    answers = [post(url, body) for body in [*during, during[0]]]  # one Kakiyo retry too
    assert [status for status, _ in answers] == [202] * 11
    assert {answer["status"] for _, answer in answers} == {"spooled"}
    assert len(list(spool.glob("*.delivery.json"))) == 10  # the retried copy makes no file

    postgres.start()
    assert post(url, after[0])[0] == 200  # the next success imports the spool

    def settled() -> bool:
        rows = postgres.sql("SELECT count(*), count(*) FILTER (WHERE status = 'processed') "
                            "FROM django_kakiyo_webhookevent")  # fmt: skip
        return rows[0] == (16, 16) and not list(spool.glob("*.delivery.json"))

    wait_for(settled, 30, "the spool to be imported and processed")
    counts = postgres.sql(
        "SELECT delivery_count, count(*) FROM django_kakiyo_webhookevent GROUP BY 1 ORDER BY 1"
    )
    assert counts == [(1, 16)]  # the retried copy, spooled once, is not stored twice
    timeline = postgres.sql("SELECT count(*) FROM crm_timelineentry")
    assert timeline == [(16,)]  # every receiver ran once per event


def test_without_a_spool_an_outage_is_a_503_kakiyo_retries(
    postgres: PrivatePostgres, start_site: Any
) -> None:
    url = start_site("")
    postgres.stop()
    status, answer = post(url, bodies(0, 1)[0])
    assert (status, answer["error"]) == (503, "unavailable")
    postgres.start()
    assert post(url, bodies(0, 1)[0])[0] == 200


def health(url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url.replace("/webhook/", "/health/"), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_is_failing_with_a_503_while_the_database_is_down(
    postgres: PrivatePostgres, start_site: Any, tmp_path: Path
) -> None:
    url = start_site(str(tmp_path / "spool"))
    status, body = health(url)
    assert (status, body["status"], body["database"], body["broker"]) == (200, "ok", "ok", "none")
    postgres.stop()
    assert post(url, bodies(0, 1)[0])[0] == 202  # spooled
    status, body = health(url)
    assert (status, body["status"], body["database"]) == (503, "failing", "down")
    assert body["spooled"] == 1 and body["backlog"] is None
    assert "the database is unavailable" in body["reasons"]
    postgres.start()
    wait_for(lambda: health(url)[0] == 200, 30, "health to recover")
