"""What each answer of the webhook tells: its tallies, and its weight in Kakiyo's rule that
four failed deliveries in a row disable the webhook.

Called by the webhook view once the answer is sent (:func:`record_answer`). Whether the
webhook is at risk, and for how long, is kept in the database (:class:`DeliveryRisk`, a row a
kind) so that every process and host sees it: a failure of a kind adds to the row's
``consecutive`` (started again at 1 when a good answer came since the last one); a good
answer (2xx within Kakiyo's 10 s) sets ``cleared_at``, which ends the risk (a process
looks for a risk to end at once after a failure it saw, else every :data:`CLEAR_EVERY`
seconds). While the database is down (the usual cause of 503s) the failures are counted in
this process's memory, the signal and the log say so at once, and the counts are written
with this process's next write.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError
from django.db.models import F, Q
from django.utils import timezone

from .conf import kakiyo_settings
from .models import DeliveryRisk
from .signals import webhook_at_risk
from .tallies import REQUEST_BUCKETS, Counts, pending, quick_transaction, write
from .tally_writer import tally_writer

logger = logging.getLogger(__name__)

#: Seconds Kakiyo waits for an answer; a slower one is a failed delivery, whatever it says.
KAKIYO_TIMEOUT = 10.0
Kind = DeliveryRisk.Kind


@dataclass(frozen=True)
class Answer:
    """One answer of the webhook, as :func:`record_answer` counts it.

    ``outcome``: accepted, duplicate, invalid, rejected (with ``reason``), spooled,
    unavailable, or error (an exception became a 500). ``signature_refused``: a well-formed
    signature did not verify. ``database_up``: False when the answer itself found the
    database unavailable (no point trying it again now).
    """

    status: int
    outcome: str
    seconds: float = 0.0
    reason: str = ""
    event_type: str = ""
    signature_refused: bool = False
    database_up: bool = True
    #: The name of the endpoint whose URL answered ("": the settings URL, or none known).
    endpoint: str = ""

    @property
    def good(self) -> bool:
        """What Kakiyo counts as a delivered event: a 2xx in time."""
        return 200 <= self.status < 300 and self.seconds <= KAKIYO_TIMEOUT

    @property
    def risk(self) -> tuple[str, str] | None:
        """``(kind, reason)`` when this answer counts towards disabling the webhook."""
        if self.seconds > KAKIYO_TIMEOUT:
            return Kind.ANSWERS, "slow"
        if self.status == 503:
            return Kind.ANSWERS, "unavailable"
        if self.status >= 500:
            return Kind.ANSWERS, "server_error"
        if self.signature_refused:
            return Kind.SIGNATURES, "signatures"
        return None


@dataclass
class _Burst:
    count: int
    first: dt.datetime
    last: dt.datetime


class _Unwritten:
    """Failures this process saw while the database was away, by kind; written (then
    forgotten) with this process's next write."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bursts: dict[str, _Burst] = {}

    def add(self, kind: str, now: dt.datetime) -> int:
        with self.lock:
            burst = self.bursts.setdefault(kind, _Burst(0, now, now))
            burst.count, burst.last = burst.count + 1, now
            return burst.count

    def take(self) -> dict[str, _Burst]:
        with self.lock:
            taken, self.bursts = self.bursts, {}
            return taken

    def __bool__(self) -> bool:
        return bool(self.bursts)

    def put_back(self, bursts: dict[str, _Burst]) -> None:
        with self.lock:
            for kind, burst in bursts.items():
                self.bursts.setdefault(kind, burst)


_unwritten = _Unwritten()


class _Clearing:
    """When a good answer should look for a risk to end: at once after this process saw a
    failure, else at most every :data:`CLEAR_EVERY` seconds (a risk another process recorded
    ends within that long), so a good answer seldom costs a statement more."""

    def __init__(self) -> None:
        self.last = -CLEAR_EVERY
        self.saw_failure = False

    def failed(self) -> None:
        self.saw_failure = True

    def due(self, saw_failure: bool = False) -> bool:
        now = time.monotonic()
        if not (saw_failure or self.saw_failure or now - self.last >= CLEAR_EVERY):
            return False
        self.last, self.saw_failure = now, False
        return True


#: Seconds between a process's looks for a risk another process recorded, to end it.
CLEAR_EVERY = 5.0
_clearing = _Clearing()


