"""The bench's PostgreSQL database: created if missing, emptied between rounds, what it holds."""

from __future__ import annotations

#: Statuses of an event the worker has not finished with.
PENDING = ("received", "queued", "processing")


def ensure_database(url: str) -> None:
    """Create the database ``url`` names when it does not exist (PostgreSQL only)."""
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def reset_events() -> None:
    """Empty the event tables, then CHECKPOINT so every round starts from the same state."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE django_kakiyo_receiveroutcome, django_kakiyo_webhookevent, "
            "django_kakiyo_rejectedrequest RESTART IDENTITY"
        )
        cursor.execute("CHECKPOINT")


def wal_lsn() -> str:
    """PostgreSQL's current WAL position (the whole cluster: other databases write too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return str(cursor.fetchone()[0])


def wal_bytes_since(lsn: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [lsn])
        return int(cursor.fetchone()[0])


def status_counts() -> dict[str, int]:
    """Events per status."""
    from django.db.models import Count

    from django_kakiyo.models import WebhookEvent

    rows = WebhookEvent.objects.order_by().values_list("status").annotate(n=Count("pk"))
    return {status: n for status, n in rows}


def database_pids() -> list[int]:
    """PostgreSQL backends connected to the bench database, and PostgreSQL's writers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "OR backend_type IN ('checkpointer', 'background writer', 'walwriter')"
        )
        return [row[0] for row in cursor.fetchall()]


def broker_backlog(broker_url: str) -> int:
    """Messages waiting in the default Celery queue."""
    import redis

    return int(redis.Redis.from_url(broker_url).llen("celery"))
