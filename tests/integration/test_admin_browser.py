"""The admin in a real browser: headless Chromium (Debian's), driven by Playwright.

Screenshots of every step are saved in ``tests/artifacts/admin-browser/`` so a failing run can
be looked at.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_kakiyo.models import WebhookEvent

from ..factories import stored_event
from ..services import require

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "admin-browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A page in headless Chromium. Use the ORM outside this block: Playwright's sync API
    runs an event loop in this thread, where Django refuses database calls."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[dev]')")
    require(CHROMIUM is not None, "chromium is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def test_operator_filters_opens_replays_and_reads_stats(live_server: Any) -> None:
    User.objects.create_superuser("operator", "op@example.com", "operator-pw")
    stored_event("linkedin.message.received", status="processed", prospect_id="p_ok")
    failed = stored_event(
        "prospect.unqualified",
        status="failed",
        prospect_id="p_failed",
        attempts=5,
        last_error="RuntimeError('boom')",
        age=dt.timedelta(hours=2),
    )
    with chromium_page() as page:

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_kakiyo/webhookevent/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "operator-pw")
        page.click("input[type=submit]")
        page.wait_for_selector("#result_list")
        shot("1-changelist")

        page.click("#changelist-filter a[href*='status__exact=failed']")
        page.wait_for_url("**status__exact=failed**")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 1
        assert "p_failed" in rows.first.inner_text()
        shot("2-filtered")

        rows.first.locator("th a").click()
        page.wait_for_selector("text=RuntimeError('boom')")
        assert "p_failed" in page.locator(".field-payload_pre pre").inner_text()
        shot("3-detail")

        page.go_back()
        page.check("#result_list tbody tr input.action-select")
        page.select_option("select[name=action]", "replay_selected")
        page.click("button[name=index]")
        message = page.locator("ul.messagelist li").first.inner_text()
        assert "1 event replayed." in message
        shot("4-replayed")

        page.click("a[href$='webhookevent/stats/']")
        page.wait_for_selector("svg.kakiyo-chart")
        assert page.locator("svg.kakiyo-chart rect.bar").count() >= 2
        assert page.locator("#kakiyo-total").inner_text() == "2"
        shot("5-stats")

    failed.refresh_from_db()
    assert failed.status == WebhookEvent.Status.PROCESSED
    assert failed.history[-1]["by"] == "admin:operator"
