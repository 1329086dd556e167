"""The read-only admin screens, through the test client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.contrib.auth.models import Permission, User
from django.template.loader import get_template
from django.test import Client

from django_kakiyo import admin as kakiyo_admin
from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.testing import post_event

from .factories import stored_event

Event = WebhookEvent

pytestmark = pytest.mark.django_db

EVENTS = "/admin/django_kakiyo/webhookevent/"
REJECTED = "/admin/django_kakiyo/rejectedrequest/"


@pytest.fixture
def event(client: Client) -> WebhookEvent:
    post_event(client, "linkedin.message.received", {"prospectId": "p_admin", "message": "<b>"})
    return WebhookEvent.objects.get()


@pytest.fixture
def rejected(client: Client) -> RejectedRequest:
    client.post(
        "/kakiyo/webhook/",
        data=b"{}",
        content_type="application/json",
        headers={"X-Kakiyo-Signature": "0" * 64, "Authorization": "Bearer hunter2"},
    )
    return RejectedRequest.objects.get()


@pytest.mark.parametrize(
    "query", ["", "?status__exact=received", "?event_type=linkedin.message.received", "?q=p_admin"]
)
def test_event_changelist(admin_client: Client, event: WebhookEvent, query: str) -> None:
    response = admin_client.get(EVENTS + query)
    assert response.status_code == 200
    assert b"p_admin" in response.content


def test_event_search_by_prospect_finds_nothing_for_another(
    admin_client: Client, event: WebhookEvent
) -> None:
    assert b"p_admin" not in admin_client.get(EVENTS + "?q=p_other").content


def test_event_detail_shows_payload_escaped_and_redacted_headers(
    admin_client: Client, event: WebhookEvent
) -> None:
    response = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "&lt;b&gt;" in content and "<b>" not in content.split("payload")[-1][:2000]
    assert "[redacted]" in content
    assert 'name="_save"' not in content  # read-only


def test_events_cannot_be_added(admin_client: Client) -> None:
    assert admin_client.get(EVENTS + "add/").status_code == 403


def test_rejected_changelist_and_detail(admin_client: Client, rejected: RejectedRequest) -> None:
    assert admin_client.get(REJECTED + "?reason__exact=verification_failed").status_code == 200
    detail = admin_client.get(f"{REJECTED}{rejected.pk}/change/")
    assert detail.status_code == 200
    assert b"hunter2" not in detail.content


@pytest.mark.parametrize("staff", [False, True])
def test_users_without_permission_get_nothing(
    client: Client, event: WebhookEvent, staff: bool
) -> None:
    User.objects.create_user("someone", password="pw", is_staff=staff)
    client.login(username="someone", password="pw")
    for url in (EVENTS, f"{EVENTS}{event.pk}/change/", REJECTED):
        response = client.get(url)
        assert response.status_code in (302, 403)
        assert b"p_admin" not in response.content


def test_anonymous_is_sent_to_login(client: Client, event: Any) -> None:
    response = client.get(EVENTS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# -- filters, actions, stats -------------------------------------------------------------------


def test_type_and_team_filters_offer_the_stored_values(admin_client: Client) -> None:
    stored_event("prospect.unqualified", team_id="team_x")
    stored_event("linkedin.message.sent", team_id="team_y")
    content = admin_client.get(EVENTS).content.decode()
    for value in ("prospect.unqualified", "linkedin.message.sent", "team_x", "team_y"):
        assert f"={value}" in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?event_type=prospect.unqualified", {"p_a"}),
        ("?team_id=team_y", {"p_b"}),
        ("?status__exact=failed", {"p_b"}),
        ("?q=p_a", {"p_a"}),
        ("?received_at__gte=2000-01-01+00:00:00%2B00:00", {"p_a", "p_b"}),
        ("?received_at__lt=2000-01-01+00:00:00%2B00:00", set()),
    ],
)
def test_filters_narrow_the_list(admin_client: Client, query: str, expected: set[str]) -> None:
    stored_event("prospect.unqualified", prospect_id="p_a", team_id="team_x")
    stored_event("linkedin.message.sent", prospect_id="p_b", team_id="team_y", status="failed")
    content = admin_client.get(EVENTS + query).content.decode()
    assert {p for p in ("p_a", "p_b") if f">{p}<" in content} == expected


def test_date_hierarchy_drills_down(admin_client: Client) -> None:
    event = stored_event()
    year = event.received_at.year
    response = admin_client.get(f"{EVENTS}?received_at__year={year}")
    assert response.status_code == 200
    assert b">p_1<" in response.content


def test_count_is_capped_on_big_lists(admin_client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(kakiyo_admin, "COUNT_LIMIT", 3)
    for _ in range(5):
        stored_event()
    content = admin_client.get(EVENTS).content.decode()
    assert "3+ webhook events" in content
    assert "SELECT COUNT" not in content


def paginator_html(html: str) -> str:
    """The changelist's paginator element, whitespace collapsed."""
    found = re.search(r'<(nav|p) class="paginator".*?</\1>', html, re.DOTALL)
    assert found is not None, "no paginator on the page"
    return " ".join(found.group(0).split())


