"""Typed read-only views of the nested objects in a Kakiyo payload (the API reference's shape).

``data.prospect``, ``data.campaign``, ``data.conversation``, ``data.agent`` and what they hold.
A part the payload lacks reads as None: a view of an absent object is falsy and every field of
it is None, so ``data.prospect.location.city`` never raises. A value of the wrong JSON type
reads as None too (``"150"`` is not a count).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

from .envelope import parse_timestamp

T = TypeVar("T")


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


class Field(Generic[T]):
    """One key of a view's object, read as ``T`` (or None): a typed, read-only attribute."""

    def __init__(self, key: str, read: Callable[[Any], T]) -> None:
        self.key = key
        self.read = read

    @overload
    def __get__(self, view: None, owner: type[View]) -> Field[T]: ...
    @overload
    def __get__(self, view: View, owner: type[View]) -> T: ...
    def __get__(self, view: View | None, owner: type[View]) -> Field[T] | T:
        return self if view is None else self.read(view.raw.get(self.key))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def text(key: str) -> Field[str | None]:
    return Field(key, _text)


def count(key: str) -> Field[int | None]:
    return Field(key, _count)


def number(key: str) -> Field[float | None]:
    return Field(key, _number)


def moment(key: str) -> Field[dt.datetime | None]:
    return Field(key, parse_timestamp)


V = TypeVar("V", bound=View)


def nested(key: str, kind: type[V]) -> Field[V]:
    return Field(key, kind)


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
    """``data.prospect.location``: where the prospect is."""

    city = text("city")
    country = text("country")


class ProspectView(IdentifiedView):
    """``data.prospect``: who the event is about."""

    name = text("name")
    email = text("email")
    headline = text("headline")
    url = text("url")
    location = nested("location", LocationView)
    qualification = text("qualification")
    qualified_at = moment("qualifiedAt")
    qualified_by = text("qualifiedBy")


class StatsView(View):
    """``data.campaign.stats``: a completed campaign's numbers."""

    prospects = count("prospects")
    messages = count("messages")
    responses = count("responses")
    qualified = count("qualified")
    closed = count("closed")
    conversion_rate = number("conversionRate")
    response_rate = number("responseRate")


class CampaignView(IdentifiedView):
    """``data.campaign``."""

    name = text("name")
    status = text("status")
    completed_at = moment("completedAt")
    duration = text("duration")
    stats = nested("stats", StatsView)


class ConversationView(IdentifiedView):
    """``data.conversation`` (the LinkedIn chat; ``data.chat`` is read the same way)."""

    message_count = count("messageCount")
    last_message = text("lastMessage")
    last_activity = moment("lastActivity")


class AgentView(IdentifiedView):
    """``data.agent``: the Kakiyo agent the event is about or came from."""

    name = text("name")
    status = text("status")
