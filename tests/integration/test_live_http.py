"""Deliveries over a real HTTP server (``live_server``), signed the way Node signs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from django_kakiyo.models import WebhookEvent

from ..conftest import SECRET, VECTORS, on_postgresql
from ..services import require

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NODE_SIGNER = """
const crypto = require("crypto");
const payload = {
  event: "linkedin.message.received",
  teamId: "team_live",
  timestamp: new Date().toISOString(),
  data: {prospectId: "p_live", chatId: "chat_1", message: "Hi \\u2028 \\ud83d\\ude00 1e21:",
         n: 1e21, f: 0.1, z: -0},
};
const body = JSON.stringify(payload);
const signature = crypto.createHmac("sha256", process.argv[1]).update(body).digest("hex");
process.stdout.write(JSON.stringify({body, signature}));
"""


def post(url: str, body: bytes, signature: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Kakiyo-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_node_signed_delivery_over_http_is_stored(live_server: Any) -> None:
    node = shutil.which("node")
    require(node is not None, "node is not on PATH: cannot sign with Node's own crypto")
    assert node is not None
    out = subprocess.run(
        [node, "-e", NODE_SIGNER, SECRET], capture_output=True, check=True, timeout=30
    )
    signed = json.loads(out.stdout)
    # Node's string is what went over the wire, as UTF-8.
    body = signed["body"].encode("utf-8")

    status, answer = post(f"{live_server.url}/kakiyo/webhook/", body, signed["signature"])

    assert (status, answer["duplicate"]) == (200, False)
    event = WebhookEvent.objects.get(pk=answer["id"])
    assert bytes(event.raw_body) == body
    assert (event.event_type, event.prospect_id) == ("linkedin.message.received", "p_live")


def test_vector_delivery_over_http_is_stored(live_server: Any) -> None:
    vector = next(v for v in VECTORS if v["name"] == "seed_example")
    status, answer = post(
        f"{live_server.url}/kakiyo/webhook/", vector["body_bytes"], vector["signature"]
    )
    assert status == 200
    assert WebhookEvent.objects.get(pk=answer["id"]).prospect_id == "prospect_98765"


@pytest.mark.postgres
def test_fifty_concurrent_copies_make_one_row(live_server: Any) -> None:
    if not on_postgresql():
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    vector = next(v for v in VECTORS if v["name"] == "seed_example")
    url = f"{live_server.url}/kakiyo/webhook/"
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(
            pool.map(lambda _: post(url, vector["body_bytes"], vector["signature"]), range(50))
        )

    assert [status for status, _ in results] == [200] * 50
    assert sum(1 for _, answer in results if not answer["duplicate"]) == 1
    assert len({answer["id"] for _, answer in results}) == 1
    event = WebhookEvent.objects.get()
    assert event.delivery_count == 50


@pytest.mark.postgres
def test_a_thousand_concurrent_distinct_deliveries_are_each_stored_and_processed_once(
    live_server: Any,
) -> None:
    if not on_postgresql():
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    from django_kakiyo.testing import make_payload, sample_data, sign_payload
    from example_project.crm.models import TimelineEntry

    url = f"{live_server.url}/kakiyo/webhook/"
    deliveries = [
        sign_payload(make_payload("linkedin.message.received", sample_data("x", n)), SECRET)
        for n in range(1000)
    ]
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda d: post(url, d[0], d[1]["X-Kakiyo-Signature"]), deliveries))

    assert [status for status, _ in results] == [200] * 1000
    assert not any(answer["duplicate"] for _, answer in results)
    assert WebhookEvent.objects.count() == 1000
    # In-process mode: each event was processed after its commit, its receivers run once.
    assert WebhookEvent.objects.filter(status="processed", attempts=1).count() == 1000
    assert TimelineEntry.objects.count() == 1000
