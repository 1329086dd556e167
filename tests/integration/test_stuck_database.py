"""A stuck database is an outage: with the events table locked by another session, deliveries
are answered inside Kakiyo's timeout (spooled, 202) and stored once the lock goes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from django_kakiyo.models import WebhookEvent
from django_kakiyo.spool import import_spool
from django_kakiyo.testing import make_payload, sample_data, sign_payload

from ..conftest import SECRET, on_postgresql
from .test_live_http import post

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def lock_events_table(seconds: float, locked: threading.Event) -> None:
    """Hold an exclusive lock on the events table from another session for ``seconds``."""
    params = connection.get_connection_params()
    with psycopg.connect(**params) as session:  # type: ignore[arg-type]
        session.execute("LOCK TABLE django_kakiyo_webhookevent IN ACCESS EXCLUSIVE MODE")
        locked.set()
        time.sleep(seconds)
        session.rollback()


def deliveries(count: int) -> list[tuple[bytes, str]]:
    signed = [
        sign_payload(make_payload("linkedin.message.received", sample_data("x", n)), SECRET)
        for n in range(count)
    ]
    return [(body, headers["X-Kakiyo-Signature"]) for body, headers in signed]


@pytest.fixture
def on_postgres() -> None:
    if not on_postgresql():
        pytest.skip("a table lock from another session: runs in the PostgreSQL pass")


def test_a_locked_table_is_spooled_inside_kakiyos_timeout_then_stored(
    on_postgres: None, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "spool")}
    url = f"{live_server.url}/kakiyo/webhook/"
    locked = threading.Event()
    holder = threading.Thread(target=lock_events_table, args=(15, locked))
    holder.start()
    assert locked.wait(10)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda d: post(url, *d), deliveries(4)))
    elapsed = time.monotonic() - started

    assert [status for status, _ in answers] == [202] * 4
    assert elapsed < 8, f"answered after {elapsed:.1f}s"
    assert holder.is_alive()  # the lock was still held: they did not wait for it
    holder.join()

    result = import_spool()
    assert (result.imported, result.failed) == (4, 0)
    assert WebhookEvent.objects.count() == 4


def test_without_a_spool_a_locked_table_is_a_quick_503(
    on_postgres: None, live_server: Any, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "STORE_TIMEOUT": 1}
    url = f"{live_server.url}/kakiyo/webhook/"
    locked = threading.Event()
    holder = threading.Thread(target=lock_events_table, args=(6, locked))
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    status, answer = post(url, *deliveries(1)[0])
    elapsed = time.monotonic() - started
    holder.join()
    assert (status, answer["error"]) == (503, "unavailable")
    assert elapsed < 5
