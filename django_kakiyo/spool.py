"""Keep verified deliveries on local disk while the database is unavailable; import them later.

Kakiyo disables a webhook after four failed attempts over about seven seconds, so a short
database restart would otherwise cost the webhook, and answering 2xx without storing would
lose the event. With ``KAKIYO['SPOOL_DIR']`` set, a delivery that could not be stored is
written to a file there (written, fsync'd, then linked into place, so a file is either whole or
absent), acknowledged with 202, and imported once the database answers again: by the web
process that spooled it (in a background thread after its next successful store), by the
sweeper task, or by ``manage.py kakiyo_import_spool``.

The spool is not trusted more than the network: each record carries an HMAC keyed from
``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` honoured, so a key rotation during an outage loses
nothing), checked on import with the record's ``received_at`` and team binding; a file that
fails for any reason but an outage is set aside in ``failed/`` with the reason logged, and the
import goes on. Files are named by dedup key and created exclusively, so copies of one delivery
make one file; ``SPOOL_MAX_BYTES`` caps the directory. Import is exactly once: the unique dedup
key makes a second insert a duplicate, and a file whose row is already there with the same
``received_at`` (an import that died before deleting its file) is only deleted.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .conf import kakiyo_settings
from .database import is_outage
from .envelope import MAX_CLOCK_SKEW
from .exceptions import DatabaseUnavailable
from .ingest import Delivery, ingest
from .models import WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

SUFFIX = ".delivery.json"
#: Where files that cannot be imported are set aside, inside the spool directory.
FAILED_DIR = "failed"
VERSION = 2
_MAC_SALT = "django_kakiyo.spool.v2"
# Set when this process spooled something; its next successful store imports the spool.
_spooled = threading.Event()


class SpoolFull(OSError):
    """The spool holds ``SPOOL_MAX_BYTES`` already."""


class BadRecord(ValueError):
    """A spool file that is not an authentic, importable record; it is set aside."""


def spool_dir() -> Path | None:
    value = kakiyo_settings.SPOOL_DIR
    return Path(value) if value else None


def spool_delivery(delivery: Delivery) -> Path:
    """Write ``delivery`` durably to the spool; raises OSError (SpoolFull) if it cannot.

    A copy of a delivery already spooled leaves the first file as it is.
    """
    directory = _ensure_directory()
    record = _record(delivery)
    usage = _usage(directory)
    if usage + len(record) > int(kakiyo_settings.SPOOL_MAX_BYTES):
        logger.error(
            "Kakiyo spool %s is full (%s bytes, KAKIYO['SPOOL_MAX_BYTES'] is %s): deliveries "
            "are answered 503 until the database is back and the spool is imported",
            directory,
            usage,
            kakiyo_settings.SPOOL_MAX_BYTES,
        )
        raise SpoolFull(f"spool is full: {usage} bytes")
    final = directory / f"{delivery.dedup_key}{SUFFIX}"
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(record)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, final)  # fails if the file exists: one file per delivery
    except FileExistsError:
        pass
    finally:
        Path(temporary).unlink(missing_ok=True)
    _fsync_directory(directory)
    _usage_cache["bytes"] = usage + len(record)
    _spooled.set()
    return final


def _ensure_directory() -> Path:
    directory = spool_dir()
    if directory is None:
        raise OSError("KAKIYO['SPOOL_DIR'] is not set")
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is masked by the umask
    return directory


_usage_cache: dict[str, Any] = {"at": -1.0, "bytes": 0}


def _usage(directory: Path) -> int:
    """Bytes in the spool, recounted at most once a second (a scan per request is wasteful
    during an outage, when every request comes here)."""
    if time.monotonic() - _usage_cache["at"] > 1.0:
        total = sum(entry.stat().st_size for entry in os.scandir(directory) if entry.is_file())
        _usage_cache.update({"at": time.monotonic(), "bytes": total})
    return int(_usage_cache["bytes"])


def _mac(content: dict[str, Any], key: str) -> str:
    message = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return salted_hmac(_MAC_SALT, message, secret=key, algorithm="sha256").hexdigest()


def _record(delivery: Delivery) -> bytes:
    content = {
        "version": VERSION,
        "signed_bytes": base64.b64encode(delivery.signed_bytes).decode(),
        "raw_body": base64.b64encode(delivery.raw_body).decode(),
        "signature_method": delivery.signature_method,
        "headers": delivery.headers,
        "remote_addr": delivery.remote_addr,
        "received_at": delivery.received_at.isoformat(),
        "team": delivery.team,
        "endpoint": delivery.endpoint_id,
    }
    content["mac"] = _mac(content, settings.SECRET_KEY)
    return json.dumps(content).encode()


def read_spooled(path: Path) -> Delivery:
    """The delivery a spool file holds; raises BadRecord unless it is authentic and sound."""
    try:
        content = json.loads(path.read_bytes())
        mac = content.pop("mac")
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as error:
        raise BadRecord(f"unreadable: {error}") from error
    if content.get("version") != VERSION:
        raise BadRecord(f"version {content.get('version')!r}, not {VERSION}")
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(_mac(content, key), str(mac)) for key in keys):
        raise BadRecord("its HMAC does not match: not written by this site")
    try:
        delivery = Delivery(
            signed_bytes=base64.b64decode(content["signed_bytes"], validate=True),
            raw_body=base64.b64decode(content["raw_body"], validate=True),
            signature_method=str(content["signature_method"]),
            headers=dict(content["headers"]),
            remote_addr=content["remote_addr"],
            received_at=dt.datetime.fromisoformat(content["received_at"]),
            team=content["team"],
            # Absent from files spooled before endpoints existed (the settings URL's).
            endpoint_id=content.get("endpoint"),
        )
    except (KeyError, ValueError, TypeError) as error:
        raise BadRecord(f"malformed: {error!r}") from error
    if delivery.received_at > timezone.now() + dt.timedelta(seconds=MAX_CLOCK_SKEW):
        raise BadRecord(f"received_at {delivery.received_at.isoformat()} is in the future")
    return delivery


@dataclass(frozen=True)
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    locked: bool = False


def import_spool(limit: int | None = None) -> ImportResult:
    """Store every spooled delivery, oldest first, deleting each file once it is stored.

    Stops at the first sign that the database is still unavailable and leaves the rest for
    the next run. A file that fails for any other reason is set aside in ``failed/``, with the
    reason logged, and the import goes on with the next.
    """
    directory = spool_dir()
    if directory is None or not directory.is_dir():
        return ImportResult()
    imported = duplicates = failed = 0
    with _import_lock(directory) as acquired:
        if not acquired:
            return ImportResult(locked=True)
        for path in _oldest_first(directory)[:limit]:
            try:
                stored = _import_one(path)
            except DatabaseUnavailable as error:
                logger.warning("Kakiyo spool import paused, database unavailable: %s", error)
                break
            except Exception as error:  # bad data, a refused binding, a bug: never a wedge
                logger.error(
                    "Spooled Kakiyo delivery %s set aside in %s/: %s", path.name, FAILED_DIR, error
                )
                _set_aside(path)
                failed += 1
                continue
            imported += stored
            duplicates += not stored
            path.unlink()
    if imported or duplicates or failed:
        logger.info(
            "Imported %s spooled Kakiyo deliveries (%s duplicates, %s set aside)",
            imported,
            duplicates,
            failed,
        )
    return ImportResult(imported=imported, duplicates=duplicates, failed=failed)


def _oldest_first(directory: Path) -> list[Path]:
    entries = []
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            entries.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue  # imported by another process meanwhile
    return [path for _, _, path in sorted(entries)]


def _import_one(path: Path) -> bool:
    """Store one spooled delivery; True when it made a new row."""
    delivery = read_spooled(path)
    try:
        if _already_imported(delivery):
            return False
        if delivery.endpoint_id is not None and not _endpoint_exists(delivery.endpoint_id):
            # Deleted since: the delivery was authentic when it came; keep it, unattached.
            delivery = dataclasses.replace(delivery, endpoint_id=None)
    except Exception as error:
        if is_outage(error):
            raise DatabaseUnavailable(str(error)) from error
        raise
    return not ingest(delivery).duplicate


def _endpoint_exists(pk: int) -> bool:
    return WebhookEndpoint.objects.filter(pk=pk).exists()


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
        import_spool()
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


def _set_aside(path: Path) -> None:
    failed = path.parent / FAILED_DIR
    failed.mkdir(mode=0o700, exist_ok=True)
    path.replace(failed / path.name)


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
