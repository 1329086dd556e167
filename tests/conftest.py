"""Shared fixtures: the test vectors, and signed posts through the test client."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from django_kakiyo.models import WebhookEvent
from django_kakiyo.signing import compute_signature

# The fixture users enable the same way (tests/test_testing_helpers.py uses it).
pytest_plugins = ["django_kakiyo.pytest_plugin"]

VECTORS_PATH = Path(__file__).parent / "data" / "kakiyo-signatures.jsonl"
#: The secret tests/settings.py configures (and most vectors use).
SECRET = "whsec_kakiyo_test_5f3c9a1b2d4e6f708192a3b4c5d6e7f8"


def load_vectors() -> list[dict[str, Any]]:
    with VECTORS_PATH.open(encoding="utf-8") as lines:
        vectors = [json.loads(line) for line in lines if line.strip()]
    for vector in vectors:
        vector["body_bytes"] = base64.b64decode(vector["body_b64"])
    return vectors


VECTORS = load_vectors()


@pytest.fixture
def webhook_url() -> str:
    return reverse("kakiyo-webhook")


@pytest.fixture
def post_body(client: Any, webhook_url: str) -> Any:
    """POST raw bytes to the webhook, signed with ``secret`` unless a signature is given."""

    def post(
        body: bytes,
        *,
        secret: str = SECRET,
        signature: str | None = "sign",
        content_type: str = "application/json",
        **headers: str,
    ) -> Any:
        if signature == "sign":
            signature = compute_signature(body, secret)
        if signature is not None:
            headers["X-Kakiyo-Signature"] = signature
        return client.post(webhook_url, data=body, content_type=content_type, headers=headers)

    return post


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# -- receivers and stored events for processing tests -----------------------------------------


class Recorder:
    """A receiver that records its calls and raises while ``failures`` is positive."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failures = failures
        # Django's send_robust logs failures by the receiver's __qualname__.
        self.__qualname__ = f"Recorder(failures={failures})"

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("receiver exploded")


@pytest.fixture
def connect() -> Iterator[Any]:
    connected: list[tuple[Signal, Recorder]] = []

    def attach(signal: Signal, failures: int = 0) -> Recorder:
        recorder = Recorder(failures)
        signal.connect(recorder, weak=False)
        connected.append((signal, recorder))
        return recorder

    yield attach
    for signal, recorder in connected:
        signal.disconnect(recorder)


def make_event(event_type: str = "linkedin.message.received", **data: Any) -> WebhookEvent:
    now = timezone.now()
    payload = {"event": event_type, "data": {"prospectId": "p_1", "message": "hi", **data}}
    return WebhookEvent.objects.create(
        event_type=event_type,
        payload=payload,
        raw_body=b"{}",
        dedup_key=f"{event_type}-{WebhookEvent.objects.count()}-{now.timestamp()}",
        next_attempt_at=now,
        prospect_id="p_1",
    )


def make_due(event: WebhookEvent) -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())


@pytest.fixture(autouse=True)
def _forget_unwritten_monitoring() -> Iterator[None]:
    """What a process keeps in memory while the database is away must not leak between tests."""
    from django_kakiyo import at_risk, tallies

    tallies.pending.take()
    at_risk._unwritten.take()
    at_risk._clearing = at_risk._Clearing()
    yield
    tallies.pending.take()
    at_risk._unwritten.take()
    _end_background_threads()


def _end_background_threads() -> None:
    """No thread of this process outlives the test that started it: on the in-memory SQLite
    test database (shared cache: one writer at a time, no busy wait) a sweep, a retry timer or
    a count written by one test's thread fails the next test's write with "table is locked"."""
    from django_kakiyo.dispatch import processing_thread
    from django_kakiyo.publishing import background_publisher
    from django_kakiyo.tally_writer import tally_writer

    for thread in (processing_thread, background_publisher):
        assert thread.stop(30), f"the {thread.name} thread did not end"
    # Nothing is kept any more: it writes nothing, and ends.
    assert tally_writer.finish(30), "the tally writer did not end"
