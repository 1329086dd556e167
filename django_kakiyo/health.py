"""How the app is doing, in one answer for a probe: ``ok``, ``degraded`` or ``failing``.

The status is about processing. **ok**: the database (and the broker, when one is
configured) answer, no event has waited longer than ``HEALTH['MAX_WAIT']`` and no more than
``HEALTH['MAX_FAILED_LAST_HOUR']`` failed in the last hour. **degraded**: past either of those,
or the broker is down (events are stored; the sweeper sends them once it is back).
**failing**: the database is down, or more than ``HEALTH['MAX_BACKLOG']`` events wait.
Refused requests and the at-risk state are reported in their own fields and do not change
the status: a probe that restarts the web process would not fix a rotated secret.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from celery import current_app
from django.db import DatabaseError
from django.utils import timezone

from .at_risk import current_risks
from .conf import CELERY, kakiyo_settings
from .database import bounded_transaction
from .dispatch import processing_mode
from .readings import backlog, failed_since, last_event_at, oldest_unprocessed, rejected_since
from .spool import SUFFIX, spool_dir

logger = logging.getLogger(__name__)

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
UP, DOWN, NONE = "ok", "down", "none"


@dataclass
class Health:
    status: str = OK
    reasons: list[str] = field(default_factory=list)
    database: str = UP
    broker: str = NONE
    processing: str = ""
    backlog: int | None = None
    oldest_unprocessed_seconds: float | None = None
    failed_last_hour: int | None = None
    rejected_last_hour: int | None = None
    spooled: int | None = None
    last_event_at: str | None = None
    at_risk: bool = False
    risks: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def check_health(now: dt.datetime | None = None) -> Health:
    """Every reading, each from an index; never raises for a database or broker fault."""
    now = now or timezone.now()
    limits = kakiyo_settings.health()
    health = Health(processing=processing_mode(), thresholds=limits)
    health.spooled = spooled()
    health.broker = broker_state(health.processing)
    try:
        with bounded_transaction():
            health.backlog = backlog()
            oldest = oldest_unprocessed()
            if oldest is not None:
                health.oldest_unprocessed_seconds = round((now - oldest).total_seconds(), 3)
            hour_ago = now - dt.timedelta(hours=1)
            health.failed_last_hour = failed_since(hour_ago)
            health.rejected_last_hour = rejected_since(hour_ago)
            last = last_event_at()
            health.last_event_at = last.isoformat() if last else None
            risks = current_risks()
    except DatabaseError:
        logger.warning("Health check: the database is unavailable", exc_info=True)
        health.database = DOWN
        health.status = FAILING
        health.reasons.append("the database is unavailable")
        return health
    health.at_risk = bool(risks)
    health.risks = [
        {"kind": risk.kind, "consecutive": risk.consecutive,
         "since": risk.since.isoformat() if risk.since else None,
         "last_at": risk.last_at.isoformat() if risk.last_at else None, "detail": risk.detail}
        for risk in risks
    ]  # fmt: skip
    judge(health, limits)
    return health


def judge(health: Health, limits: dict[str, int]) -> None:
    """Set the status (and why) from the readings and the thresholds."""
    failing, degraded = [], []
    if (health.backlog or 0) > limits["MAX_BACKLOG"]:
        failing.append(f"{health.backlog} events wait (over {limits['MAX_BACKLOG']})")
    if (health.oldest_unprocessed_seconds or 0) > limits["MAX_WAIT"]:
        degraded.append(
            f"an event has waited {health.oldest_unprocessed_seconds:.0f} s "
            f"(over {limits['MAX_WAIT']})"
        )
    if (health.failed_last_hour or 0) > limits["MAX_FAILED_LAST_HOUR"]:
        degraded.append(
            f"{health.failed_last_hour} events failed in the last hour "
            f"(over {limits['MAX_FAILED_LAST_HOUR']})"
        )
    if health.broker == DOWN:
        degraded.append("the broker is unavailable")
    health.reasons = failing + degraded
    health.status = FAILING if failing else DEGRADED if degraded else OK


def broker_state(mode: str) -> str:
    """``"none"`` without a broker (the embedded default), else whether it answers within
    ``PUBLISH_TIMEOUT``."""
    if mode != CELERY:
        return NONE
    timeout = float(kakiyo_settings.PUBLISH_TIMEOUT)
    try:
        with current_app.connection_for_write(
            connect_timeout=timeout,
            transport_options={"max_retries": 0, "socket_connect_timeout": timeout,
                               "socket_timeout": timeout},
        ) as broker:  # fmt: skip
            broker.ensure_connection(max_retries=1, timeout=max(1, round(timeout)))
            broker.default_channel  # noqa: B018 - opening it is the check
    except Exception:  # whatever the transport raises, the broker does not answer
        return DOWN
    return UP


def spooled() -> int:
    """Deliveries waiting in this host's spool (``SPOOL_DIR``) to be imported."""
    directory = spool_dir()
    if directory is None or not directory.is_dir():
        return 0
    return sum(1 for _ in directory.glob(f"*{SUFFIX}"))
