"""Where a Kakiyo payload keeps each id, in both of its documented shapes, and how ids are kept.

Kakiyo's help centre shows flat ids (``teamId``, ``data.prospectId``...); its API reference
(what ``GET /v1/webhooks/test/example/{event}`` returns) shows nested objects (``team.id``,
``data.prospect.id``, ``data.campaign.id``, ``data.conversation.id``, ``data.agent.id``). One
rule for both, used for the indexed columns and the typed data alike: an id is the first
usable value among its places in :data:`ID_PLACES`, in that order, so when a payload has both
shapes the flat key in ``data`` wins, then the nested object in ``data``, then the same at the
top level. A usable value is a non-empty string or a number; it is kept as text, made storable
and cut at :data:`MAX_ID_LENGTH` characters (the payload keeps it whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .storable import storable_text

#: Longest id kept in an indexed column; longer ids stay whole in the payload.
MAX_ID_LENGTH = 255

Path = tuple[str, ...]

#: Each id's places in a payload, in the order the first usable one wins.
ID_PLACES: dict[str, tuple[Path, ...]] = {
    "team_id": (("teamId",), ("team", "id"), ("data", "teamId"), ("data", "team", "id")),
    "agent_id": (("data", "agentId"), ("data", "agent", "id"), ("agentId",), ("agent", "id")),
    "campaign_id": (
        ("data", "campaignId"),
        ("data", "campaign", "id"),
        ("campaignId",),
        ("campaign", "id"),
    ),
    "chat_id": (
        ("data", "chatId"),
        ("data", "conversation", "id"),
        ("data", "chat", "id"),
        ("chatId",),
        ("conversation", "id"),
        ("chat", "id"),
    ),
    "prospect_id": (
        ("data", "prospectId"),
        ("data", "prospect", "id"),
        ("prospectId",),
        ("prospect", "id"),
    ),
}


@dataclass(frozen=True)
class EventIds:
    """The ids of one event, as stored in its indexed columns ("" when absent)."""

    team_id: str = ""
    agent_id: str = ""
    campaign_id: str = ""
    chat_id: str = ""
    prospect_id: str = ""
    #: Every team id the payload names, for the team binding of a team secret.
    team_ids: tuple[str, ...] = ()


def lookup(payload: Any, path: Path) -> Any:
    """The value at ``path`` in nested objects, or None when any step is missing."""
    value = payload
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def normalise_id(value: Any) -> str:
    """An id as kept: text, storable, at most :data:`MAX_ID_LENGTH`; "" when unusable."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return storable_text(str(value), MAX_ID_LENGTH)


def find_id(payload: Any, name: str) -> str:
    """The id ``name`` (a key of :data:`ID_PLACES`) of ``payload``, by the rule above."""
    for path in ID_PLACES[name]:
        found = normalise_id(lookup(payload, path))
        if found:
            return found
    return ""


def find_ids(payload: Any) -> EventIds:
    team_ids = tuple(
        found
        for found in (normalise_id(lookup(payload, path)) for path in ID_PLACES["team_id"])
        if found
    )
    return EventIds(
        team_id=team_ids[0] if team_ids else "",
        agent_id=find_id(payload, "agent_id"),
        campaign_id=find_id(payload, "campaign_id"),
        chat_id=find_id(payload, "chat_id"),
        prospect_id=find_id(payload, "prospect_id"),
        team_ids=team_ids,
    )
