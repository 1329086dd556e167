"""Shared fixtures: the test vectors, and signed posts through the test client."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

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