def threshold(kind: str) -> int:
    """Failures of ``kind`` in a row that put the webhook at risk."""
    if kind == Kind.SIGNATURES:
        return max(1, int(kakiyo_settings.health()["SIGNATURE_FAILURES"]))
    return 1


def record_answer(answer: Answer) -> None:
    """Count ``answer`` (tallies), update the at-risk state, and when the answer puts the
    webhook at risk, log a warning and send :data:`~django_kakiyo.signals.webhook_at_risk`.
    Never raises: the answer is already sent. An answer that changes nothing about the risk
    is only kept in memory, for :mod:`~django_kakiyo.tally_writer` to write with the others
    of its second (``COUNT_ANSWERS_EVERY``; 0 writes each at once)."""
    now = timezone.now()
    counts = Counts().answer(
        now, answer.outcome, answer.reason, answer.event_type, endpoint=answer.endpoint
    )
    counts.observe("request_seconds", answer.seconds, REQUEST_BUCKETS)
    risk = answer.risk
    clear = answer.database_up and answer.good and _clearing.due(bool(_unwritten))
    if answer.database_up and risk is None and not clear and _batched():
        pending.keep(counts)  # written within the second (tally_writer), with the others
        tally_writer.soon()
        return
    consecutive: int | None = None
    written = False
    if answer.database_up:
        try:
            consecutive = _write(counts, risk, now, clear=clear)
            written = True
        except DatabaseError:
            logger.warning("Could not record a Kakiyo webhook answer; kept in memory")
    else:
        pending.keep(counts)
        tally_writer.soon()
    if not written and risk is not None:
        consecutive = _unwritten.add(risk[0], now)
    if risk is not None and consecutive is not None and consecutive >= threshold(risk[0]):
        _alert(answer, risk[1], consecutive)


def _batched() -> bool:
    """Whether answers that change nothing about the risk are written a second at a time
    (``COUNT_ANSWERS_EVERY``) rather than each at once."""
    return float(kakiyo_settings.COUNT_ANSWERS_EVERY) > 0


def _write(
    counts: Counts, risk: tuple[str, str] | None, now: dt.datetime, *, clear: bool
) -> int | None:
    """Write the tallies (with what this process kept) and the risk in one short
    transaction, ending the risk when ``clear``; the risk's ``consecutive`` after it.
    Whatever fails is kept for later."""
    counts.merge(pending.take())
    unwritten = _unwritten.take()
    try:
        with quick_transaction():
            write(counts, in_transaction=True)
            for kind, burst in unwritten.items():
                _add_failures(kind, burst)
            if clear:
                DeliveryRisk.objects.filter(
                    Q(cleared_at__isnull=True) | Q(last_at__gt=F("cleared_at")),
                    last_at__isnull=False,
                ).update(cleared_at=now)
            if risk is None:
                return None
            _clearing.failed()
            return _add_failures(risk[0], _Burst(1, now, now))
    except DatabaseError:
        pending.keep(counts)
        _unwritten.put_back(unwritten)
        raise


def _add_failures(kind: str, burst: _Burst) -> int:
    row, _ = DeliveryRisk.objects.select_for_update().get_or_create(kind=kind)
    if row.active:
        row.consecutive += burst.count
    else:
        row.consecutive, row.since = burst.count, burst.first
    row.last_at = max(burst.last, row.last_at) if row.last_at else burst.last
    row.save()
    return row.consecutive


def _alert(answer: Answer, reason: str, consecutive: int) -> None:
    logger.warning(
        "Kakiyo webhook at risk (%s): %s answer(s) in a row that Kakiyo counts as failed "
        "deliveries (it disables the webhook after four); last: HTTP %s in %.1f s",
        reason, consecutive, answer.status, answer.seconds,
    )  # fmt: skip
    webhook_at_risk.send_robust(
        sender=DeliveryRisk, reason=reason, consecutive=consecutive, status=answer.status,
        seconds=answer.seconds, detail=answer.reason or answer.outcome,
    )  # fmt: skip


def current_risks() -> list[DeliveryRisk]:
    """The kinds of failure that put the webhook at risk now (read from the database)."""
    return [
        row
        for row in DeliveryRisk.objects.filter(last_at__isnull=False)
        if row.active and row.consecutive >= threshold(row.kind)
    ]
