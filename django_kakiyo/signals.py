"""The signals receivers connect to, one per Kakiyo event type, and the registry of types.

Every signal is sent with ``sender=WebhookEvent`` and these keyword arguments:

- ``event``: the stored :class:`~django_kakiyo.models.WebhookEvent`;
- ``data``: a typed view of ``event.payload["data"]`` (see :mod:`django_kakiyo.event_data`);
- ``event_type``: the event type string.

Receivers run in a Celery worker (or in-process without a broker), each in its own savepoint
with a record of its outcome, and the event becomes ``processed`` in the same commit: a
receiver that raises has its database writes rolled back and is retried, alone, so each
receiver's database work commits once. Do side effects outside the database in
``transaction.on_commit``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

from .event_data import (
    AgentData,
    CampaignData,
    EventData,
    InvitationData,
    MessageData,
    ProspectEventData,
    QualificationData,
)


@dataclass(frozen=True)
class EventType:
    """A Kakiyo event type this app knows: its name, what it means, its data and signal."""

    name: str
    description: str
    data_class: type[EventData]
    signal: Signal = field(default_factory=Signal, compare=False)


def signal_name(event_type: str) -> str:
    """The attribute name of an event type's signal: dots and dashes become underscores."""
    return event_type.replace(".", "_").replace("-", "_")


#: The event types Kakiyo documents, the webhook guide's six and the API reference's: the one
#: place each is declared. Each has a signal, an attribute of this module named after it.
EVENT_TYPES: dict[str, EventType] = {
    known.name: known
    for known in (
        EventType(
            "linkedin.message.sent",
            "The agent sent a LinkedIn message to a prospect.",
            MessageData,
        ),
        EventType(
            "linkedin.message.received",
            "A prospect replied to the agent on LinkedIn.",
            MessageData,
        ),
        EventType(
            "linkedin.invitation.sent",
            "The agent sent a LinkedIn connection invitation.",
            InvitationData,
        ),
        EventType(
            "linkedin.invitation.accepted",
            "A prospect accepted the agent's connection invitation.",
            InvitationData,
        ),
        EventType(
            "prospect.qualification.manual",
            "A prospect's qualification needs a human decision.",
            QualificationData,
        ),
        EventType("prospect.unqualified", "A prospect was disqualified.", QualificationData),
        EventType("prospect.qualified", "A prospect was qualified.", QualificationData),
        EventType("prospect.responded", "A prospect responded.", MessageData),
        EventType("campaign.completed", "A campaign completed.", CampaignData),
        EventType("message.sent", "A message was sent.", MessageData),
        EventType("connection.accepted", "A connection request was accepted.", InvitationData),
        EventType("agent.status_changed", "An agent's status changed.", AgentData),
    )
}

#: linkedin.message.sent: the agent sent a LinkedIn message to a prospect.
linkedin_message_sent = EVENT_TYPES["linkedin.message.sent"].signal
#: linkedin.message.received: a prospect replied on LinkedIn.
linkedin_message_received = EVENT_TYPES["linkedin.message.received"].signal
#: linkedin.invitation.sent: the agent sent a connection invitation.
linkedin_invitation_sent = EVENT_TYPES["linkedin.invitation.sent"].signal
#: linkedin.invitation.accepted: a prospect accepted the connection invitation.
linkedin_invitation_accepted = EVENT_TYPES["linkedin.invitation.accepted"].signal
#: prospect.qualification.manual: a prospect needs a human to decide on qualification.
prospect_qualification_manual = EVENT_TYPES["prospect.qualification.manual"].signal
#: prospect.unqualified: a prospect was disqualified.
prospect_unqualified = EVENT_TYPES["prospect.unqualified"].signal
#: prospect.qualified: a prospect was qualified (API reference).
prospect_qualified = EVENT_TYPES["prospect.qualified"].signal
#: prospect.responded: a prospect responded (API reference).
prospect_responded = EVENT_TYPES["prospect.responded"].signal
#: campaign.completed: a campaign finished (API reference).
campaign_completed = EVENT_TYPES["campaign.completed"].signal
#: message.sent: a message was sent (API reference).
message_sent = EVENT_TYPES["message.sent"].signal
#: connection.accepted: a connection request was accepted (API reference).
connection_accepted = EVENT_TYPES["connection.accepted"].signal
#: agent.status_changed: an agent was started, paused or stopped (API reference).
agent_status_changed = EVENT_TYPES["agent.status_changed"].signal

#: Sent for every event, known type or not, after its type's own signal (Kakiyo's ``*``).
event_received = Signal()

