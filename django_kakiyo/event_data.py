"""Typed, read-only views of an event's ``data``, one small dataclass per family of events.

Receivers get one of these as ``data``. The ids come from either of Kakiyo's payload shapes by
the rule of :mod:`django_kakiyo.event_ids` (``data.prospect_id`` whether the payload says
``data.prospectId`` or ``data.prospect.id``), and the nested objects of the API reference's
shape are typed views: ``data.prospect.name``, ``data.prospect.location.city``,
``data.campaign.stats.response_rate``, ``data.conversation.message_count``. A part the payload
lacks reads as None (a view of an absent object is falsy and all its fields are None), never an
exception. Every field, documented or not, stays reachable through ``data.raw`` /
``data["field"]`` / ``data.get()``, so a field Kakiyo adds tomorrow is reachable today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .envelope import parse_timestamp
from .event_ids import find_ids, lookup
from .payload_views import AgentView, CampaignView, ConversationView, ProspectView


@dataclass(frozen=True)
class EventData:
    """Any event's data: its ids in either shape, its nested objects, its timestamp."""

    raw: Mapping[str, Any] = field(repr=False)
    timestamp: dt.datetime | None = None
    agent_id: str = ""
    campaign_id: str = ""
    chat_id: str = ""
    prospect_id: str = ""

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> EventData:
        """The data of a whole delivery (ids may sit at its top level too)."""
        raw = payload.get("data")
        data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        ids = find_ids(payload)
        return cls(
            raw=data,
            timestamp=parse_timestamp(data.get("timestamp", payload.get("timestamp"))),
            agent_id=ids.agent_id,
            campaign_id=ids.campaign_id,
            chat_id=ids.chat_id,
            prospect_id=ids.prospect_id,
            **cls._fields(data),
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> EventData:
        """The same, from ``data`` alone."""
        return cls.from_payload({"data": data})

    #: The text fields a family adds: attribute -> its places in ``data``; the first place
    #: that holds text gives the value, else "".
    texts: ClassVar[dict[str, tuple[tuple[str, ...], ...]]] = {}

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The values of the fields a subclass adds."""
        return {name: _first_text(data, places) for name, places in cls.texts.items()}

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def prospect(self) -> ProspectView:
        return ProspectView(self.raw.get("prospect"), self.prospect_id)

    @property
    def campaign(self) -> CampaignView:
        return CampaignView(self.raw.get("campaign"), self.campaign_id)

    @property
    def conversation(self) -> ConversationView:
        nested = self.raw.get("conversation", self.raw.get("chat"))
        return ConversationView(nested, self.chat_id)

    @property
    def agent(self) -> AgentView:
        return AgentView(self.raw.get("agent"), self.agent_id)


def _first_text(data: Mapping[str, Any], places: tuple[tuple[str, ...], ...]) -> str:
    values = (lookup(data, place) for place in places)
    return next((value for value in values if isinstance(value, str)), "")


@dataclass(frozen=True)
class ProspectEventData(EventData):
    """Data about one prospect in one campaign: the shape most Kakiyo events share, and the
    view unknown event types get."""


@dataclass(frozen=True)
class MessageData(ProspectEventData):
    """A LinkedIn message sent by the agent or received from the prospect.

    ``message`` is ``data.message`` when it is text, else the conversation's
    ``lastMessage`` (the nested shape's place for it), else "".
    """

    message: str = ""

    texts: ClassVar[dict[str, tuple[tuple[str, ...], ...]]] = {
        "message": (("message",), ("conversation", "lastMessage"))
    }


@dataclass(frozen=True)
class InvitationData(MessageData):
    """A LinkedIn connection invitation sent or accepted (``message``: its note)."""


@dataclass(frozen=True)
class QualificationData(ProspectEventData):
    """A prospect qualified, disqualified or flagged for manual review.

    ``reason`` is ``data.reason``; the nested shape's verdict is ``prospect.qualification``.
    """

    reason: str = ""

    texts: ClassVar[dict[str, tuple[tuple[str, ...], ...]]] = {"reason": (("reason",),)}


@dataclass(frozen=True)
class CampaignData(EventData):
    """A campaign-level event; ``campaign.stats`` holds a completed campaign's numbers."""


@dataclass(frozen=True)
class AgentData(EventData):
    """An agent-level event, such as a status change (``data.status`` or ``agent.status``)."""

    status: str = ""

    texts: ClassVar[dict[str, tuple[tuple[str, ...], ...]]] = {
        "status": (("status",), ("agent", "status"))
    }
