"""Upgrading keeps the data: an event stored by the first release's schema survives every later
migration, with the fields added since at their defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from django_kakiyo.models import WebhookEvent

APP = "django_kakiyo"
FIRST = [(APP, "0001_initial")]
BODY = b'{"event":"prospect.qualified","teamId":"team_1","data":{"prospectId":"p_1"}}'


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return {column.name for column in description}


@pytest.fixture
def at_first_migration() -> Iterator[None]:
    """The database as the first release left it; every app migrated forward again after."""
    MigrationExecutor(connection).migrate(FIRST)
    try:
        yield
    finally:
        # Unapplying django_kakiyo also unapplied the apps that depend on it (the example's
        # crm), so migrate everything, not just this app.
        call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_event_stored_under_0001_survives_the_upgrade(at_first_migration: None) -> None:
    table = WebhookEvent._meta.db_table
    assert "history" not in columns(table)
    assert "next_attempt_at" not in columns(table)

    executor = MigrationExecutor(connection)
    # The model as migration 0001 defines it, not as models.py does today.
    OldEvent = executor.loader.project_state(FIRST).apps.get_model(APP, "WebhookEvent")
    old = OldEvent.objects.create(
        event_type="prospect.qualified",
        team_id="team_1",
        prospect_id="p_1",
        payload={"event": "prospect.qualified", "teamId": "team_1"},
        raw_body=BODY,
        headers={"Content-Type": "application/json"},
        dedup_key="a" * 64,
        status="processed",
        attempts=1,
        delivery_count=2,
    )

    latest = executor.loader.graph.leaf_nodes(APP)
    MigrationExecutor(connection).migrate(latest)

    assert {"history", "next_attempt_at"} <= columns(table)
    # Read back through today's model: the upgraded table is what the code now runs on.
    event = WebhookEvent.objects.get(pk=old.pk)
    assert event.history == []
    assert event.next_attempt_at is None
    assert bytes(event.raw_body) == BODY
    assert event.payload == {"event": "prospect.qualified", "teamId": "team_1"}
    assert event.headers == {"Content-Type": "application/json"}
    assert (event.event_type, event.team_id, event.prospect_id) == (
        "prospect.qualified",
        "team_1",
        "p_1",
    )
    assert (event.dedup_key, event.status, event.attempts, event.delivery_count) == (
        "a" * 64,
        WebhookEvent.Status.PROCESSED,
        1,
        2,
    )
