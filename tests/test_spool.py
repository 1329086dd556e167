"""The spool: deliveries written to disk while the database is down, imported exactly once."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DataError
from django.test import Client
from django.utils import timezone

from django_kakiyo import spool as spool_module
from django_kakiyo import views
from django_kakiyo.checks import check_settings
from django_kakiyo.exceptions import DatabaseUnavailable
from django_kakiyo.ingest import Delivery, dedup_key
from django_kakiyo.models import WebhookEvent
from django_kakiyo.spool import (
    FAILED_DIR,
    SUFFIX,
    import_spool,
    read_spooled,
    spool_delivery,
)
from django_kakiyo.testing import make_payload, post_event, sign_payload

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
        team=None,
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


def test_copies_of_one_delivery_make_one_file_and_one_row(spool: Path) -> None:
    """Files are named by dedup key and created exclusively: a delivery replayed during an
    outage cannot fill the disk, and the first copy's file is kept as it was."""
    one = delivery()
    first = spool_delivery(one)
    content = first.read_bytes()
    copy = spool_delivery(Delivery(**{**one.__dict__, "received_at": timezone.now()}))
    assert copy == first
    assert first.read_bytes() == content
    assert len(list(spool.glob("*.delivery.json"))) == 1
    result = import_spool()
    assert (result.imported, result.duplicates) == (1, 0)
    assert WebhookEvent.objects.get().received_at == one.received_at


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
    assert [m.id for m in check_settings() if not m.is_silenced()] == ["django_kakiyo.E010"]
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": 42}
    assert [m.id for m in check_settings() if not m.is_silenced()] == ["django_kakiyo.E010"]
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "new")}
    assert [m for m in check_settings() if not m.is_silenced()] == []


# -- the spool is not trusted more than the network -------------------------------------------


def test_a_forged_file_is_set_aside_and_the_good_ones_imported(spool: Path) -> None:
    good = spool_delivery(delivery(1))
    forged = json.loads(good.read_text())
    forged["raw_body"] = forged["signed_bytes"] = base64.b64encode(
        sign_payload(make_payload("linkedin.message.received", {"prospectId": "evil"}))[0]
    ).decode()
    (spool / f"{'f' * 64}{SUFFIX}").write_text(json.dumps(forged))
    result = import_spool()
    assert (result.imported, result.failed) == (1, 1)
    assert list(WebhookEvent.objects.values_list("prospect_id", flat=True)) == ["p_1"]
    assert (spool / FAILED_DIR / f"{'f' * 64}{SUFFIX}").exists()


def test_a_file_from_before_authenticated_records_is_set_aside(spool: Path) -> None:
    path = spool_delivery(delivery(1))
    old = json.loads(path.read_text())
    old["version"] = 1
    del old["mac"]
    path.write_text(json.dumps(old))
    assert import_spool().failed == 1
    assert not WebhookEvent.objects.exists()


def test_received_at_cannot_be_moved_to_escape_the_replay_window(spool: Path) -> None:
    path = spool_delivery(delivery(1))
    record = json.loads(path.read_text())
    record["received_at"] = "2000-01-01T00:00:00+00:00"
    path.write_text(json.dumps(record))
    assert import_spool().failed == 1


def test_a_record_from_the_future_is_set_aside(spool: Path) -> None:
    spool_delivery(
        Delivery(**{**delivery(1).__dict__, "received_at": timezone.now() + dt.timedelta(days=1)})
    )
    assert import_spool().failed == 1
    assert not WebhookEvent.objects.exists()


def test_the_team_binding_is_checked_again_on_import(spool: Path) -> None:
    spool_delivery(Delivery(**{**delivery(1).__dict__, "team": "another_team"}))
    spool_delivery(Delivery(**{**delivery(2).__dict__, "team": "team_test"}))
    result = import_spool()
    assert (result.imported, result.failed) == (1, 1)
    assert WebhookEvent.objects.get().prospect_id == "p_2"


def test_a_rotated_secret_key_still_imports_through_its_fallbacks(
    spool: Path, settings: Any
) -> None:
    old_key = settings.SECRET_KEY
    spool_delivery(delivery(1))
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert import_spool().imported == 1


def test_without_the_old_key_among_the_fallbacks_the_file_is_set_aside(
    spool: Path, settings: Any
) -> None:
    spool_delivery(delivery(1))
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []
    assert import_spool().failed == 1


def test_a_file_that_fails_to_import_does_not_block_the_others(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = spool_delivery(delivery(1))
    spool_delivery(delivery(2))
    spool_delivery(delivery(3))
    os.utime(first, ns=(1, 1))  # the oldest: imported first
    real_ingest = spool_module.ingest
    poisoned = read_spooled(first).dedup_key

    def ingest(delivery: Delivery, *args: Any, **kwargs: Any) -> Any:
        if delivery.dedup_key == poisoned:
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return real_ingest(delivery, *args, **kwargs)

    monkeypatch.setattr(spool_module, "ingest", ingest)
    result = import_spool()
    assert (result.imported, result.failed) == (2, 1)
    assert (spool / FAILED_DIR / first.name).exists()


def test_an_outage_pauses_the_import_without_setting_anything_aside(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool_delivery(delivery(1))
    spool_delivery(delivery(2))

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("connection refused")

    monkeypatch.setattr(spool_module, "ingest", unavailable)
    result = import_spool()
    assert (result.imported, result.failed) == (0, 0)
    assert len(list(spool.glob(f"*{SUFFIX}"))) == 2


def test_the_directory_is_created_private(spool: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, which mkdir's own mode would pass through
    try:
        spool_delivery(delivery(1))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700


def test_check_warns_about_a_spool_others_can_read(settings: Any, spool: Path) -> None:
    spool.mkdir(mode=0o755)
    spool.chmod(0o755)
    assert [m.id for m in check_settings() if not m.is_silenced()] == ["django_kakiyo.W003"]
    spool.chmod(0o700)
    assert [m for m in check_settings() if not m.is_silenced()] == []


def test_a_full_spool_answers_503_and_says_so(
    spool: Path,
    settings: Any,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("connection refused")

    monkeypatch.setattr(views, "ingest", unavailable)
    first = post_event(client, "linkedin.message.received", {"prospectId": "p_1"})
    assert first.status_code == 202
    size = sum(path.stat().st_size for path in spool.glob(f"*{SUFFIX}"))
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_MAX_BYTES": size + 100}
    second = post_event(client, "linkedin.message.received", {"prospectId": "p_2"})
    assert second.status_code == 503
    assert "is full" in caplog.text
    assert len(list(spool.glob(f"*{SUFFIX}"))) == 1
