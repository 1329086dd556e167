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
