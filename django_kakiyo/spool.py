"""Keep verified deliveries on local disk while the database is down, and import them later.

Kakiyo disables a webhook after four failed attempts over about seven seconds, so a short
database restart would otherwise cost the webhook, and answering 2xx without storing would
lose the event. With ``KAKIYO['SPOOL_DIR']`` set, a delivery that could not be stored is
written to a file there (written, fsync'd, then renamed into place, so a file is either whole
or absent), acknowledged with 202, and imported once the database answers again: by the web
process that spooled it (in a background thread after its next successful store), by the
sweeper task, or by ``manage.py kakiyo_import_spool``.

Import is exactly once: the unique dedup key makes a second insert a duplicate, and a file
whose row is already there with the same ``received_at`` (an import that crashed before
deleting its file) is only deleted, not counted again.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError, close_old_connections, connection

from .conf import kakiyo_settings
from .envelope import read_event
from .ingest import Delivery, store_event
from .models import WebhookEvent
from .signing import NOT_PARSED

logger = logging.getLogger(__name__)

SUFFIX = ".delivery.json"
FAILED_DIR = "failed"

# Set when this process spooled something; its next successful store imports the spool.
_spooled = threading.Event()


def spool_dir() -> Path | None:
    value = kakiyo_settings.SPOOL_DIR
    return Path(value) if value else None


def spool_delivery(delivery: Delivery) -> Path:
    """Write ``delivery`` durably to the spool directory; raises OSError if it cannot."""
    directory = spool_dir()
    if directory is None:
        raise OSError("KAKIYO['SPOOL_DIR'] is not set")
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "version": 1,
        "signed_bytes": base64.b64encode(delivery.signed_bytes).decode(),
        "raw_body": base64.b64encode(delivery.raw_body).decode(),
        "signature_method": delivery.signature_method,
        "headers": delivery.headers,
        "remote_addr": delivery.remote_addr,
        "received_at": delivery.received_at.isoformat(),
    }
    stamp = delivery.received_at.strftime("%Y%m%dT%H%M%S%f")
    final = directory / f"{stamp}-{delivery.dedup_key[:16]}-{os.getpid()}{SUFFIX}"
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    _spooled.set()
    return final


def read_spooled(path: Path) -> Delivery:
    record = json.loads(path.read_text(encoding="utf-8"))
    return Delivery(
        signed_bytes=base64.b64decode(record["signed_bytes"]),
        raw_body=base64.b64decode(record["raw_body"]),
        signature_method=record["signature_method"],
        headers=dict(record["headers"]),
        remote_addr=record["remote_addr"],
        received_at=dt.datetime.fromisoformat(record["received_at"]),
    )


@dataclass(frozen=True)
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    locked: bool = False


def import_spool(limit: int | None = None) -> ImportResult:
    """Store every spooled delivery, oldest first, deleting each file once it is stored.

    Stops at the first database error (the database is still down) and leaves the rest for
    the next run. A file that cannot be read is moved to ``failed/`` for an operator.
    """
    directory = spool_dir()
    if directory is None or not directory.is_dir():
        return ImportResult()
    imported = duplicates = failed = 0
    with _import_lock(directory) as acquired:
        if not acquired:
            return ImportResult(locked=True)
        for path in sorted(directory.glob(f"*{SUFFIX}"))[:limit]:
            try:
                delivery = read_spooled(path)
            except (OSError, ValueError, KeyError, TypeError) as error:
                logger.error("Unreadable spooled Kakiyo delivery %s: %s", path.name, error)
                (directory / FAILED_DIR).mkdir(exist_ok=True)
                path.replace(directory / FAILED_DIR / path.name)
                failed += 1
                continue
            try:
                if _already_imported(delivery):
                    duplicates += 1
                else:
                    event = read_event(
                        delivery.signed_bytes,
                        NOT_PARSED,
                        now=delivery.received_at,
                        replay_window=kakiyo_settings.REPLAY_WINDOW,
                    )
                    result = store_event(delivery, event)
                    duplicates += result.duplicate
                    imported += not result.duplicate
            except DatabaseError as error:
                logger.warning("Kakiyo spool import paused, database unavailable: %s", error)
                break
            path.unlink()
    if imported or duplicates or failed:
        logger.info(
            "Imported %s spooled Kakiyo deliveries (%s duplicates, %s unreadable)",
            imported,
            duplicates,
            failed,
        )
    return ImportResult(imported=imported, duplicates=duplicates, failed=failed)


def import_in_background_if_spooled() -> None:
    """After a successful store: if this process spooled deliveries, import them now.

    Runs in a thread so the request that found the database healthy again answers at once.
    """
    if not _spooled.is_set():
        return
    _spooled.clear()
    threading.Thread(target=_import_in_thread, name="kakiyo-spool-import", daemon=True).start()


def _import_in_thread() -> None:
    try:
        result = import_spool()
        if result.locked:
            return  # another process is importing the same directory
    except Exception:
        logger.exception("Importing the Kakiyo spool failed")
        _spooled.set()
    finally:
        connection.close()
        close_old_connections()


def _already_imported(delivery: Delivery) -> bool:
    # A previous import stored the row, then died before deleting the file.
    return WebhookEvent.objects.filter(
        dedup_key=delivery.dedup_key, received_at=delivery.received_at
    ).exists()


@contextmanager
def _import_lock(directory: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on the spool, shared by every process on the host."""
    with (directory / ".import.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
