"""Both payload shapes Kakiyo documents, for every known event type, through HTTP: the flat
ids of the help centre and the nested objects of the API reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from django_kakiyo import signals
from django_kakiyo.event_data import (
    AgentData,
    CampaignData,
    EventData,
    MessageData,
    QualificationData,
)
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_events
from django_kakiyo.samples import SHAPES, make_payload, sample_data
from django_kakiyo.signals import EVENT_TYPES
from django_kakiyo.testing import post_event

pytestmark = pytest.mark.django_db

CASES = [(name, shape) for name in EVENT_TYPES for shape in SHAPES]


@pytest.fixture
def received() -> Iterator[list[tuple[str, EventData]]]:
    """What receivers connected to ``"*"`` are sent, as ``(event_type, data)``."""
    calls: list[tuple[str, EventData]] = []

    def record(sender: Any, event: WebhookEvent, data: EventData, **kwargs: Any) -> None:
        calls.append((event.event_type, data))

    signals.connect("*", record, weak=False)
    yield calls
    signals.event_received.disconnect(record)


def deliver(client: Client, event_type: str, shape: str) -> WebhookEvent:
    data = sample_data(event_type, 7, shape)  # type: ignore[arg-type]
    response = post_event(client, event_type, data, team_id="team_abc", shape=shape)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "received"
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    process_events([event.pk])
    return event


@pytest.mark.parametrize(("event_type", "shape"), CASES)
def test_every_known_type_in_both_shapes_is_stored_with_its_ids(
    client: Client, received: list[tuple[str, EventData]], event_type: str, shape: str
) -> None:
    event = deliver(client, event_type, shape)
    data_class = EVENT_TYPES[event_type].data_class
    assert event.team_id == "team_abc"
    ((sent_type, data),) = received
    assert sent_type == event_type
    assert type(data) is data_class
    if data_class is AgentData:
        assert event.agent_id == data.agent_id != ""
        assert data.agent.id == event.agent_id
        assert data.status == "paused"
        return
    assert event.campaign_id == data.campaign_id != ""
    assert data.campaign.id == event.campaign_id
    if data_class is CampaignData:
        if shape == "nested":
            assert data.campaign.name == "Enterprise Outreach Q4"
            assert data.campaign.stats.response_rate == 23.33
            assert data.campaign.stats.prospects == 150
            assert data.agent.name == "Sales Agent - West Coast"
        return
    assert event.prospect_id == data.prospect_id != ""
    assert event.chat_id == data.chat_id != ""
    assert data.prospect.id == event.prospect_id
    assert data.conversation.id == event.chat_id
    assert isinstance(data.timestamp, dt.datetime)
    if shape == "nested":
        assert event.prospect_id == "prospect_130"
        assert data.prospect.name == "John Smith"
        assert data.prospect.location.city == "San Francisco"
    else:
        assert event.prospect_id == "prospect_98772"
        assert data.prospect.name is None  # the flat shape has no prospect object
    if data_class is MessageData:
        assert data.message
    if data_class is QualificationData and shape == "nested":
        assert data.prospect.qualification in ("qualified", "unqualified", "manual")
        assert data.conversation.message_count == 5


def test_the_documented_nested_example_reads_field_by_field(
    client: Client, received: list[tuple[str, EventData]]
) -> None:
    """Kakiyo's API reference example for prospect.qualified, verbatim."""
    payload = {
        "event": "prospect.qualified",
        "timestamp": "2024-01-20T15:30:00Z",
        "data": {
            "prospect": {
                "id": "prospect_123",
                "name": "John Smith",
                "email": "john.smith@techcorp.com",
                "headline": "VP of Sales at TechCorp",
                "url": "https://linkedin.com/in/johnsmith",
                "location": {"city": "San Francisco", "country": "United States"},
                "qualification": "qualified",
                "qualifiedAt": "2024-01-20T15:30:00Z",
                "qualifiedBy": "agent_456",
            },
            "campaign": {"id": "campaign_789", "name": "Enterprise Outreach Q4"},
            "conversation": {
                "id": "chat_101112",
                "messageCount": 5,
                "lastMessage": "Thanks for the information!",
                "lastActivity": "2024-01-20T15:25:00Z",
            },
        },
        "team": {"id": "team_abc", "name": "Sales Team Alpha"},
    }
    response = post_event(client, "prospect.qualified", payload["data"], shape="nested",
                          team_id="team_abc", timestamp="2024-01-20T15:30:00Z")  # fmt: skip
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert (event.team_id, event.prospect_id, event.campaign_id, event.chat_id) == (
        "team_abc",
        "prospect_123",
        "campaign_789",
        "chat_101112",
    )
    assert event.agent_id == ""  # qualifiedBy names who decided, not the event's agent
    process_events([event.pk])
    ((_, data),) = received
    assert isinstance(data, QualificationData)
    assert data.prospect.email == "john.smith@techcorp.com"
    assert data.prospect.location.country == "United States"
    assert data.prospect.qualified_at == dt.datetime(2024, 1, 20, 15, 30, tzinfo=dt.UTC)
    assert data.prospect.qualified_by == "agent_456"
    assert data.conversation.message_count == 5
    assert data.conversation.last_message == "Thanks for the information!"
    assert data.timestamp == dt.datetime(2024, 1, 20, 15, 30, tzinfo=dt.UTC)


def test_admin_search_by_prospect_finds_a_nested_event(
    client: Client, admin_client: Client
) -> None:
    deliver(client, "prospect.qualified", "nested")
    page = admin_client.get("/admin/django_kakiyo/webhookevent/?q=prospect_130")
    assert "prospect.qualified" in page.content.decode()


def test_when_both_shapes_are_present_the_flat_id_wins(client: Client) -> None:
    data = {"prospectId": "flat_1", "prospect": {"id": "nested_1"}}
    event_id = post_event(client, "linkedin.message.received", data).json()["id"]
    assert WebhookEvent.objects.get(pk=event_id).prospect_id == "flat_1"


def test_missing_parts_are_none_never_an_exception() -> None:
    data = MessageData.from_payload({"data": {"prospect": "not an object", "campaign": None}})
    assert data.prospect.location.city is None
    assert not data.prospect
    assert data.campaign.stats.response_rate is None
    assert data.conversation.message_count is None
    assert data.agent.name is None
    odd = CampaignData.from_payload(
        {"data": {"campaign": {"stats": {"prospects": "150", "responseRate": True}}}}
    )
    assert odd.campaign.stats.prospects is None
    assert odd.campaign.stats.response_rate is None


def test_nested_team_object_in_make_payload() -> None:
    payload = make_payload("x.y", {}, team_id="t_9", shape="nested")
    assert payload["team"]["id"] == "t_9"
    assert "teamId" not in payload