#: Sent once when an event ends ``failed`` (its last attempt raised), with ``event``,
#: ``errors``: a list of ``(receiver, exception)`` pairs from that attempt, and
#: ``failed_receivers``: those receivers' dotted paths.
processing_failed = Signal()

#: Sent when an answer to Kakiyo counts against its rule that four failed deliveries in a row
#: disable the webhook: a 503 (database unavailable), another 5xx, an answer that took over
#: 10 s (Kakiyo gave up on it), or ``HEALTH['SIGNATURE_FAILURES']`` consecutive refusals of
#: well-formed signatures (a secret rotated on one side only). Sent by the process that
#: answered, after the answer, with ``sender=DeliveryRisk`` and ``reason`` (``"unavailable"``,
#: ``"server_error"``, ``"slow"`` or ``"signatures"``), ``consecutive`` (such answers since
#: the last good one: across processes from the database, or this process's count while the
#: database is down), ``status`` (the HTTP status answered), ``seconds`` and ``detail``.
webhook_at_risk = Signal()

# Signals for types Kakiyo added after this release, created when first asked for, and one
# signal per pattern connected to.
_extra_signals: dict[str, Signal] = {}
_pattern_signals: dict[str, Signal] = {}

_SEGMENT = "[a-z0-9_-]+"
#: What a Kakiyo event type looks like: lower-case dotted words (``linkedin.message.sent``).
EVENT_TYPE_FORM = re.compile(rf"{_SEGMENT}(\.{_SEGMENT})+")
#: A pattern of event types: the same, with ``*`` and ``?`` wildcards (``linkedin.*``).
PATTERN_FORM = re.compile(r"[a-z0-9_*?-]+(\.[a-z0-9_*?-]+)*")


def signal_for(event_type: str) -> Signal:
    """The signal sent for ``event_type``, a pattern of types, or ``"*"`` (every event).

    A known type gets its own signal; a type this release lacks gets one created for it, so
    ``signal_for("linkedin.post.liked").connect(receiver)`` works before a release of this app
    knows the type. A pattern with ``*`` or ``?`` (``"linkedin.*"``, ``"prospect.*"``) gets a
    signal sent for every type it matches, known now or added by Kakiyo later; ``"*"`` is
    :data:`event_received`, Kakiyo's wildcard. Anything that cannot be a Kakiyo event type
    (``"linkedin_message_sent"``, ``"Prospect.*"``, ``""``) raises ValueError, rather than
    connecting a receiver nothing will ever call.
    """
    if not isinstance(event_type, str):
        raise ValueError(_not_a_type(event_type, "Kakiyo event type"))
    if event_type == "*":
        return event_received
    if "*" in event_type or "?" in event_type:
        if not PATTERN_FORM.fullmatch(event_type):
            raise ValueError(_not_a_type(event_type, "pattern of event types"))
        return _pattern_signals.setdefault(event_type, Signal())
    known = EVENT_TYPES.get(event_type)
    if known is not None:
        return known.signal
    if not EVENT_TYPE_FORM.fullmatch(event_type):
        raise ValueError(_not_a_type(event_type, "Kakiyo event type"))
    return _extra_signals.setdefault(event_type, Signal())


def _not_a_type(value: object, what: str) -> str:
    return (
        f"{value!r} cannot be a {what}: Kakiyo's are lower-case words joined by dots, "
        "like 'linkedin.message.received' (patterns may use * and ?, like 'linkedin.*'; "
        "'*' is every event)."
    )


def connect(event_type: str, receiver: Callable[..., Any], **kwargs: Any) -> None:
    """Connect ``receiver`` to :func:`signal_for` ``(event_type)``; ``kwargs`` go to
    ``Signal.connect`` (``weak=False`` for a receiver defined inside a function)."""
    signal_for(event_type).connect(receiver, **kwargs)


def signals_to_send(event_type: str) -> list[Signal]:
    """The signals processing sends for ``event_type``, in order: its own, the patterns it
    matches (in the order they were first connected), then :data:`event_received`."""
    specific = EVENT_TYPES.get(event_type)
    own = specific.signal if specific is not None else _extra_signals.get(event_type)
    matching = [
        signal
        for pattern, signal in _pattern_signals.items()
        if fnmatch.fnmatchcase(event_type, pattern)
    ]
    return [*([own] if own is not None else []), *matching, event_received]


def data_class_for(event_type: str) -> type[EventData]:
    """The typed data view for ``event_type``; unknown types get the prospect-shaped one."""
    known = EVENT_TYPES.get(event_type)
    return known.data_class if known is not None else ProspectEventData
