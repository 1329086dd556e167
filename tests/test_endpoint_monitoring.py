"""Per-endpoint counts: the ``endpoint`` label of ``metrics/`` and the stats page's table."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_kakiyo.endpoint_operations import create_endpoint
from django_kakiyo.models import WebhookEndpoint
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

TOKEN = "monitoring-token-0123456789abcdef"


def deliver(client: Client, url: str, secret: str | None, n: int) -> int:
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": f"p_{n}"})).encode()
    headers = {"X-Kakiyo-Signature": compute_signature(body, secret)} if secret else {}
    response = client.post(url, data=body, content_type="application/json", headers=headers)
    return int(response.status_code)


def url_of(endpoint: WebhookEndpoint) -> str:
    return reverse("kakiyo-endpoint-webhook", args=[endpoint.uuid])


@pytest.fixture
def traffic(client: Client) -> None:
    """Two accepted at "crm", one refused there, one accepted at the settings URL, one 404."""
    crm, secret = create_endpoint("crm")
    assert secret is not None
    assert deliver(client, url_of(crm), secret, 1) == 200
    assert deliver(client, url_of(crm), secret, 2) == 200
    assert deliver(client, url_of(crm), SECRET, 3) == 401
    assert deliver(client, reverse("kakiyo-webhook"), SECRET, 4) == 200
    unknown = reverse("kakiyo-endpoint-webhook", args=[uuid.uuid4()])
    assert deliver(client, unknown, SECRET, 5) == 404


def test_metrics_count_answers_by_endpoint(traffic: None, client: Client, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "MONITORING_TOKEN": TOKEN}
    response = client.get(reverse("kakiyo-metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    found = dict(
        line.rsplit(" ", 1) for line in response.content.decode().splitlines()
        if line.startswith("kakiyo_deliveries_total")
    )  # fmt: skip
    label = 'kakiyo_deliveries_total{endpoint="%s",outcome="%s",reason="%s"}'
    assert float(found[label % ("crm", "accepted", "")]) == 2
    assert float(found[label % ("crm", "rejected", "verification_failed")]) == 1
    assert float(found[label % ("", "accepted", "")]) == 1
    # An unknown URL is no endpoint: no label a prober could multiply.
    assert float(found[label % ("", "rejected", "unknown_endpoint")]) == 1
    assert not any(re.search(r'endpoint="[0-9a-f-]{36}"', key) for key in found)


def test_the_stats_page_has_a_row_per_endpoint(traffic: None, admin_client: Client) -> None:
    page = admin_client.get("/admin/django_kakiyo/webhookevent/stats/").content.decode()
    table = page[page.index('id="kakiyo-by-endpoint"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert rows == [
        ("<em>settings URL (webhook/), or no known endpoint</em>", "1", "0", "1"),
        ("crm", "2", "0", "1"),
    ]


def test_no_endpoint_table_while_only_the_settings_url_answers(
    client: Client, admin_client: Client
) -> None:
    assert deliver(client, reverse("kakiyo-webhook"), SECRET, 1) == 200
    page = admin_client.get("/admin/django_kakiyo/webhookevent/stats/").content.decode()
    assert "kakiyo-by-endpoint" not in page
