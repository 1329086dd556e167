"""Creating an endpoint in the admin in a real browser: its secret shown once, and working.

Headless Chromium through Playwright, like :mod:`.test_admin_browser`; screenshots go to
``tests/artifacts/admin-browser/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_kakiyo.models import WebhookEndpoint, WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.testing import make_payload

from .test_admin_browser import ARTIFACTS, chromium_page

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def deliver(url: str, secret: str, n: int) -> int:
    """POST a delivery signed like Kakiyo, over real HTTP, and return the status."""
    body = json.dumps(make_payload("prospect.qualified", {"prospectId": f"p_{n}"})).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "X-Kakiyo-Signature": compute_signature(body, secret),
    })  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_operator_creates_an_endpoint_and_sees_its_secret_once(live_server: Any) -> None:
    User.objects.create_superuser("operator", "op@example.com", "operator-pw")
    with chromium_page() as page:

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"endpoint-{name}.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_kakiyo/webhookendpoint/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "operator-pw")
        page.click("input[type=submit]")
        page.wait_for_selector("#result_list, #changelist")
        # The add button, wherever the Django version puts it (6.1 moved the object tools).
        page.locator('a.addlink[href$="/django_kakiyo/webhookendpoint/add/"]').first.click()
        page.fill("#id_name", "crm team A")
        page.fill("#id_team_id", "team_test")
        assert page.locator("#id_secret").get_attribute("type") == "password"
        shot("1-add")
        page.click("input[name=_save]")
        page.wait_for_selector("#kakiyo-new-secrets")
        secret = page.locator("code.kakiyo-secret").inner_text()
        url = page.locator("#kakiyo-new-secrets code").first.inner_text()
        shot("2-secret-once")
        assert len(secret) == 64

        page.click("text=Done")
        page.wait_for_selector("#result_list")
        seen = [page.content()]
        page.click("#result_list a:has-text('crm team A')")
        page.wait_for_selector(".field-secret_state")
        assert "not shown again" in page.locator(".field-secret_state").inner_text()
        seen.append(page.content())
        shot("3-change")
        page.go_back()
        page.reload()
        seen.append(page.content())
    assert all(secret not in html for html in seen)
    assert url.startswith(live_server.url + "/kakiyo/webhook/")
    assert deliver(url, secret, 1) == 200
    endpoint = WebhookEndpoint.objects.get()
    assert WebhookEvent.objects.get().endpoint == endpoint
    assert endpoint.team_id == "team_test"
