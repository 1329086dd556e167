"""The models and the migrations agree, and the migrations apply to an empty database."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "django_kakiyo", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_migrations_unapply_and_reapply() -> None:
    call_command("migrate", "django_kakiyo", "zero", verbosity=0)
    # Everything, since unapplying django_kakiyo also unapplied the apps that depend on it.
    call_command("migrate", verbosity=0)


@pytest.mark.django_db
def test_dedup_key_has_one_index_and_it_is_unique() -> None:
    """Every index costs each insert and each status change; dedup_key needs exactly one."""
    from django.db import connection

    from django_kakiyo.models import WebhookEvent

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, WebhookEvent._meta.db_table)
    on_dedup_key = [
        details for details in constraints.values() if details["columns"] == ["dedup_key"]
    ]
    assert len(on_dedup_key) == 1
    assert on_dedup_key[0]["unique"]
