"""The webhook under the servers users run, with the embedded default (no broker): the answer
never waits for receivers, and the receivers still run, after it.

Each test starts a real server process (runserver, gunicorn sync and gthread, uWSGI, uvicorn)
on a SQLite file with a receiver that sleeps 3 s and reports to Redis. Runs once, in the
SQLite pass: the servers bring their own database.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from django_kakiyo.testing import make_payload, sign_payload

from ..conftest import SECRET
from ..services import port_open, require
from .conftest import RECORD_DB, REPO, SHARED_REDIS, free_port, wait_for

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def command(server: str, port: int) -> list[str]:
    address = f"127.0.0.1:{port}"
    wsgi = "example_project.wsgi:application"
    return {
        "runserver": [sys.executable, "manage.py", "runserver", "--noreload", address],
        "gunicorn-sync": [str(BIN / "gunicorn"), wsgi, "-b", address, "-w", "2", "-k", "sync"],
        "gunicorn-gthread": [
            str(BIN / "gunicorn"), wsgi, "-b", address, "-w", "2", "-k", "gthread",
            "--threads", "4",
        ],
        "uwsgi": [
            str(BIN / "uwsgi"), "--http-socket", address, "--module", wsgi, "--master",
            "--processes", "2", "--threads", "2", "--enable-threads", "--die-on-term",
            "--need-app", "--disable-logging",
        ],
        "uvicorn": [
            str(BIN / "uvicorn"), "example_project.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning",
        ],
    }[server]  # fmt: skip


class Site:
    """One server process on its own SQLite file, with the reporting receivers."""

    def __init__(self, server: str, directory: Path, record_url: str) -> None:
        self.database = directory / "db.sqlite3"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.served_settings",
            "KAKIYO_SERVED_DATABASE_URL": f"sqlite:///{self.database}",
            "KAKIYO_TEST_RECORD_URL": record_url,
            "PYTHONPATH": str(REPO),
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO,
                       env=self.env, check=True, capture_output=True, timeout=120)  # fmt: skip
        self.log_path = directory / f"{server}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command(server, self.port),
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._up, 60, f"{server} to listen (log: {self.log_path})")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"the server exited:\n{self.log_path.read_text()}")
        return port_open("127.0.0.1", self.port)

    def post(self, body: bytes, *, chunked: bool = False) -> tuple[int, dict[str, Any], float]:
        headers = {
            "Content-Type": "application/json",
            "X-Kakiyo-Signature": sign_payload_signature(body),
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        started = time.monotonic()
        if chunked:
            conn.request("POST", "/kakiyo/webhook/", body=iter([body[:10], body[10:]]),
                         headers=headers, encode_chunked=True)  # fmt: skip
        else:
            conn.request("POST", "/kakiyo/webhook/", body=body, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
        elapsed = time.monotonic() - started
        conn.close()
        return response.status, answer, elapsed

    def status(self, event_id: int) -> str | None:
        # closing(): sqlite3's own context manager commits but leaves the connection open.
        with closing(sqlite3.connect(self.database)) as db:
            row = db.execute(
                "SELECT status FROM django_kakiyo_webhookevent WHERE id = ?", [event_id]
            ).fetchone()
        return row[0] if row else None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(10)
        self.log.close()


def sign_payload_signature(body: bytes) -> str:
    from django_kakiyo.signing import compute_signature

    return compute_signature(body, SECRET)


@pytest.fixture
def site(request: pytest.FixtureRequest, records: redis.Redis, tmp_path: Path) -> Iterator[Site]:
    if connection.vendor != "sqlite":
        pytest.skip("runs once, in the SQLite pass: the servers bring their own database")
    server = request.param
    executable = command(server, 0)[0]
    require(Path(executable).exists() or shutil.which(executable) is not None,
            f"{executable} is not installed (pip install -e '.[test]')")  # fmt: skip
    record_url = f"redis://{SHARED_REDIS[0]}:{SHARED_REDIS[1]}/{RECORD_DB}"
    running = Site(server, tmp_path, record_url)
    yield running
    running.stop()


SERVERS = ["runserver", "gunicorn-sync", "gunicorn-gthread", "uwsgi", "uvicorn"]


@pytest.mark.parametrize("site", SERVERS, indirect=True)
def test_the_answer_never_waits_for_a_slow_receiver(site: Site, records: redis.Redis) -> None:
    """Causal, not timed: each answer must come back while the first delivery's 6-second
    receiver is still running (it records ``done`` when it ends)."""

    def first_receiver_done() -> bool:
        done = [json.loads(call) for call in records.lrange("done", 0, -1)]
        return any(call["event"] == answer["id"] and call["signal"] == "typed" for call in done)

    body, _ = sign_payload(
        make_payload("linkedin.message.received", {"prospectId": "p_slow", "sleep": 6}),
        SECRET,
    )
    status, answer, elapsed = site.post(body)
    assert status == 200, answer
    assert not first_receiver_done(), f"answered after {elapsed:.2f}s, after the receiver ended"
    # The next delivery, while the first one's receiver still runs, does not wait either
    # (on SQLite, a transaction holding the write lock through receivers would make it).
    time.sleep(0.5)
    second, _ = sign_payload(make_payload("linkedin.message.sent", {"prospectId": "p_2"}), SECRET)
    status, _, elapsed = site.post(second)
    assert status == 200
    assert not first_receiver_done(), (
        f"the next delivery was answered after {elapsed:.2f}s, after the first one's receiver"
    )

    def processed() -> bool:
        calls = [json.loads(call) for call in records.lrange("calls", 0, -1)]
        ran = {call["signal"] for call in calls if call["event"] == answer["id"]}
        return ran == {"typed", "event_received"} and site.status(answer["id"]) == "processed"

    wait_for(processed, 30, f"the receivers to run after the answer (log: {site.log_path})")


@pytest.mark.parametrize("site", ["gunicorn-gthread"], indirect=True)
def test_a_chunked_delivery_is_read_whole(site: Site) -> None:
    body, _ = sign_payload(make_payload("linkedin.message.sent", {"prospectId": "p"}), SECRET)
    status, answer, _ = site.post(body, chunked=True)
    assert (status, answer["duplicate"]) == (200, False)
    with closing(sqlite3.connect(site.database)) as db:
        (raw,) = db.execute(
            "SELECT raw_body FROM django_kakiyo_webhookevent WHERE id = ?", [answer["id"]]
        ).fetchone()
    assert bytes(raw) == body
