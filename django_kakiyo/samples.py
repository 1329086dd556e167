"""Realistic Kakiyo payloads in both documented shapes, for tests, demos and benchmarks.

``flat`` follows the help centre's example (``teamId``, ``data.agentId``, ``data.prospectId``,
``data.message``...); ``nested`` follows the API reference's examples for
``prospect.qualified`` and ``campaign.completed`` (``team``, ``data.prospect``,
``data.campaign``, ``data.conversation``, ``data.agent``), and the other types are built from
the same objects.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from .event_data import AgentData, CampaignData, InvitationData, MessageData, QualificationData
from .signals import data_class_for

Shape = Literal["flat", "nested"]
SHAPES: tuple[Shape, ...] = ("flat", "nested")

SAMPLE_MESSAGES = {
    "linkedin.message.received": "Thanks for reaching out! I'd be interested. 😀",
    "linkedin.message.sent": "Hi! I noticed your work on outbound, and wondered...",
    "prospect.responded": "Sure, let's talk next week.",
}
SAMPLE_REASONS = {
    "prospect.qualified": "Budget and timing confirmed",
    "prospect.unqualified": "Not a decision maker",
    "prospect.qualification.manual": "Asked about pricing for 500 seats",
}
QUALIFICATIONS = {
    "prospect.qualified": "qualified",
    "prospect.unqualified": "unqualified",
    "prospect.qualification.manual": "manual",
}


def iso_now() -> str:
    """Now in UTC as JavaScript's ``toISOString()`` writes it."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    return now.replace("+00:00", "Z")


def sample_data(event_type: str, index: int = 0, shape: Shape = "flat") -> dict[str, Any]:
    """Realistic ``data`` for ``event_type``; ``index`` makes each call's ids distinct."""
    if shape == "nested":
        return _nested_data(event_type, index)
    ids = {
        "agentId": "agent_67890",
        "campaignId": "campaign_12345",
        "chatId": f"chat_{54321 + index}",
        "prospectId": f"prospect_{98765 + index}",
    }
    now = iso_now()
    data_class = data_class_for(event_type)
    if data_class is MessageData:
        return {**ids, "message": SAMPLE_MESSAGES.get(event_type, "Hello!"), "timestamp": now}
    if data_class is InvitationData:
        return {**ids, "message": "Would love to connect.", "timestamp": now}
    if data_class is QualificationData:
        return {**ids, "reason": SAMPLE_REASONS.get(event_type, "Decided"), "timestamp": now}
    if data_class is CampaignData:
        return {"campaignId": ids["campaignId"], "timestamp": now}
    if data_class is AgentData:
        return {"agentId": ids["agentId"], "status": "paused", "timestamp": now}
    return {**ids, "timestamp": now}


def _nested_data(event_type: str, index: int) -> dict[str, Any]:
    now = iso_now()
    prospect = {
        "id": f"prospect_{123 + index}",
        "name": "John Smith",
        "email": "john.smith@techcorp.com",
        "headline": "VP of Sales at TechCorp",
        "url": "https://linkedin.com/in/johnsmith",
        "location": {"city": "San Francisco", "country": "United States"},
    }
    campaign = {"id": "campaign_789", "name": "Enterprise Outreach Q4"}
    agent = {"id": "agent_456", "name": "Sales Agent - West Coast"}
    conversation = {
        "id": f"chat_{101112 + index}",
        "messageCount": 5,
        "lastMessage": SAMPLE_MESSAGES.get(event_type, "Thanks for the information!"),
        "lastActivity": now,
    }
    data_class = data_class_for(event_type)
    if data_class is QualificationData:
        verdict = QUALIFICATIONS.get(event_type, "qualified")
        prospect |= {"qualification": verdict, "qualifiedAt": now, "qualifiedBy": agent["id"]}
        return {"prospect": prospect, "campaign": campaign, "conversation": conversation}
    if data_class is CampaignData:
        stats = {
            "prospects": 150,
            "messages": 420,
            "responses": 35,
            "qualified": 12,
            "closed": 8,
            "conversionRate": 8.0,
            "responseRate": 23.33,
        }
        completed = {"status": "completed", "completedAt": now, "duration": "45 days"}
        return {"campaign": {**campaign, **completed, "stats": stats}, "agent": agent}
    if data_class is AgentData:
        return {"agent": {**agent, "status": "paused"}}
    if data_class is InvitationData:
        conversation |= {"messageCount": 0, "lastMessage": "Would love to connect."}
    return {
        "prospect": prospect,
        "campaign": campaign,
        "conversation": conversation,
        "agent": agent,
    }


def make_payload(
    event_type: str,
    data: dict[str, Any] | None = None,
    *,
    team_id: str = "team_test",
    timestamp: dt.datetime | str | None = None,
    shape: Shape = "flat",
) -> dict[str, Any]:
    """A Kakiyo envelope around ``data``: ``{"event", "teamId", "timestamp", "data"}``, or
    with ``shape="nested"`` ``{"event", "timestamp", "data", "team": {"id", "name"}}``.

    ``timestamp`` defaults to now (UTC), so the event passes a ``REPLAY_WINDOW``.
    """
    when = timestamp or iso_now()
    if isinstance(when, dt.datetime):
        when = when.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        when = when.replace("+00:00", "Z")
    if shape == "nested":
        team = {"id": team_id, "name": "Sales Team Alpha"}
        return {"event": event_type, "timestamp": when, "data": data or {}, "team": team}
    return {"event": event_type, "teamId": team_id, "timestamp": when, "data": data or {}}
