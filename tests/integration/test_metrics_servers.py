"""metrics/ under the servers users run: gunicorn with 3 workers and a Celery worker, on the
test database. Every scrape, whichever gunicorn worker answers it, gives the same exact totals
for the whole deployment, the Celery worker's processing included."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_kakiyo.models import WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload, sign_payload

from ..conftest import SECRET
from ..services import port_open
from .conftest import RECORD_DB, REPO, SHARED_REDIS, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-test-token-0123456789abcdef"
BIN = Path(sys.executable).parent


class Gunicorn:
    """gunicorn, 3 sync workers, on the test database, logging each request's worker pid."""

    def __init__(self, broker_url: str, log: Path) -> None:
        database = connection.settings_dict
        self.port = free_port()
        self.log = log
        self.output = log.open("wb")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.served_monitoring_settings",
            "PYTHONPATH": str(REPO),
            "CELERY_BROKER_URL": broker_url,
            "KAKIYO_MONITORING_TOKEN": TOKEN,
            "KAKIYO_TEST_RECORD_URL": f"redis://{SHARED_REDIS[0]}:{SHARED_REDIS[1]}/{RECORD_DB}",
            "KAKIYO_WORKER_DATABASE_URL": (
                f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}"
                f":{database['PORT'] or 5432}/{database['NAME']}"
            ),
        }
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "example_project.wsgi:application",
             "-b", f"127.0.0.1:{self.port}", "-w", "3", "-k", "sync",
             "--access-logfile", "-", "--access-logformat", "pid=%(p)s %(r)s %(s)s"],
            cwd=REPO, env=env, stdout=self.output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: port_open("127.0.0.1", self.port), 60, f"gunicorn (log: {log})")

    def request(self, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        content = response.read()
        conn.close()
        return response.status, content

    def scrape_pids(self) -> set[str]:
        text = self.log.read_text(errors="replace")
        return set(re.findall(r"pid=<(\d+)> GET /kakiyo/metrics/", text)) | set(
            re.findall(r"pid=(\d+) GET /kakiyo/metrics/", text)
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(20)
        self.output.close()


@pytest.fixture
def gunicorn(shared_broker: str, start_worker: Any, tmp_path: Path) -> Iterator[Gunicorn]:
    start_worker(shared_broker)
    server = Gunicorn(shared_broker, tmp_path / "gunicorn.log")
    yield server
    server.stop()


def parse(text: bytes) -> dict[str, float]:
    values = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_every_process_scrapes_the_same_exact_totals(gunicorn: Gunicorn) -> None:
    def post(body: bytes, signature: str) -> int:
        status, _ = gunicorn.request("POST", "/kakiyo/webhook/", body, **{
            "Content-Type": "application/json", "X-Kakiyo-Signature": signature})  # fmt: skip
        return int(status)

    bodies = []
    for n in range(8):  # two of them fail once in the worker, then succeed
        data = {"prospectId": f"p_{n}", **({"fail_times": 1} if n < 2 else {})}
        body, _ = sign_payload(make_payload("linkedin.message.received", data), SECRET)
        bodies.append(body)
        assert post(body, compute_signature(body, SECRET)) == 200
    for body in bodies[:2]:  # Kakiyo's retries: duplicates
        assert post(body, compute_signature(body, SECRET)) == 200
    for _ in range(3):  # a wrong secret (well-formed signatures): refused
        assert post(bodies[7], "ab" * 32) == 401
    wait_for(lambda: WebhookEvent.objects.filter(status="processed").count() == 8, 60,
             "the Celery worker to process every event")  # fmt: skip

    def scrape() -> dict[str, float]:
        status, content = gunicorn.request("GET", "/kakiyo/metrics/",
                                           Authorization=f"Bearer {TOKEN}")  # fmt: skip
        assert status == 200, content
        return parse(content)

    # Each gunicorn worker writes its good answers' counts within a second of them.
    wait_for(lambda: scrape().get("kakiyo_request_duration_seconds_count") == 13, 30,
             "every answer's counts to be written")  # fmt: skip
    scrapes: list[dict[str, float]] = []
    for _ in range(60):  # until each of the 3 gunicorn workers has answered some
        status, content = gunicorn.request("GET", "/kakiyo/metrics/",
                                           Authorization=f"Bearer {TOKEN}")  # fmt: skip
        assert status == 200, content
        scrapes.append(parse(content))
        if len(scrapes) >= 6 and len(gunicorn.scrape_pids()) == 3:
            break
    assert len(gunicorn.scrape_pids()) == 3, gunicorn.log.read_text()
    first = scrapes[0]
    assert all(scrape == first for scrape in scrapes), "two scrapes disagree"
    deliveries = 'kakiyo_deliveries_total{endpoint="",outcome="%s",reason="%s"}'
    assert first[deliveries % ("accepted", "")] == 8
    assert first[deliveries % ("duplicate", "")] == 2
    assert first[deliveries % ("rejected", "verification_failed")] == 3
    processed = 'kakiyo_events_processed_total{event_type="linkedin.message.received",status="%s"}'
    assert first[processed % "processed"] == 8  # counted by the Celery worker's processes
    assert first[processed % "retried"] == 2
    assert first["kakiyo_request_duration_seconds_count"] == 13
    assert first["kakiyo_processing_lag_seconds_count"] == 8
    assert first["kakiyo_backlog_events"] == 0
    status, content = gunicorn.request("GET", "/kakiyo/health/", Authorization=f"Bearer {TOKEN}")
    assert status == 200 and b'"broker": "ok"' in content
