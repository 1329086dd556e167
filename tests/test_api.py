"""The DRF events API: filters, cursor pagination, detail, replay, permissions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, modify_settings

from django_kakiyo.models import WebhookEvent

from .factories import stored_event

pytestmark = pytest.mark.django_db

LIST = "/kakiyo/api/events/"


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def events() -> dict[str, WebhookEvent]:
    return {
        "a": stored_event("prospect.unqualified", prospect_id="p_a", team_id="t_1"),
        "b": stored_event(
            "linkedin.message.sent",
            prospect_id="p_b",
            team_id="t_2",
            status="failed",
            campaign_id="c_9",
            chat_id="ch_9",
            age=dt.timedelta(hours=2),
        ),
        "c": stored_event("linkedin.message.sent", prospect_id="p_c", age=dt.timedelta(days=2)),
    }


def test_list_is_newest_first(admin_client: Client, events: dict[str, WebhookEvent]) -> None:
    assert ids(admin_client.get(LIST)) == [events[k].pk for k in "abc"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=linkedin.message.sent", "bc"),
        ("status=failed", "b"),
        ("team=t_2", "b"),
        ("campaign=c_9", "b"),
        ("prospect=p_c", "c"),
        ("chat=ch_9", "b"),
        ("type=linkedin.message.sent&status=processed", ""),
    ],
)
def test_filters(
    admin_client: Client, events: dict[str, WebhookEvent], query: str, expected: str
) -> None:
    assert ids(admin_client.get(f"{LIST}?{query}")) == [events[k].pk for k in expected]


def test_time_range(admin_client: Client, events: dict[str, WebhookEvent]) -> None:
    since = (events["b"].received_at - dt.timedelta(minutes=1)).isoformat()
    until = (events["a"].received_at - dt.timedelta(minutes=1)).isoformat()
    response = admin_client.get(LIST, {"received_after": since, "received_before": until})
    assert ids(response) == [events["b"].pk]


def test_a_time_with_an_offset_postgresql_refuses_still_filters(
    admin_client: Client, events: dict[str, WebhookEvent]
) -> None:
    """-19:21 is a valid offset for Python, not for PostgreSQL (schemathesis found the 500)."""
    response = admin_client.get(LIST, {"received_after": "0245-03-11T13:37:05-19:21"})
    assert ids(response) == [events[k].pk for k in "abc"]


def test_bad_time_is_a_400(admin_client: Client) -> None:
    response = admin_client.get(LIST, {"received_after": "yesterday"})
    assert response.status_code == 400
    assert "received_after" in response.json()


def test_cursor_pagination_walks_every_event_once(admin_client: Client) -> None:
    created = [stored_event(age=dt.timedelta(seconds=i)).pk for i in range(7)]
    seen: list[int] = []
    url: str | None = f"{LIST}?page_size=3"
    while url:
        page = admin_client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == created
    assert "count" not in page


def test_detail_has_headers_traceback_and_history(
    admin_client: Client, events: dict[str, WebhookEvent]
) -> None:
    body = admin_client.get(f"{LIST}{events['b'].pk}/").json()
    assert body["event_type"] == "linkedin.message.sent"
    assert {"headers", "last_traceback", "history", "payload"} <= set(body)
    assert "raw_body" not in body


def test_replay(
    admin_client: Client, events: dict[str, WebhookEvent], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{LIST}{events['b'].pk}/replay/")
    assert response.status_code == 200
    assert response.json()["replayed"] is True
    event = WebhookEvent.objects.get(pk=events["b"].pk)
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.history[-1]["by"] == "api:admin"


def test_replay_of_an_invalid_event_is_a_409(admin_client: Client) -> None:
    invalid = stored_event(status="invalid")
    response = admin_client.post(f"{LIST}{invalid.pk}/replay/")
    assert response.status_code == 409
    assert response.json()["replayed"] is False


def test_anonymous_and_non_staff_get_nothing(
    client: Client, events: dict[str, WebhookEvent]
) -> None:
    detail = f"{LIST}{events['a'].pk}/"
    for url in (LIST, detail):
        assert client.get(url).status_code in (401, 403)
    assert client.post(detail + "replay/").status_code in (401, 403)
    User.objects.create_user("someone", password="pw")
    client.login(username="someone", password="pw")
    for url in (LIST, detail):
        response = client.get(url)
        assert response.status_code == 403
        assert b"p_a" not in response.content


def user_with(*codenames: str, staff: bool = False) -> User:
    user = User.objects.create_user("someone", password="pw", is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


def test_permission_classes_are_a_setting(
    client: Client, settings: Any, events: dict[str, WebhookEvent]
) -> None:
    """API_PERMISSION_CLASSES replaces the staff requirement; the model permission stays."""
    client.force_login(user_with("view_webhookevent"))
    assert client.get(LIST).status_code == 403  # not staff: IsAdminUser refuses
    settings.KAKIYO = {
        **settings.KAKIYO,
        "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }
    assert client.get(LIST).status_code == 200


def test_staff_without_the_view_permission_read_nothing(
    client: Client, events: dict[str, WebhookEvent]
) -> None:
    client.force_login(user_with(staff=True))
    detail = f"{LIST}{events['a'].pk}/"
    for url in (LIST, detail):
        response = client.get(url)
        assert response.status_code == 403
        assert b"p_a" not in response.content
    assert client.post(detail + "replay/").status_code == 403


def test_the_view_permission_reads_but_does_not_replay(
    client: Client, events: dict[str, WebhookEvent]
) -> None:
    client.force_login(user_with("view_webhookevent", staff=True))
    detail = f"{LIST}{events['b'].pk}/"
    assert client.get(LIST).status_code == 200
    assert client.get(detail).status_code == 200
    assert client.post(detail + "replay/").status_code == 403
    assert WebhookEvent.objects.get(pk=events["b"].pk).status == "failed"


def test_the_replay_permission_replays(
    client: Client, events: dict[str, WebhookEvent], django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(user_with("view_webhookevent", "replay_webhookevent", staff=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{LIST}{events['b'].pk}/replay/")
    assert response.status_code == 200
    assert response.json()["replayed"] is True


@pytest.mark.parametrize("parameter", ["type", "status", "team", "prospect", "agent"])
def test_a_nul_in_a_filter_is_a_400(admin_client: Client, parameter: str) -> None:
    response = admin_client.get(LIST, {parameter: "x\x00y"})
    assert response.status_code == 400
    assert parameter in response.json()


def test_a_browser_gets_json_when_rest_framework_is_not_installed(
    admin_client: Client, events: dict[str, WebhookEvent]
) -> None:
    with modify_settings(INSTALLED_APPS={"remove": ["rest_framework"]}):
        response = admin_client.get(LIST, headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert len(response.json()["results"]) == 3


def test_a_browser_gets_the_browsable_api_when_it_is_installed(
    admin_client: Client, events: dict[str, WebhookEvent]
) -> None:
    response = admin_client.get(LIST, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5", "\uff11"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(
    admin_client: Client, value: str
) -> None:
    response = admin_client.get(LIST, {"page_size": value})
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_a_large_page_size_is_capped(admin_client: Client) -> None:
    for i in range(3):
        stored_event(age=dt.timedelta(seconds=i))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django_kakiyo.events_api.NewestFirst.max_page_size", 2)
        assert len(ids(admin_client.get(LIST, {"page_size": "1000"}))) == 2


def test_an_unknown_status_is_a_400(admin_client: Client) -> None:
    response = admin_client.get(LIST, {"status": "done"})
    assert response.status_code == 400
    assert "processed" in response.json()["status"]


def test_an_empty_filter_filters_nothing(
    admin_client: Client, events: dict[str, WebhookEvent]
) -> None:
    query = {name: "" for name in ("type", "status", "team", "received_after", "page_size")}
    assert ids(admin_client.get(LIST, query)) == [events[k].pk for k in "abc"]


def test_replay_can_run_only_the_failed_receivers(
    admin_client: Client, events: dict[str, WebhookEvent], django_capture_on_commit_callbacks: Any
) -> None:
    from django_kakiyo.models import ReceiverOutcome

    failed = events["b"]
    ReceiverOutcome.objects.create(event=failed, receiver="x.done", status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{LIST}{failed.pk}/replay/?only_failed=true")
    assert response.json()["replayed"] is True
    assert response.json()["event"]["history"][-1]["action"] == "replay failed receivers"
    assert ReceiverOutcome.objects.filter(event=failed, receiver="x.done").exists()


@pytest.mark.parametrize(
    ("query", "body", "content_type"),
    [
        ("?only_failed=maybe", None, None),
        ("?only_failed=TRUE", None, None),
        ("", '{"only_failed": "yes"}', "application/json"),
        ("", '{"only_failed": null}', "application/json"),
        ("", "[true]", "application/json"),
    ],
)
def test_an_unclear_only_failed_is_a_400_not_a_full_replay(
    admin_client: Client,
    events: dict[str, WebhookEvent],
    query: str,
    body: str | None,
    content_type: str | None,
) -> None:
    url = f"{LIST}{events['b'].pk}/replay/{query}"
    response = (
        admin_client.post(url, body, content_type=content_type) if body else admin_client.post(url)
    )
    assert response.status_code == 400
    assert WebhookEvent.objects.get(pk=events["b"].pk).status == "failed"  # not replayed


@pytest.mark.parametrize(
    ("query", "data", "action"),
    [
        ("?only_failed=yes", None, "replay failed receivers"),
        ("?only_failed=", None, "replay"),
        ("", {"only_failed": True}, "replay failed receivers"),
        ("", {"only_failed": False}, "replay"),
    ],
)
def test_only_failed_from_the_query_or_a_json_body(
    admin_client: Client,
    events: dict[str, WebhookEvent],
    query: str,
    data: dict[str, bool] | None,
    action: str,
) -> None:
    url = f"{LIST}{events['b'].pk}/replay/{query}"
    response = admin_client.post(url, data, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["event"]["history"][-1]["action"] == action


def test_only_failed_from_a_form(admin_client: Client, events: dict[str, WebhookEvent]) -> None:
    response = admin_client.post(f"{LIST}{events['b'].pk}/replay/", {"only_failed": "true"})
    assert response.status_code == 200
    assert response.json()["event"]["history"][-1]["action"] == "replay failed receivers"
