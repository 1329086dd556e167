"""The web process's publisher lingers for more ids only while the process is receiving
other deliveries (``PUBLISH_LINGER``): under load a message carries several events, and a
delivery that comes alone is published at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from django_kakiyo.publishing import BackgroundPublisher, background_publisher
from django_kakiyo.testing import post_event


class Recording(BackgroundPublisher):
    """The real publisher's pacing, with messages recorded instead of sent to a broker."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[list[int]] = []

    def handle(self, batch: list[int]) -> None:
        self.messages.append(batch)


@pytest.fixture
def publisher(settings: Any) -> Iterator[Recording]:
    # A linger far longer than any wait below: a test that waited for it would time out.
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_LINGER": 60, "PUBLISH_BATCH_SIZE": 10}
    publisher = Recording()
    yield publisher
    assert publisher.stop(30)


def test_a_delivery_that_comes_alone_is_published_at_once(publisher: Recording) -> None:
    with publisher.receiving():
        publisher.submit(1)
    assert publisher.wait_until_idle(10)
    assert publisher.messages == [[1]]


def test_ids_received_beside_others_share_a_message_sent_when_nothing_is_received(
    publisher: Recording,
) -> None:
    with publisher.receiving(), publisher.receiving():  # two deliveries being handled
        for event_id in (1, 2, 3):
            publisher.submit(event_id)
        time.sleep(0.2)
        assert publisher.messages == []  # lingering: more are coming
    assert publisher.wait_until_idle(10)  # nothing is received any more: sent at once
    assert publisher.messages == [[1, 2, 3]]


def test_a_full_batch_is_published_without_waiting(publisher: Recording, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_BATCH_SIZE": 2}
    with publisher.receiving(), publisher.receiving():
        publisher.submit(1)
        publisher.submit(2)
        assert publisher.wait_until_idle(10)
        assert publisher.messages == [[1, 2]]


def test_the_linger_ends_even_while_deliveries_keep_coming(
    publisher: Recording, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_LINGER": 0.1}
    with publisher.receiving(), publisher.receiving():
        publisher.submit(1)
        assert publisher.wait_until_idle(10)
        assert publisher.messages == [[1]]


def test_no_linger_when_it_is_zero(publisher: Recording, settings: Any) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "PUBLISH_LINGER": 0}
    with publisher.receiving(), publisher.receiving():
        publisher.submit(1)
        assert publisher.wait_until_idle(10)
        assert publisher.messages == [[1]]


@pytest.mark.django_db(transaction=True)  # the id is handed over when the store commits
def test_the_view_counts_each_delivery_it_handles_and_forgets_it_after(
    client: Any, webhook_url: str, settings: Any
) -> None:
    seen: list[int] = []
    original = background_publisher.submit

    def spy(event_id: int) -> bool:
        seen.append(background_publisher._receiving)
        return True

    settings.KAKIYO = {**settings.KAKIYO, "PROCESSING": "celery"}
    settings.CELERY_BROKER_URL = "memory://"
    background_publisher.submit = spy  # type: ignore[method-assign]
    try:
        delivery = post_event(client, "prospect.qualified", {"prospectId": "p"}, process=False)
        assert delivery.status_code == 200
        assert client.post(webhook_url, b"{}", content_type="application/json").status_code == 401
    finally:
        background_publisher.submit = original  # type: ignore[method-assign]
    assert seen == [1]  # handed over while its own delivery was being handled
    assert background_publisher._receiving == 0
