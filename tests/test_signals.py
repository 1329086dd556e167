"""Connecting receivers by event type, by Kakiyo's wildcard ``*`` and by glob patterns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from django_kakiyo import signals
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_events
from django_kakiyo.testing import post_event

pytestmark = pytest.mark.django_db


class Receivers:
    """Receivers connected by name or pattern, each recording the types it was sent."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}
        self.connected: list[tuple[Any, Any]] = []

    def connect(self, name: str) -> None:
        def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
            self.seen.setdefault(name, []).append(event.event_type)

        signals.connect(name, receiver, weak=False)
        self.connected.append((signals.signal_for(name), receiver))


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    connected = Receivers()
    yield connected
    for signal, receiver in connected.connected:
        signal.disconnect(receiver)


def deliver(client: Client, *event_types: str) -> None:
    ids = [post_event(client, name, {"prospectId": "p"}).json()["id"] for name in event_types]
    process_events(ids)


TYPES = ("linkedin.message.sent", "campaign.completed", "kakiyo.future.type")


def test_the_wildcard_receives_every_event(client: Client, receivers: Receivers) -> None:
    receivers.connect("*")
    deliver(client, *TYPES)
    assert receivers.seen == {"*": list(TYPES)}
    assert signals.signal_for("*") is signals.event_received


def test_patterns_match_known_types_and_types_added_later(
    client: Client, receivers: Receivers
) -> None:
    receivers.connect("linkedin.*")
    receivers.connect("prospect.*")
    receivers.connect("*.completed")
    receivers.connect("linkedin.message.s?nt")
    deliver(
        client,
        "linkedin.message.sent",
        "linkedin.post.liked",  # a type this release does not know
        "prospect.qualified",
        "campaign.completed",
        "prospectus.sent",
    )
    assert receivers.seen == {
        "linkedin.*": ["linkedin.message.sent", "linkedin.post.liked"],
        "linkedin.message.s?nt": ["linkedin.message.sent"],
        "prospect.*": ["prospect.qualified"],
        "*.completed": ["campaign.completed"],
    }


def test_signals_are_sent_own_then_patterns_then_every_event(
    client: Client, receivers: Receivers
) -> None:
    order: list[str] = []

    def note(label: str) -> Any:
        def receiver(sender: Any, **kwargs: Any) -> None:
            order.append(label)

        return receiver

    own, pattern, every = note("own"), note("pattern"), note("every")
    signals.connect("prospect.qualified", own, weak=False)
    signals.connect("prospect.*", pattern, weak=False)
    signals.connect("*", every, weak=False)
    try:
        deliver(client, "prospect.qualified")
    finally:
        signals.prospect_qualified.disconnect(own)
        signals.signal_for("prospect.*").disconnect(pattern)
        signals.event_received.disconnect(every)
    assert order == ["own", "pattern", "every"]


@pytest.mark.parametrize(
    "name",
    [
        "linkedin_message_received",  # a signal's attribute name, not an event type
        "Linkedin.Message.Received",
        "linkedin message received",
        "",
        "linkedin.",
        ".sent",
        "linkedin.[ab]*",
        "prospect.**/x",
    ],
)
def test_a_name_that_cannot_be_an_event_type_is_refused_at_connect_time(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be a"):
        signals.connect(name, lambda **kwargs: None)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be a"):
        signals.signal_for(42)  # type: ignore[arg-type]
