"""Typed read-only views of the nested objects in a Kakiyo payload (the API reference's shape).

``data.prospect``, ``data.campaign``, ``data.conversation``, ``data.agent`` and what they hold.
A part the payload lacks reads as None: a view of an absent object is falsy and every field of
it is None, so ``data.prospect.location.city`` never raises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from .envelope import parse_timestamp

V = TypeVar("V", bound="View")


class View:
    """A read-only view of one nested object; every field None when the object is absent."""

    def __init__(self, raw: Any) -> None:
        self._raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    def __bool__(self) -> bool:
        return bool(self._raw)

    def __getitem__(self, key: str) -> Any:
        return self._raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._raw.get(key, default)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._raw)!r})"

    def _text(self, key: str) -> str | None:
        value = self._raw.get(key)
        return value if isinstance(value, str) else None

    def _count(self, key: str) -> int | None:
        value = self._raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value) if float(value).is_integer() else None

    def _number(self, key: str) -> float | None:
        value = self._raw.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    def _moment(self, key: str) -> dt.datetime | None:
        return parse_timestamp(self._raw.get(key))

    def _view(self, key: str, kind: type[V]) -> V:
        return kind(self._raw.get(key))


class IdentifiedView(View):
    """A view of an object whose id the event also indexes, in whichever shape it came."""

    def __init__(self, raw: Any, id: str = "") -> None:
        super().__init__(raw)
        self._id = id

    @property
    def id(self) -> str | None:
        """The event's id for this object (from ``data.xId`` or ``data.x.id``), or None."""
        return self._id or None

    def __bool__(self) -> bool:
        return bool(self._raw) or bool(self._id)


class LocationView(View):
    @property
    def city(self) -> str | None:
        return self._text("city")

    @property
    def country(self) -> str | None:
        return self._text("country")


class ProspectView(IdentifiedView):
    """``data.prospect``: who the event is about."""

    @property
    def name(self) -> str | None:
        return self._text("name")

    @property
    def email(self) -> str | None:
        return self._text("email")

    @property
    def headline(self) -> str | None:
        return self._text("headline")

    @property
    def url(self) -> str | None:
        return self._text("url")

    @property
    def qualification(self) -> str | None:
        return self._text("qualification")

    @property
    def qualified_at(self) -> dt.datetime | None:
        return self._moment("qualifiedAt")

    @property
    def qualified_by(self) -> str | None:
        return self._text("qualifiedBy")

    @property
    def location(self) -> LocationView:
        return self._view("location", LocationView)


class StatsView(View):
    """``data.campaign.stats``: a completed campaign's numbers."""

    @property
    def prospects(self) -> int | None:
        return self._count("prospects")

    @property
    def messages(self) -> int | None:
        return self._count("messages")

    @property
    def responses(self) -> int | None:
        return self._count("responses")

    @property
    def qualified(self) -> int | None:
        return self._count("qualified")

    @property
    def closed(self) -> int | None:
        return self._count("closed")

    @property
    def conversion_rate(self) -> float | None:
        return self._number("conversionRate")

    @property
    def response_rate(self) -> float | None:
        return self._number("responseRate")


class CampaignView(IdentifiedView):
    """``data.campaign``."""

    @property
    def name(self) -> str | None:
        return self._text("name")

    @property
    def status(self) -> str | None:
        return self._text("status")

    @property
    def completed_at(self) -> dt.datetime | None:
        return self._moment("completedAt")

    @property
    def duration(self) -> str | None:
        return self._text("duration")

    @property
    def stats(self) -> StatsView:
        return self._view("stats", StatsView)


class ConversationView(IdentifiedView):
    """``data.conversation`` (the LinkedIn chat; ``data.chat`` is read the same way)."""

    @property
    def message_count(self) -> int | None:
        return self._count("messageCount")

    @property
    def last_message(self) -> str | None:
        return self._text("lastMessage")

    @property
    def last_activity(self) -> dt.datetime | None:
        return self._moment("lastActivity")


class AgentView(IdentifiedView):
    """``data.agent``: the Kakiyo agent the event is about or came from."""

    @property
    def name(self) -> str | None:
        return self._text("name")

    @property
    def status(self) -> str | None:
        return self._text("status")
