"""The at-risk alert: answers Kakiyo counts as failed deliveries, and runs of refused
signatures, tracked across processes in the database (in memory while it is down)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from django_kakiyo import at_risk, signals, views
from django_kakiyo.at_risk import Answer, current_risks, record_answer
from django_kakiyo.exceptions import DatabaseUnavailable
from django_kakiyo.models import DeliveryRisk
from django_kakiyo.tallies import totals
from django_kakiyo.testing import make_payload, sign_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts() -> Iterator[list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    signals.webhook_at_risk.connect(receiver, weak=False)
    yield sent
    signals.webhook_at_risk.disconnect(receiver)


def post_event(client: Any, url: str, n: int = 0, **headers: str) -> Any:
    body, signed = sign_payload(make_payload("linkedin.message.sent", {"prospectId": f"p{n}"}),
                                SECRET)  # fmt: skip
    return client.post(url, data=body, content_type="application/json",
                       headers={**signed, **headers})  # fmt: skip


def refused_signature(client: Any, url: str) -> Any:
    return client.post(url, data=b'{"event":"x.y"}', content_type="application/json",
                       headers={"X-Kakiyo-Signature": "ab" * 32})  # fmt: skip


def outcomes() -> dict[str, float]:
    return {
        labels["outcome"]: value for labels, value in totals(["deliveries"]).get("deliveries", [])
    }


def test_503s_alert_at_once_while_the_database_is_down(
    client: Any, webhook_url: str, alerts: list[dict[str, Any]], monkeypatch: Any,
    settings: Any, caplog: Any,
) -> None:  # fmt: skip
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": None}

    def down(*args: Any, **kwargs: Any) -> None:
        raise DatabaseUnavailable("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(views, "ingest", down)
        with caplog.at_level(logging.WARNING, logger="django_kakiyo.at_risk"):
            assert post_event(client, webhook_url, 1).status_code == 503
            assert post_event(client, webhook_url, 2).status_code == 503
    assert [(a["reason"], a["consecutive"], a["status"]) for a in alerts] == [
        ("unavailable", 1, 503), ("unavailable", 2, 503)
    ]  # fmt: skip
    assert "Kakiyo webhook at risk (unavailable): 2 answer(s) in a row" in caplog.text
    assert outcomes() == {}  # kept in this process's memory: the database was down
    assert post_event(client, webhook_url, 3).status_code == 200  # back: written, then cleared
    assert outcomes() == {"unavailable": 2.0, "accepted": 1.0}
    row = DeliveryRisk.objects.get(kind="answers")
    assert row.consecutive == 2 and not row.active
    assert current_risks() == []


def test_a_run_of_refused_signatures_alerts_and_a_good_answer_ends_it(
    client: Any, webhook_url: str, alerts: list[dict[str, Any]]
) -> None:
    for _ in range(2):
        assert refused_signature(client, webhook_url).status_code == 401
    assert alerts == []
    client.post(webhook_url, data=b"{}", content_type="application/json")  # no signature
    assert alerts == []  # a request without a well-formed signature is not counted
    refused_signature(client, webhook_url)
    assert [(a["reason"], a["consecutive"]) for a in alerts] == [("signatures", 3)]
    (risk,) = current_risks()
    assert (risk.kind, risk.consecutive) == ("signatures", 3)
    assert post_event(client, webhook_url).status_code == 200
    assert current_risks() == []
    refused_signature(client, webhook_url)
    refused_signature(client, webhook_url)
    assert len(alerts) == 1  # counted again from 1 after the good answer
    assert DeliveryRisk.objects.get(kind="signatures").consecutive == 2


def test_an_answer_over_ten_seconds_is_a_failed_delivery(
    client: Any, webhook_url: str, alerts: list[dict[str, Any]], monkeypatch: Any
) -> None:
    clock = itertools.count(start=100, step=11)  # every reading 11 s after the previous

    class SlowTime:
        @staticmethod
        def monotonic() -> float:
            return float(next(clock))

        thread_time = staticmethod(lambda: 0.0)

    monkeypatch.setattr(views, "time", SlowTime)
    assert post_event(client, webhook_url).status_code == 200
    assert [(a["reason"], a["status"], a["seconds"]) for a in alerts] == [("slow", 200, 11.0)]
    assert [risk.kind for risk in current_risks()] == ["answers"]
    found = totals(["request_seconds"])["request_seconds"]
    assert found == [({"le": "+Inf"}, 1.0)]


def test_an_exception_is_a_server_error(
    client: Any, webhook_url: str, alerts: list[dict[str, Any]], monkeypatch: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(views, "ingest", broken)
    with pytest.raises(RuntimeError):
        post_event(client, webhook_url)
    assert [(a["reason"], a["status"]) for a in alerts] == [("server_error", 500)]
    assert outcomes() == {"error": 1.0}


def test_every_outcome_is_counted_once(client: Any, webhook_url: str) -> None:
    body, headers = sign_payload(make_payload("linkedin.message.sent", {}), SECRET)
    for _ in range(2):
        client.post(webhook_url, data=body, content_type="application/json", headers=headers)
    body, headers = sign_payload({"not": "an event"}, SECRET)
    client.post(webhook_url, data=body, content_type="application/json", headers=headers)
    refused_signature(client, webhook_url)
    assert outcomes() == {"accepted": 1.0, "duplicate": 1.0, "invalid": 1.0, "rejected": 1.0}
    rejected = [labels for labels, _ in totals(["deliveries"])["deliveries"]
                if labels["outcome"] == "rejected"]  # fmt: skip
    assert rejected == [{"outcome": "rejected", "reason": "verification_failed"}]


def test_record_answer_never_raises(monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        from django.db import OperationalError

        raise OperationalError("gone")

    monkeypatch.setattr(at_risk, "write", broken)
    record_answer(Answer(200, "accepted"))
    assert at_risk.pending.take()  # kept for the next write
