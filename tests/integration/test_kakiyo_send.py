"""``manage.py kakiyo_send`` against a real HTTP server."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_kakiyo.models import WebhookEvent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_sends_distinct_signed_events(live_server: Any) -> None:
    out = StringIO()
    call_command(
        "kakiyo_send",
        "linkedin.message.received",
        url=f"{live_server.url}/kakiyo/webhook/",
        count=5,
        stdout=out,
    )
    assert "status 200: 5" in out.getvalue()
    assert WebhookEvent.objects.filter(event_type="linkedin.message.received").count() == 5
    assert WebhookEvent.objects.values("prospect_id").distinct().count() == 5


def test_custom_data_and_single_answer(live_server: Any) -> None:
    out = StringIO()
    call_command(
        "kakiyo_send",
        "prospect.unqualified",
        url=f"{live_server.url}/kakiyo/webhook/",
        data='{"prospectId": "p_custom"}',
        stdout=out,
    )
    assert out.getvalue().startswith("200 ")
    assert WebhookEvent.objects.get().prospect_id == "p_custom"


def test_wrong_secret_is_reported(live_server: Any) -> None:
    with pytest.raises(CommandError, match="not acknowledged"):
        call_command(
            "kakiyo_send",
            url=f"{live_server.url}/kakiyo/webhook/",
            secret="not-the-configured-secret",
            stdout=StringIO(),
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "file:///etc/passwd"}, "http"),
        ({"data": "[1]"}, "JSON object"),
        ({"data": "{nope"}, "readable JSON"),
        ({"count": 0}, "at least 1"),
    ],
)
def test_bad_options_are_command_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("kakiyo_send", stdout=StringIO(), **options)
