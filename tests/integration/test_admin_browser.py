"""The admin in a real browser: headless Chromium (Debian's), driven by Playwright, at
1,280 px wide (a laptop), in the light and the dark theme.

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
from django.utils import timezone

from django_kakiyo.models import DeliveryRisk, WebhookEvent
from django_kakiyo.tallies import Counts, write

from ..factories import stored_event
from ..services import require

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "admin-browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1280
#: Kakiyo's ids as long as they come (UUIDs): the list must still fit.
LONG = "8f14e45f-ceea-467f-a0e6-b2c4d5e6f708"


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
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        yield page
        browser.close()


def test_operator_filters_opens_replays_and_reads_stats(live_server: Any) -> None:
    User.objects.create_superuser("operator", "op@example.com", "operator-pw")
    stored_event("linkedin.message.received", status="processed", prospect_id="p_ok",
                 team_id=f"team_{LONG}", campaign_id=f"campaign_{LONG}")  # fmt: skip
    failed = stored_event(
        "prospect.unqualified",
        status="failed",
        prospect_id=f"p_failed_{LONG}",
        team_id=f"team_{LONG}",
        campaign_id=f"campaign_{LONG}",
        attempts=5,
        last_error="RuntimeError('boom')",
        age=dt.timedelta(hours=2),
    )
    for event in WebhookEvent.objects.all():  # what the webhook and the worker would count
        write(Counts().answer(event.received_at, "accepted", event_type=event.event_type))
    with chromium_page() as page:

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_kakiyo/webhookevent/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "operator-pw")
        page.click("input[type=submit]")
        page.wait_for_selector("#result_list")
        shot("1-changelist")

        assert_fits(page)
        badges = page.locator("#result_list .kakiyo-badge")
        assert badges.count() == 2
        assert badges.first.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"

        page.click("#changelist-filter a[href*='status__exact=failed']")
        page.wait_for_url("**status__exact=failed**")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 1
        # Long ids are shortened in the list, whole on hover.
        assert rows.first.locator(f"[title='p_failed_{LONG}']").count() == 1
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


def assert_fits(page: Any) -> None:
    """No column of the list is clipped: the results box needs no sideways scroll (Django
    clips it there), the last column ends inside it, and the page is no wider than the
    window."""
    box = page.locator("#changelist .results")
    scroll, client = box.evaluate("r => [r.scrollWidth, r.clientWidth]")
    edge = box.evaluate("r => r.getBoundingClientRect().right")
    last = page.locator("#result_list thead th").last.evaluate(
        "c => c.getBoundingClientRect().right"
    )
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= client and last <= edge + 1 and page_width <= WIDTH, (
        scroll, client, last, edge, page_width,
    )  # fmt: skip


def test_on_call_sees_badges_and_the_at_risk_banner_in_both_themes(live_server: Any) -> None:
    User.objects.create_superuser("oncall", "oc@example.com", "oncall-pw")
    for status in ("received", "queued", "processing", "processed", "failed", "ignored",
                   "invalid"):  # fmt: skip
        stored_event("linkedin.message.sent", status=status, prospect_id=f"p_{LONG}",
                     team_id=f"team_{LONG}", campaign_id=f"campaign_{LONG}")  # fmt: skip
    now = timezone.now()
    DeliveryRisk.objects.create(kind="signatures", consecutive=3, since=now, last_at=now)
    for hours in range(0, 30 * 24, 5):  # a month of answers, for the 30-day page
        at = now - dt.timedelta(hours=hours)
        counts = Counts().answer(at, "accepted", event_type="linkedin.message.sent",
                                 amount=20 + hours % 7)  # fmt: skip
        counts.answer(at, "rejected", reason="verification_failed", amount=hours % 3)
        counts.outcome(at, "linkedin.message.sent", "processed", amount=20)
        write(counts)
    with chromium_page() as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/django_kakiyo/webhookevent/")
        page.fill("#id_username", "oncall")
        page.fill("#id_password", "oncall-pw")
        page.click("input[type=submit]")
        page.wait_for_selector("#result_list")
        banner = page.locator("#kakiyo-risk-signatures")
        assert "3 deliveries in a row were refused for their signature" in banner.inner_text()
        assert page.locator("#result_list .kakiyo-badge").count() == 7
        assert_fits(page)
        page.screenshot(path=str(ARTIFACTS / "6-badges-and-banner-light.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        page.wait_for_selector("#kakiyo-risk-signatures")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background != "rgb(255, 255, 255)"  # the dark theme is on
        assert_fits(page)
        page.screenshot(path=str(ARTIFACTS / "7-badges-and-banner-dark.png"), full_page=True)
        page.goto(f"{live_server.url}/admin/django_kakiyo/webhookevent/stats/?period=30d")
        page.wait_for_selector("#kakiyo-risk-signatures")
        page.screenshot(path=str(ARTIFACTS / "8-stats-30d-dark.png"), full_page=True)
