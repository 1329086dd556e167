"""The status machine of a stored event: its states, and the groups of them everyone asks about.

Every transition, and who makes it::

    from                                 to          by
    (new)                                received    ingest: a usable event, stored
    (new)                                invalid     ingest: authentic, not a usable event;
                                                     never dispatched
    received, queued (when due)          processing  a worker's claim (its time is the token)
    processing (claim > PROCESSING_TIMEOUT)
                                         processing  another worker's claim: the first died
    processing                           processed   every receiver succeeded
    processing                           queued      a receiver failed, attempts left
                                                     (``next_attempt_at`` is the retry)
    processing                           failed      a receiver failed on the last attempt
    received, queued, failed             ignored     an operator's "mark ignored"
    received, queued, processed,         queued      an operator's replay (attempts reset)
      failed, ignored

``processed``, ``failed``, ``ignored`` and ``invalid`` are where an event rests. The questions
asked of the table (which events are due, claimable, stale, prunable...) are the queryset's
(``WebhookEvent.objects``, in :mod:`django_kakiyo.models`), built on the groups below.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    RECEIVED = "received", _("received")
    QUEUED = "queued", _("queued")
    PROCESSING = "processing", _("processing")
    PROCESSED = "processed", _("processed")
    FAILED = "failed", _("failed")
    IGNORED = "ignored", _("ignored")
    INVALID = "invalid", _("invalid")


#: Waiting for a worker: may be claimed once due.
PENDING = (Status.RECEIVED, Status.QUEUED)
#: Not finished: pending, or in a worker's hands.
UNFINISHED = (*PENDING, Status.PROCESSING)
#: What an operator may replay: anything but invalid (no usable event) and claimed.
REPLAYABLE = (*PENDING, Status.PROCESSED, Status.FAILED, Status.IGNORED)
#: What an operator may ignore: what has not been processed.
IGNORABLE = (*PENDING, Status.FAILED)
#: What retention may delete: finished with, by a worker or an operator.
PRUNABLE = (Status.PROCESSED, Status.IGNORED)
