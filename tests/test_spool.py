"""The spool: deliveries written to disk while the database is down, imported exactly once."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_kakiyo.checks import check_settings
from django_kakiyo.ingest import Delivery, dedup_key
from django_kakiyo.models import WebhookEvent
from django_kakiyo.spool import FAILED_DIR, SUFFIX, import_spool, read_spooled, spool_delivery
from django_kakiyo.testing import make_payload, sign_payload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def spool(settings: Any, tmp_path: Path) -> Path:
    directory = tmp_path / "spool"
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(directory)}
    return directory


def delivery(n: int = 1, **data: Any) -> Delivery:
    body, _ = sign_payload(make_payload("linkedin.message.received", {"prospectId": f"p_{n}"}))
    return Delivery(
        signed_bytes=body,
        raw_body=body,
        signature_method="raw",
        headers={"X-Kakiyo-Signature": "[redacted]", "User-Agent": "Kakiyo"},
        remote_addr="203.0.113.9",
        received_at=timezone.now(),
    )


def test_spooled_file_is_complete_and_round_trips(spool: Path) -> None:
    original = delivery()
    path = spool_delivery(original)
    assert path.parent == spool
    assert path.name.endswith(SUFFIX)
    assert not list(spool.glob(".incoming-*"))
    assert read_spooled(path) == original
    assert "hunter2" not in path.read_text()


def test_import_stores_dispatches_and_deletes(spool: Path) -> None:
    first, second = delivery(1), delivery(2)
    spool_delivery(first)
    spool_delivery(second)
    result = import_spool()
    assert (result.imported, result.duplicates, result.failed) == (2, 0, 0)
    assert not list(spool.glob(f"*{SUFFIX}"))
    stored = WebhookEvent.objects.get(dedup_key=dedup_key(first.signed_bytes))
    assert stored.received_at == first.received_at
    assert stored.remote_addr == "203.0.113.9"
    assert stored.status == WebhookEvent.Status.PROCESSED  # in-process dispatch after commit


def test_copies_of_one_delivery_import_as_one_row(spool: Path) -> None:
    one = delivery()
    spool_delivery(one)
    spool_delivery(Delivery(**{**one.__dict__, "received_at": timezone.now()}))
    result = import_spool()
    assert (result.imported, result.duplicates) == (1, 1)
    assert WebhookEvent.objects.get().delivery_count == 2


def test_an_import_that_died_before_deleting_is_not_counted_twice(spool: Path) -> None:
    one = delivery()
    path = spool_delivery(one)
    kept = path.read_bytes()
    import_spool()
    path.write_bytes(kept)  # as if the process died after the insert, before the unlink
    result = import_spool()
    assert (result.imported, result.duplicates) == (0, 1)
    assert WebhookEvent.objects.get().delivery_count == 1
    assert not path.exists()


def test_unreadable_files_are_set_aside(spool: Path) -> None:
    spool.mkdir(parents=True)
    (spool / f"broken{SUFFIX}").write_text("{not json")
    spool_delivery(delivery())
    result = import_spool()
    assert (result.imported, result.failed) == (1, 1)
    assert (spool / FAILED_DIR / f"broken{SUFFIX}").exists()


def test_import_is_a_no_op_without_a_spool(settings: Any) -> None:
    assert import_spool().imported == 0


def test_command(spool: Path) -> None:
    spool_delivery(delivery())
    out = StringIO()
    call_command("kakiyo_import_spool", stdout=out)
    assert out.getvalue().startswith("imported 1, duplicates 0, unreadable 0")


def test_command_without_spool_dir() -> None:
    with pytest.raises(CommandError, match="SPOOL_DIR"):
        call_command("kakiyo_import_spool", stdout=StringIO())


def test_check_rejects_an_unusable_spool_dir(settings: Any, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(a_file)}
    assert [m.id for m in check_settings()] == ["django_kakiyo.E010"]
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": 42}
    assert [m.id for m in check_settings()] == ["django_kakiyo.E010"]
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "new")}
    assert check_settings() == []