def djangos_own_paginator(cl: Any) -> str:
    """What the running Django's stock admin/pagination.html renders for ``cl``."""
    html = get_template("admin/pagination.html").render(admin_list.pagination(cl))
    return paginator_html(html)


@pytest.mark.parametrize("capped", [False, True])
def test_the_paginator_is_djangos_own_markup_but_for_a_capped_count(
    admin_client: Client, monkeypatch: Any, capped: bool
) -> None:
    # Django 6.0 changed it (a <nav> landmark with a list of pages), so the app's override
    # must render whichever markup the running Django does, changing only the count.
    monkeypatch.setattr(admin.site.get_model_admin(Event), "list_per_page", 2)
    monkeypatch.setattr(kakiyo_admin, "COUNT_LIMIT", 3 if capped else 100)
    for _ in range(5):
        stored_event()
    response = admin_client.get(EVENTS, {"p": 2})

    ours, djangos = (
        paginator_html(response.content.decode()),
        djangos_own_paginator(response.context["cl"]),
    )
    if capped:
        djangos = djangos.replace("4 webhook events", "3+ webhook events")
    assert ours == djangos
    assert ('aria-current="page">2<' in ours) or ('class="this-page">2<' in ours)


def test_replay_action_requeues_and_records_history(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    failed = stored_event(status="failed", attempts=5, last_error="boom")
    invalid = stored_event(status="invalid")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            EVENTS,
            {"action": "replay_selected", "_selected_action": [failed.pk, invalid.pk]},
            follow=True,
        )
    assert "1 event replayed. 1 skipped" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Event.Status.PROCESSED  # replayed in-process, receivers ran
    assert failed.attempts == 1
    assert failed.history[0]["action"] == "replay"
    assert failed.history[0]["by"] == "admin:admin"
    assert failed.history[0]["from"] == "failed"
    assert Event.objects.get(pk=invalid.pk).status == Event.Status.INVALID


def test_mark_ignored_action(admin_client: Client) -> None:
    pending = stored_event(status="queued")
    done = stored_event(status="processed")
    admin_client.post(
        EVENTS, {"action": "mark_ignored", "_selected_action": [pending.pk, done.pk]}
    )
    assert Event.objects.get(pk=pending.pk).status == Event.Status.IGNORED
    assert Event.objects.get(pk=pending.pk).history[0]["action"] == "ignore"
    assert Event.objects.get(pk=done.pk).status == Event.Status.PROCESSED


def test_stats_page_draws_the_chart(admin_client: Client) -> None:
    import datetime as dt

    stored_event(status="processed")
    stored_event(status="failed", age=dt.timedelta(hours=3))
    oldest = stored_event(status="queued", age=dt.timedelta(hours=5))
    stored_event(status="processed", age=dt.timedelta(days=3))
    response = admin_client.get(EVENTS + "stats/")
    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('<rect class="bar"') == 3
    assert '<td id="kakiyo-total">3</td>' in content
    assert "50%" in content  # 1 failed / (1 failed + 1 processed)
    assert f"#{oldest.pk}</a>" in content
    week = admin_client.get(EVENTS + "stats/?period=7d").content.decode()
    assert '<td id="kakiyo-total">4</td>' in week


def breadcrumbs_html(html: str) -> str:
    found = re.search(r'<(div|ol) class="breadcrumbs">.*?</\1>', html, re.DOTALL)
    assert found is not None, "no breadcrumbs on the page"
    return " ".join(re.sub(r">\s+<", "><", found.group(0)).split())


def test_stats_breadcrumbs_are_djangos_own_markup(admin_client: Client) -> None:
    # Django 6.1 made them an <ol> (its CSS no longer styles the <div> of 6.0): compare with
    # what the running Django renders for an event's page, one level deeper than the list.
    event = stored_event()
    djangos = breadcrumbs_html(admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode())
    ours = breadcrumbs_html(admin_client.get(EVENTS + "stats/").content.decode())
    assert ours == djangos.replace(str(event), "Statistics")
    assert ours.count("<a href") == 3


def test_stats_is_linked_from_changelist_and_app_index(admin_client: Client) -> None:
    assert b"stats/" in admin_client.get(EVENTS).content
    assert b"webhookevent/stats/" in admin_client.get("/admin/django_kakiyo/").content


