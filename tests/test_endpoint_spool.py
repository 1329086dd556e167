"""A delivery to an endpoint spooled while the database could not store it: imported with its
endpoint, or unattached when the endpoint was deleted meanwhile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_kakiyo import views
from django_kakiyo.endpoint_operations import create_endpoint, delete_endpoint
from django_kakiyo.exceptions import DatabaseUnavailable
from django_kakiyo.models import WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.spool import SUFFIX, import_spool
from django_kakiyo.testing import make_payload

pytestmark = pytest.mark.django_db(transaction=True)


def spooled_delivery(client: Client, settings: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "spool")}
    endpoint, secret = create_endpoint("crm")
    assert secret is not None
    ingest = views.ingest

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("stuck")

    monkeypatch.setattr(views, "ingest", unavailable)
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": "p_1"})).encode()
    response = client.post(
        reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid]), data=body,
        content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, secret)},
    )  # fmt: skip
    assert response.status_code == 202
    monkeypatch.setattr(views, "ingest", ingest)
    [file] = (tmp_path / "spool").glob(f"*{SUFFIX}")
    assert secret not in file.read_text()
    return endpoint


def test_a_spooled_delivery_keeps_its_endpoint(
    client: Client, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    endpoint = spooled_delivery(client, settings, tmp_path, monkeypatch)
    assert import_spool().imported == 1
    assert WebhookEvent.objects.get().endpoint == endpoint


def test_an_endpoint_deleted_meanwhile_leaves_the_event_unattached(
    client: Client, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    endpoint = spooled_delivery(client, settings, tmp_path, monkeypatch)
    delete_endpoint(endpoint)
    assert import_spool().imported == 1
    assert WebhookEvent.objects.get().endpoint is None
