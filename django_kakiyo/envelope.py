"""Validate a verified payload's envelope and pull out the ids operators filter by."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .event_ids import find_ids
from .javascript_json import StrictJSONError, loads_strict
from .signing import NOT_PARSED
from .storable import storable_text

logger = logging.getLogger(__name__)

#: Longest event type kept; Kakiyo's are ~30 characters.
MAX_EVENT_TYPE_LENGTH = 100
#: Deepest nesting stored as JSON. Kakiyo's payloads are 2-3 levels deep; much deeper input
#: would only exhaust the recursion of the JSON encoders downstream.
MAX_JSON_DEPTH = 100
#: How far in the future an event's timestamp may be (clock skew between Kakiyo and us) when
#: ``REPLAY_WINDOW`` is set; later ones could otherwise be replayed for as long as they lie.
MAX_CLOCK_SKEW = 300


class EnvelopeError(ValueError):
    """The payload is authentic but not a usable event. ``reason`` is a short stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Envelope:
    """The parts of a Kakiyo event the app indexes; ``payload`` keeps everything."""

    event_type: str
    payload: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    team_id: str = ""
    #: Every team id the payload names (``teamId``, ``team.id``, ``data.teamId``,
    #: ``data.team.id``), for the team binding of a team secret: all must name its team.
    team_ids: tuple[str, ...] = ()
    agent_id: str = ""
    campaign_id: str = ""
    chat_id: str = ""
    prospect_id: str = ""
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True)
class ReadEvent:
    """What an authentic body holds: the payload, its envelope, or why it is not an event."""

    payload: Any
    envelope: Envelope | None
    invalid_reason: str = ""


def read_event(
    body: bytes, parsed: Any, *, now: dt.datetime, replay_window: float | None
) -> ReadEvent:
    """Parse (unless ``parsed`` is given) and validate an authentic body; never raises.

    ``parsed`` is the payload when signature verification already parsed it, else
    ``NOT_PARSED``. ``now`` is when the delivery arrived, which the replay window is
    measured from.
    """
    payload = parsed
    if payload is NOT_PARSED:
        try:
            payload = loads_strict(body)
        except StrictJSONError as error:
            logger.warning("Authentic Kakiyo delivery is not strict JSON: %s", error)
            return ReadEvent(None, None, "not_json")
    try:
        envelope = parse_envelope(payload)
    except EnvelopeError as error:
        logger.warning("Authentic Kakiyo delivery stored as invalid: %s", error)
        return ReadEvent(None if error.reason == "too_deep" else payload, None, error.reason)
    try:
        ensure_fresh(envelope, replay_window, now)
    except EnvelopeError as error:
        logger.warning("Authentic Kakiyo delivery stored as invalid: %s", error)
        return ReadEvent(payload, envelope, error.reason)
    return ReadEvent(payload, envelope)


def parse_envelope(payload: Any) -> Envelope:
    """Check ``payload`` is an event and index it, or raise :class:`EnvelopeError`.

    An event is a JSON object with a non-empty string ``event`` and, when present, an object
    ``data``. Its ids are found in either of Kakiyo's shapes, flat or nested, by the one rule
    of :mod:`django_kakiyo.event_ids`.
    """
    if json_depth(payload) > MAX_JSON_DEPTH:
        raise EnvelopeError("too_deep", f"nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(payload, dict):
        raise EnvelopeError("not_an_object", f"payload is a JSON {_json_kind(payload)}")
    event_type = payload.get("event")
    if not isinstance(event_type, str) or not event_type:
        raise EnvelopeError("missing_event", '"event" must be a non-empty string')
    if len(event_type) > MAX_EVENT_TYPE_LENGTH:
        raise EnvelopeError(
            "event_type_too_long", f'"event" is over {MAX_EVENT_TYPE_LENGTH} characters'
        )
    data = payload.get("data", {})
    if not isinstance(data, dict):
        raise EnvelopeError("data_not_object", f'"data" is a JSON {_json_kind(data)}')

    ids = find_ids(payload)
    return Envelope(
        event_type=storable_text(event_type),
        payload=payload,
        data=data,
        team_id=ids.team_id,
        team_ids=ids.team_ids,
        agent_id=ids.agent_id,
        campaign_id=ids.campaign_id,
        chat_id=ids.chat_id,
        prospect_id=ids.prospect_id,
        occurred_at=parse_timestamp(payload.get("timestamp", data.get("timestamp"))),
    )


def ensure_fresh(envelope: Envelope, window: float | None, now: dt.datetime) -> None:
    """Raise ``EnvelopeError`` when ``window`` is set and the event is not fresh.

    ``stale`` when it is older than the window, or has no usable timestamp (it cannot prove it
    is fresh: a captured delivery without one could be replayed for ever); ``future_timestamp``
    when it claims a moment over :data:`MAX_CLOCK_SKEW` seconds ahead, which would keep it
    inside the window for as long as it lies.
    """
    if window is None:
        return
    if envelope.occurred_at is None:
        raise EnvelopeError("stale", "no timestamp, and KAKIYO['REPLAY_WINDOW'] is set")
    age = (now - envelope.occurred_at).total_seconds()
    if age > window:
        raise EnvelopeError("stale", f"timestamp is {age:.0f}s old (window {window}s)")
    if -age > MAX_CLOCK_SKEW:
        raise EnvelopeError(
            "future_timestamp", f"timestamp is {-age:.0f}s ahead (at most {MAX_CLOCK_SKEW}s)"
        )


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An aware datetime in UTC from an ISO 8601 string or epoch seconds/milliseconds, else None.

    Only moments every supported database can store and read back are returned: those whose
    UTC time falls in years 1 to 9999. ``0001-01-01T00:00:00+14:00`` is year 0 in UTC, which
    PostgreSQL would store and no driver could read back; such a value gives None (the event's
    ``occurred_at`` stays empty, and the raw body keeps what was sent).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        # Kakiyo sends UTC; a timestamp without an offset is read as UTC, not server time.
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        # In UTC: PostgreSQL refuses offsets past +-15:59 ("-19:21"), which Python accepts.
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None  # outside years 1-9999 once in UTC


def json_depth(value: Any) -> int:
    """How deeply containers nest in ``value``, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
