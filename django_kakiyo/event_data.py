"""Typed, read-only views of an event's ``data``, one small dataclass per family of events.

Receivers get one of these as ``data``: the ids and fields Kakiyo documents as attributes, and
every field, documented or not, through ``data.raw`` / ``data["field"]`` / ``data.get()``, so a
field Kakiyo adds tomorrow is reachable today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .envelope import parse_timestamp


@dataclass(frozen=True)
class EventData:
    """Any event's data. Subclasses add the fields of their family."""

    raw: Mapping[str, Any] = field(repr=False)
    timestamp: dt.datetime | None = None

    #: ``data`` keys read into attributes, as ``attribute: key``.
    fields: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> EventData:
        values = {name: _text(data.get(key)) for name, key in cls.fields.items()}
        return cls(raw=data, timestamp=parse_timestamp(data.get("timestamp")), **values)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


_PROSPECT_FIELDS = {
    "agent_id": "agentId",
    "campaign_id": "campaignId",
    "chat_id": "chatId",
    "prospect_id": "prospectId",
}


@dataclass(frozen=True)
class ProspectEventData(EventData):
    """Data about one prospect in one campaign: the shape most Kakiyo events share."""

    agent_id: str = ""
    campaign_id: str = ""
    chat_id: str = ""
    prospect_id: str = ""

    fields: ClassVar[dict[str, str]] = _PROSPECT_FIELDS


@dataclass(frozen=True)
class MessageData(ProspectEventData):
    """A LinkedIn message sent by the agent or received from the prospect."""

    message: str = ""

    fields: ClassVar[dict[str, str]] = {**_PROSPECT_FIELDS, "message": "message"}


@dataclass(frozen=True)
class InvitationData(ProspectEventData):
    """A LinkedIn connection invitation sent or accepted."""

    message: str = ""

    fields: ClassVar[dict[str, str]] = {**_PROSPECT_FIELDS, "message": "message"}


@dataclass(frozen=True)
class QualificationData(ProspectEventData):
    """A prospect qualified, disqualified or flagged for manual review."""

    reason: str = ""

    fields: ClassVar[dict[str, str]] = {**_PROSPECT_FIELDS, "reason": "reason"}


@dataclass(frozen=True)
class CampaignData(EventData):
    """A campaign-level event."""

    campaign_id: str = ""

    fields: ClassVar[dict[str, str]] = {"campaign_id": "campaignId"}


@dataclass(frozen=True)
class AgentData(EventData):
    """An agent-level event, such as a status change."""

    agent_id: str = ""
    status: str = ""

    fields: ClassVar[dict[str, str]] = {"agent_id": "agentId", "status": "status"}


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return value if isinstance(value, str) else str(value)
