"""The webhook's terms with its database: a bounded wait, and an outage told from bad data.

Kakiyo waits 10 seconds for an answer, so the webhook may not wait longer on a locked table
or a stuck server than :data:`~django_kakiyo.conf.DEFAULTS` ``STORE_TIMEOUT``, whatever the
project's ``DATABASES`` options say. And only faults that pass may send a delivery to the spool:
data the database refuses would be refused again at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError, connection, transaction

from .conf import kakiyo_settings

# PostgreSQL SQLSTATEs that mean "not now" rather than "not this": the server is read-only
# (a failover in progress) or the connection broke. Most such faults already arrive as
# OperationalError; these do not.
_PASSING_SQLSTATES = frozenset({"25006"})
_PASSING_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable or stuck, not that data is bad.

    Refused or lost connections, lock and statement timeouts, too many connections, a
    server shutting down or read-only: yes. A value the database refuses (DataError), a
    missing table (ProgrammingError), a constraint (IntegrityError): no.
    """
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    state = getattr(error.__cause__, "sqlstate", None) or ""
    return state in _PASSING_SQLSTATES or state[:2] in _PASSING_SQLSTATE_CLASSES


@contextmanager
def bounded_transaction(*, wait_for_flush: bool = True) -> Iterator[None]:
    """A transaction that waits at most ``STORE_TIMEOUT`` seconds for locks and statements.

    On PostgreSQL it sets ``lock_timeout`` and ``statement_timeout`` for this transaction only
    (``set_config(..., true)``: reset at its end, so the connection's other users never see
    them); a timeout then raises an OperationalError, which :func:`is_outage` counts as an
    outage. SQLite's wait for its write lock is the ``timeout`` database option.
    ``wait_for_flush=False`` also turns ``synchronous_commit`` off for it, in the same round
    trip: its commit does not wait for the WAL flush (for counts, never for events).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            limit = f"{max(1, round(float(kakiyo_settings.STORE_TIMEOUT) * 1000))}ms"
            no_flush = "" if wait_for_flush else "set_config('synchronous_commit', 'off', true), "
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {no_flush}set_config('lock_timeout', %s, true), "
                    "set_config('statement_timeout', %s, true)",
                    [limit, limit],
                )
        yield
