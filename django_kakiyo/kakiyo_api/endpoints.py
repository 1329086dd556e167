"""The Kakiyo REST API's endpoints this client calls, and what each answers.

Every path lives here, in one place: the documented ones, and the three the public reference
does not show (listing, updating and deleting a webhook), which follow the REST pattern of the
documented ``POST /webhooks`` and may change without notice; adjust them here if Kakiyo's
differ.
"""

from __future__ import annotations

from typing import Any, TypedDict

#: Relative to ``KAKIYO['API_BASE_URL']``.

VERIFY_PATH = "/verify"
CREATE_WEBHOOK_PATH = "/webhooks"
TEST_WEBHOOK_PATH = "/webhooks/test"
EXAMPLE_PAYLOAD_PATH = "/webhooks/test/example/{event}"
EVENT_TYPES_PATH = "/webhooks/test/events"
#: Not in Kakiyo's public API reference: these follow the REST pattern of the documented
#: ``POST /webhooks`` and may change without notice. Adjust them here if Kakiyo's differ.
LIST_WEBHOOKS_PATH = "/webhooks"  # GET
WEBHOOK_PATH = "/webhooks/{id}"  # PUT (update), DELETE
#: The fields ``kakiyo_endpoints sync`` sends in a ``PUT`` (those ``POST /webhooks`` takes,
#: plus ``active``, which the list shows): also an assumption about the undocumented path.
WEBHOOK_UPDATE_FIELDS = ("url", "events", "secret", "active")


# -- What the endpoints answer -----------------------------------------------------------------
# TypedDicts rather than dataclasses: the parsed JSON is returned as-is, so fields Kakiyo adds
# later are kept, and the result can be dumped back to JSON. Only the outer shape (object or
# list) is checked at runtime.


class VerifyResult(TypedDict):
    """``GET /verify``: e.g. ``{"status": "success", "message": "API key is valid"}``."""

    status: str
    message: str


class Webhook(TypedDict):
    """A registered webhook. ``events`` may be ``["*"]`` (every event)."""

    id: str
    name: str
    url: str
    events: list[str]
    active: bool


class CreatedWebhook(Webhook, total=False):
    """``POST /webhooks`` answers the webhook plus a human-readable ``message``."""

    message: str


class EventTypeInfo(TypedDict):
    """One entry of ``GET /webhooks/test/events``."""

    id: str
    name: str
    description: str
    category: str


JSONObject = dict[str, Any]
