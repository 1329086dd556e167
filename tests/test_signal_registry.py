"""The registry of event types: a signal per type, one for types added later, typed data."""

from __future__ import annotations

from typing import Any

import pytest

from django_kakiyo import signals
from django_kakiyo.event_data import AgentData, ProspectEventData
from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_event

from .conftest import make_event

Status = WebhookEvent.Status


# -- signals and typed data -------------------------------------------------------------------


def test_every_known_type_has_its_signal_named_after_it() -> None:
    assert len(signals.EVENT_TYPES) == 12
    for name, event_type in signals.EVENT_TYPES.items():
        assert getattr(signals, signals.signal_name(name)) is event_type.signal
        assert signals.signal_for(name) is event_type.signal
        assert event_type.description


def test_signal_for_an_unknown_type_is_created_once() -> None:
    first = signals.signal_for("linkedin.post.liked")
    assert signals.signal_for("linkedin.post.liked") is first
    assert first is not signals.event_received


@pytest.mark.django_db
def test_unknown_type_sends_its_own_signal_when_connected_and_event_received(
    connect: Any,
) -> None:
    specific = connect(signals.signal_for("linkedin.profile.viewed"))
    generic = connect(signals.event_received)
    event = make_event("linkedin.profile.viewed")
    assert process_event(event.pk).status == Status.PROCESSED
    assert len(specific.calls) == len(generic.calls) == 1
    assert isinstance(generic.calls[0]["data"], ProspectEventData)


@pytest.mark.django_db
def test_connect_by_name(connect: Any) -> None:
    calls: list[Any] = []

    def on_agent(sender: Any, data: AgentData, **kwargs: Any) -> None:
        calls.append(data)

    signals.connect("agent.status_changed", on_agent, weak=False)
    try:
        process_event(make_event("agent.status_changed", agentId="a_1", status="paused").pk)
    finally:
        signals.agent_status_changed.disconnect(on_agent)
    assert (calls[0].agent_id, calls[0].status) == ("a_1", "paused")
