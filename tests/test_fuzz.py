"""Property-based fuzzing of the webhook view: any request gets a clear answer, never a 500.

The default run tries ``KAKIYO_FUZZ_EXAMPLES`` (200) requests per property; a long run is::

    KAKIYO_FUZZ_EXAMPLES=20000 bin/run-tests tests/test_fuzz.py
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_kakiyo.endpoint_operations import create_endpoint
from django_kakiyo.models import WebhookEndpoint, WebhookEvent
from django_kakiyo.signing import compute_signature, verify_signature
from django_kakiyo.testing import make_payload, sign_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("KAKIYO_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 200,  # the default run is reproducible; long runs explore
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
event_types = st.sampled_from(["linkedin.message.received", "prospect.unqualified", "", "x"])


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["signed_payload", "json", "binary", "mutated", "text"]))
    if kind == "binary":
        return bytes(draw(st.binary(max_size=600)))
    if kind == "text":
        return str(draw(st.text(max_size=300))).encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    data = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
    body, _ = sign_payload(make_payload(draw(event_types), data), SECRET)
    if kind == "mutated" and body:
        index = draw(st.integers(0, len(body) - 1))
        body = body[:index] + bytes([draw(st.integers(0, 255))]) + body[index + 1 :]
    return body


@st.composite
def signatures(draw: Any, body: bytes) -> str | None:
    right = compute_signature(body, SECRET)
    return draw(
        st.sampled_from([None, right, right.upper(), f" sha256={right} ", right[:-1]])
        | st.text(max_size=80)
        | st.just(compute_signature(body, "another-secret-0123456789"))
    )


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
) | st.text(max_size=30).filter(lambda value: "\n" not in value and "\r" not in value)

ANSWERS = {200, 401, 405, 413, 415}


@FUZZ
@given(
    method=st.sampled_from(["POST"] * 6 + ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    body=bodies(),
    content_type=CONTENT_TYPES,
    data=st.data(),
    forwarded=st.none() | st.text(max_size=40).filter(lambda v: "\n" not in v and "\r" not in v),
)
def test_any_request_gets_a_clear_answer_and_only_authentic_ones_are_stored(
    method: str,
    body: bytes,
    content_type: str,
    data: Any,
    forwarded: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    signature = data.draw(signatures(body))
    headers = {"X-Kakiyo-Signature": signature} if signature is not None else {}
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    before = WebhookEvent.objects.count()
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        response = Client().generic(
            method, "/kakiyo/webhook/", data=body, content_type=content_type, headers=headers,
            **extra,
        )  # fmt: skip

    assert response.status_code in ANSWERS
    authentic = verify_signature(body, signature, [SECRET]) is not None
    stored = WebhookEvent.objects.count() - before
    if method == "POST" and authentic:
        assert response.status_code == 200
        assert response.json()["duplicate"] or stored == 1
    else:
        assert stored == 0
        assert response.status_code != 200 or method in ("HEAD", "OPTIONS")
    assert not [record for record in caplog.records if record.exc_info], "an exception was logged"


@FUZZ
@given(body=bodies())
def test_an_authentic_delivery_is_always_acknowledged(body: bytes) -> None:
    response = Client().post(
        "/kakiyo/webhook/",
        data=body,
        content_type="application/json",
        headers={"X-Kakiyo-Signature": compute_signature(body, SECRET)},
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert bytes(event.raw_body) == body or response.json()["duplicate"]


ENDPOINT_SECRET = "fuzzed-endpoint-secret-0123456789"


@FUZZ
@given(body=bodies(), content_type=CONTENT_TYPES, data=st.data())
def test_an_endpoint_url_stores_only_what_its_own_secret_signed(
    body: bytes, content_type: str, data: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """At ``webhook/<uuid>/`` only the endpoint's secret verifies: never the settings'."""
    endpoint = WebhookEndpoint.objects.filter(name="fuzz").first()
    if endpoint is None:
        endpoint, _ = create_endpoint("fuzz", secret=ENDPOINT_SECRET)
    secret = data.draw(st.sampled_from([ENDPOINT_SECRET, SECRET, "another-secret-0123456789"]))
    signature = data.draw(
        st.sampled_from([compute_signature(body, secret), None]) | st.text(max_size=70)
    )
    headers = {"X-Kakiyo-Signature": signature} if signature is not None else {}
    before = WebhookEvent.objects.count()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        response = Client().post(
            f"/kakiyo/webhook/{endpoint.uuid}/", data=body, content_type=content_type,
            headers=headers,
        )  # fmt: skip
    assert response.status_code in ANSWERS
    authentic = verify_signature(body, signature, [ENDPOINT_SECRET]) is not None
    stored = WebhookEvent.objects.count() - before
    if authentic:
        assert response.status_code == 200
        assert response.json()["duplicate"] or stored == 1
    else:
        assert stored == 0 and response.status_code != 200
    assert not [record for record in caplog.records if record.exc_info], "an exception was logged"
