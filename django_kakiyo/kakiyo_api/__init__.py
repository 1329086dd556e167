"""The Kakiyo REST API, from Django: check the key, register, test and inspect webhooks.

::

    from django_kakiyo.kakiyo_api import KakiyoClient

    with KakiyoClient() as kakiyo:  # KAKIYO['API_KEY'], ['API_BASE_URL'], ['API_TIMEOUT']
        kakiyo.verify()

``client`` is the client and its retry policy, ``endpoints`` every path it calls and what each
answers, ``failures`` how a failed call is worded. ``django_kakiyo.client`` is the same, under
its earlier name.
"""

from __future__ import annotations

from .client import (
    DEFAULT_BACKOFF,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRY_WAIT,
    RETRY_STATUSES,
    KakiyoClient,
    parse_retry_after,
)
from .endpoints import (
    CREATE_WEBHOOK_PATH,
    EVENT_TYPES_PATH,
    EXAMPLE_PAYLOAD_PATH,
    LIST_WEBHOOKS_PATH,
    TEST_WEBHOOK_PATH,
    VERIFY_PATH,
    WEBHOOK_PATH,
    CreatedWebhook,
    EventTypeInfo,
    JSONObject,
    VerifyResult,
    Webhook,
)

__all__ = [
    "CREATE_WEBHOOK_PATH",
    "DEFAULT_BACKOFF",
    "DEFAULT_BACKOFF_MAX",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "EVENT_TYPES_PATH",
    "EXAMPLE_PAYLOAD_PATH",
    "LIST_WEBHOOKS_PATH",
    "RETRY_STATUSES",
    "TEST_WEBHOOK_PATH",
    "VERIFY_PATH",
    "WEBHOOK_PATH",
    "CreatedWebhook",
    "EventTypeInfo",
    "JSONObject",
    "KakiyoClient",
    "VerifyResult",
    "Webhook",
    "parse_retry_after",
]
