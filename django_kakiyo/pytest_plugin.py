"""A pytest fixture for projects that test their Kakiyo receivers with pytest-django.

Enable it in your ``conftest.py``::

    pytest_plugins = ["django_kakiyo.pytest_plugin"]

then::

    def test_reply_updates_the_crm(kakiyo_post):
        response = kakiyo_post("linkedin.message.received", {"prospectId": "p_1"})
        assert response.status_code == 200
        assert Prospect.objects.get(kakiyo_id="p_1").stage == "replied"  # receivers ran
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .testing import post_event

#: The secret the fixture configures when the project's settings have none.
TEST_SECRET = "django-kakiyo-test-secret-0123456789"  # noqa: S105 - for tests only


@pytest.fixture
def kakiyo_post(client: Any, settings: Any, db: None) -> Callable[..., Any]:
    """POST signed Kakiyo deliveries to the webhook with Django's test client.

    ``kakiyo_post(event_type, data=None, process=True, **envelope)`` signs with the first
    configured secret, or configures :data:`TEST_SECRET` when ``KAKIYO['WEBHOOK_SECRETS']`` is
    empty, and (unless ``process=False``) runs the event's receivers before returning, in the
    test's thread and transaction, so a test can assert on what they did.
    """
    kakiyo = dict(getattr(settings, "KAKIYO", {}) or {})
    if not kakiyo.get("WEBHOOK_SECRETS"):
        settings.KAKIYO = {**kakiyo, "WEBHOOK_SECRETS": [TEST_SECRET]}

    def post(
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        process: bool = True,
        **envelope: Any,
    ) -> Any:
        return post_event(client, event_type, data, process=process, **envelope)

    return post