@pytest.mark.parametrize("staff", [False, True])
def test_stats_page_needs_permission(client: Client, staff: bool) -> None:
    User.objects.create_user("someone", password="pw", is_staff=staff)
    client.login(username="someone", password="pw")
    assert client.get(EVENTS + "stats/").status_code in (302, 403)


@pytest.mark.parametrize("small_set", [0, 1000])
@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_cheap_datetimes_match_djangos_distinct(
    kind: str, small_set: int, monkeypatch: Any
) -> None:
    from django_kakiyo.models import WebhookEventQuerySet

    monkeypatch.setattr(WebhookEventQuerySet, "small_set", small_set)
    import datetime as dt

    from django.db.models.query import QuerySet as PlainQuerySet

    for days in (0, 1, 3, 40, 45, 400):
        stored_event(age=dt.timedelta(days=days))
    events = Event.objects.all()
    ours = list(events.datetimes("received_at", kind))
    djangos = list(PlainQuerySet.datetimes(events, "received_at", kind))
    assert ours == djangos
    assert list(events.datetimes("received_at", kind, order="DESC")) == djangos[::-1]
    failed = events.filter(status="failed")
    assert list(failed.datetimes("received_at", kind)) == []


def test_search_is_exact_and_case_sensitive(admin_client: Client) -> None:
    stored_event(prospect_id="p_Case", chat_id="chat_7")
    assert b">p_Case<" in admin_client.get(EVENTS + "?q=p_Case").content
    assert b">p_Case<" in admin_client.get(EVENTS + "?q=chat_7").content
    assert b">p_Case<" not in admin_client.get(EVENTS + "?q=p_case").content
    assert b">p_Case<" not in admin_client.get(EVENTS + "?q=p_Ca").content


# -- who may replay and ignore ------------------------------------------------------------------


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.mark.parametrize("action", ["replay_selected", "mark_ignored"])
def test_the_view_permission_alone_cannot_replay_or_ignore(client: Client, action: str) -> None:
    failed = stored_event(status="failed", attempts=5)
    client.force_login(staff_with("view_webhookevent"))
    listing = client.get(EVENTS)
    assert listing.status_code == 200
    assert action not in listing.content.decode()
    client.post(EVENTS, {"action": action, "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.history) == ("failed", [])


def test_the_replay_permission_allows_both_actions(client: Client) -> None:
    queued = stored_event(status="queued")
    client.force_login(staff_with("view_webhookevent", "replay_webhookevent"))
    listing = client.get(EVENTS).content.decode()
    assert "replay_selected" in listing
    assert "mark_ignored" in listing
    client.post(EVENTS, {"action": "mark_ignored", "_selected_action": [queued.pk]})
    assert Event.objects.get(pk=queued.pk).status == Event.Status.IGNORED


@pytest.mark.parametrize("query", ["?team_id=t%00", "?event_type=%00"])
def test_a_nul_in_a_filter_finds_nothing(
    admin_client: Client, event: WebhookEvent, query: str
) -> None:
    response = admin_client.get(EVENTS + query)
    assert response.status_code == 200
    assert b"p_admin" not in response.content


def test_a_nul_in_the_search_is_refused_by_djangos_search_form(
    admin_client: Client, event: WebhookEvent
) -> None:
    response = admin_client.get(EVENTS + "?q=p%00x")
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()


def test_the_detail_shows_each_receivers_outcome(admin_client: Client) -> None:
    from django_kakiyo.models import ReceiverOutcome

    failed = stored_event(status="failed", attempts=3)
    ReceiverOutcome.objects.create(event=failed, receiver="crm.on_reply", status="succeeded")
    ReceiverOutcome.objects.create(
        event=failed, receiver="crm.notify_sales", status="failed", last_error="Timeout()"
    )
    page = admin_client.get(f"{EVENTS}{failed.pk}/change/").content.decode()
    for text in ("crm.on_reply", "succeeded", "crm.notify_sales", "Timeout()"):
        assert text in page


def test_replaying_only_the_failed_receivers_keeps_the_others_outcomes(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from django_kakiyo.models import ReceiverOutcome

    failed = stored_event(status="failed", attempts=5)
    kept = ReceiverOutcome.objects.create(
        event=failed, receiver="example_project.crm.receivers.on_reply", status="succeeded"
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            EVENTS, {"action": "replay_failed_receivers", "_selected_action": [failed.pk]}
        )
    failed.refresh_from_db()
    assert failed.status == Event.Status.PROCESSED
    assert failed.history[-1]["action"] == "replay failed receivers"
    assert ReceiverOutcome.objects.filter(pk=kept.pk).exists()
