"""Answers counted a second at a time (``COUNT_ANSWERS_EVERY``): a good answer is kept in
memory and written by the process's tally writer with the others; failures, and the answer
that ends a risk, are still written at once."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError

from django_kakiyo import tallies
from django_kakiyo.models import DeliveryRisk
from django_kakiyo.tally_writer import tally_writer

from .integration.conftest import wait_for
from .test_at_risk import outcomes, post_event, refused_signature


@pytest.fixture
def batched(settings: Any) -> Iterator[None]:
    settings.KAKIYO = {**settings.KAKIYO, "COUNT_ANSWERS_EVERY": 3600}
    yield
    # The writer this started waits an hour: wake it, and it ends (there is nothing left).
    assert tally_writer.finish(30), "the tally writer did not end"


@pytest.mark.django_db
def test_good_answers_wait_in_memory_until_written_together(
    client: Any, webhook_url: str, batched: None
) -> None:
    # The first good answer is written: it looks for a risk to end (at most every 5 s).
    assert post_event(client, webhook_url).status_code == 200
    assert outcomes() == {"accepted": 1}
    for n in range(1, 4):
        assert post_event(client, webhook_url, n).status_code == 200
    assert outcomes() == {"accepted": 1}  # the next ones are not written one by one
    assert tallies.pending
    assert tally_writer.write_now()
    assert outcomes() == {"accepted": 4}
    assert not tallies.pending


@pytest.mark.django_db
def test_a_failure_is_written_at_once_with_what_was_kept(
    client: Any, webhook_url: str, batched: None
) -> None:
    assert post_event(client, webhook_url).status_code == 200
    for _ in range(3):
        assert refused_signature(client, webhook_url).status_code == 401
    # The refusals count towards the at-risk alert across processes: written at once, and
    # the good answer kept before them with them.
    assert DeliveryRisk.objects.get(kind="signatures").consecutive == 3
    assert outcomes() == {"accepted": 1, "rejected": 3}
    assert not tallies.pending


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_within_the_interval(
    client: Any, webhook_url: str, settings: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "COUNT_ANSWERS_EVERY": 0.1}
    assert post_event(client, webhook_url).status_code == 200
    wait_for(lambda: outcomes_now() == {"accepted": 1}, 30, "the tally writer to write the count")
    # With nothing left to write, the thread ends (and closes its connection).
    wait_for(lambda: not writer_threads(), 30, "the tally writer to end")
    assert post_event(client, webhook_url, 1).status_code == 200  # the next one starts it again
    wait_for(lambda: outcomes_now() == {"accepted": 2}, 30, "a new writer to write the count")
    wait_for(lambda: not writer_threads(), 30, "the tally writer to end")


def outcomes_now() -> dict[str, float] | None:
    """The outcomes, or None while the writer holds the table: on the in-memory SQLite test
    database (shared cache) a read during another connection's write fails at once."""
    try:
        return outcomes()
    except OperationalError:
        return None


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "kakiyo-tallies"]


def test_a_forked_child_starts_with_nothing_kept() -> None:
    tallies.pending.keep(tallies.Counts().add("deliveries", outcome="accepted"))
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit code is the assertion
        os._exit(1 if tallies.pending else 0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tallies.pending.take()  # the parent still has its own
