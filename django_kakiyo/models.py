"""The stored deliveries: ``WebhookEvent`` (authentic) and ``RejectedRequest`` (refused).

An event's status machine is :mod:`django_kakiyo.status`. The questions asked of the events
table (due, claimable, stale, prunable, unfinished...) are ``WebhookEvent.objects``'s, here,
once: processing, the sweeper, the operator actions, retention and the stats page ask them
instead of each writing its own ``Q`` objects over the statuses.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Case, F, IntegerField, Q, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .date_hierarchy import CheapDatetimesQuerySet
from .envelope import MAX_EVENT_TYPE_LENGTH
from .event_ids import MAX_ID_LENGTH
from .monitoring_tables import DeliveryRisk, Tally
from .refusal_table import RejectedRequest
from .status import PENDING, PRUNABLE, UNFINISHED, Status
from .webhook_endpoints import WebhookEndpoint

__all__ = ["DeliveryRisk", "ReceiverOutcome", "RejectedRequest", "Tally", "WebhookEndpoint",
           "WebhookEvent"]  # fmt: skip

#: The permission to read events (Django's own, from ``Meta.default_permissions``).
VIEW_PERMISSION = "django_kakiyo.view_webhookevent"
#: The permission to replay and ignore events: in the admin, the API and nowhere else.
REPLAY_PERMISSION = "django_kakiyo.replay_webhookevent"


def claim_expiry(claimed_at: dt.datetime, timeout: float) -> dt.datetime:
    """When a claim made at ``claimed_at`` counts as abandoned (its worker died)."""
    return claimed_at + dt.timedelta(seconds=timeout)


class WebhookEventQuerySet(CheapDatetimesQuerySet["WebhookEvent"]):
    def pending(self) -> WebhookEventQuerySet:
        """Received or queued: waiting for a worker."""
        return self.filter(status__in=PENDING)

    def unfinished(self) -> WebhookEventQuerySet:
        """Pending or in a worker's hands."""
        return self.filter(status__in=UNFINISHED)

    def due(self, now: dt.datetime) -> WebhookEventQuerySet:
        """Pending and due now (a retry waits for its ``next_attempt_at``)."""
        return self.pending().filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))

    def abandoned_claims(self, now: dt.datetime, timeout: float) -> WebhookEventQuerySet:
        """Claimed longer than ``timeout`` seconds ago: their worker died holding them."""
        return self.filter(
            status=Status.PROCESSING,
            status_changed_at__lt=now - dt.timedelta(seconds=timeout),
        )

    def claimable(self, now: dt.datetime, timeout: float) -> WebhookEventQuerySet:
        """What a worker may claim now: due, or an abandoned claim."""
        return self.due(now) | self.abandoned_claims(now, timeout)

    def claimed_at(self, token: dt.datetime) -> WebhookEventQuerySet:
        """The events a claim made at ``token`` still holds (the claim time is its token)."""
        return self.filter(status=Status.PROCESSING, status_changed_at=token)

    def stale(self, now: dt.datetime, older_than: float, timeout: float) -> WebhookEventQuerySet:
        """What the sweeper enqueues again: pending events due more than ``older_than``
        seconds ago (their message was lost), and abandoned claims."""
        cutoff = now - dt.timedelta(seconds=older_than)
        lost = self.pending().filter(
            Q(next_attempt_at__lt=cutoff)
            | Q(next_attempt_at__isnull=True, status_changed_at__lt=cutoff)
        )
        return lost | self.abandoned_claims(now, timeout)

    def prunable(self, cutoff: dt.datetime) -> WebhookEventQuerySet:
        """Finished events received before ``cutoff``, which retention may delete."""
        return self.filter(received_at__lt=cutoff, status__in=PRUNABLE)


class WebhookEvent(models.Model):
    """One authentic Kakiyo delivery, stored before it is acknowledged.

    Kakiyo sends no event id, so ``dedup_key`` (the SHA-256 of the bytes the signature
    covered) identifies a delivery: a re-delivery finds the same key and only bumps
    ``delivery_count``. The raw body is kept byte for byte; ``payload`` is its parsed form.
    """

    #: The status machine: :mod:`django_kakiyo.status`.
    Status = Status

    class SignatureMethod(models.TextChoices):
        RAW = "raw", _("raw body")
        CANONICAL = "canonical", _("re-serialised body")
        UNSIGNED = "unsigned", _("nothing: an unsigned endpoint")

    event_type = models.CharField(
        _("event type"),
        max_length=MAX_EVENT_TYPE_LENGTH,
        blank=True,
        help_text=_('The payload\'s "event", e.g. linkedin.message.received.'),
    )
    team_id = models.CharField(_("team id"), max_length=MAX_ID_LENGTH, blank=True)
    agent_id = models.CharField(_("agent id"), max_length=MAX_ID_LENGTH, blank=True)
    campaign_id = models.CharField(_("campaign id"), max_length=MAX_ID_LENGTH, blank=True)
    chat_id = models.CharField(_("chat id"), max_length=MAX_ID_LENGTH, blank=True)
    prospect_id = models.CharField(_("prospect id"), max_length=MAX_ID_LENGTH, blank=True)
    occurred_at = models.DateTimeField(
        _("occurred at"),
        null=True,
        blank=True,
        help_text=_("The event's own timestamp, as Kakiyo sent it."),
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    last_received_at = models.DateTimeField(
        _("last received at"),
        default=timezone.now,
        help_text=_("When the latest copy of this delivery arrived."),
    )
    delivery_count = models.PositiveIntegerField(
        _("deliveries"),
        default=1,
        help_text=_("How many times this exact delivery arrived (Kakiyo retries)."),
    )

    payload = models.JSONField(
        _("payload"),
        null=True,
        blank=True,
        help_text=_(
            "The parsed body; empty when the body is not JSON. NUL characters and unpaired "
            "surrogates, which databases cannot store, are replaced by U+FFFD."
        ),
    )
    raw_body = models.BinaryField(_("raw body"), help_text=_("The body exactly as received."))
    headers = models.JSONField(
        _("headers"),
        default=dict,
        blank=True,
        help_text=_("Request headers, with the signature and credentials redacted."),
    )
    remote_addr = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, models.SET_NULL, null=True, blank=True, related_name="deliveries",
        verbose_name=_("endpoint"), help_text=_("Empty: delivered to the settings URL."),
        db_index=False,  # kakiyo_event_endpoint_idx, below: only rows that have one
    )  # fmt: skip
    signature_method = models.CharField(
        _("signature verified on"),
        max_length=16,
        choices=SignatureMethod.choices,
        default=SignatureMethod.RAW,
    )
    dedup_key = models.CharField(
        _("deduplication key"),
        max_length=64,
        help_text=_("SHA-256 of the exact bytes the signature covered."),
    )

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    invalid_reason = models.CharField(
        _("invalid reason"),
        max_length=64,
        blank=True,
        help_text=_("Why an authentic delivery was not dispatched (stale, not an object...)."),
    )
    next_attempt_at = models.DateTimeField(
        _("next attempt at"),
        null=True,
        blank=True,
        help_text=_("When a received or queued event is due to be processed."),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    last_traceback = models.TextField(_("last traceback"), blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    history = models.JSONField(
        _("history"),
        default=list,
        blank=True,
        help_text=_("Operator actions on this event (replays, ignores): when, what, by whom."),
    )

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-id"]
        get_latest_by = "received_at"
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="kakiyo_event_received_idx"),
            models.Index(fields=["event_type", "-received_at"], name="kakiyo_event_type_idx"),
            models.Index(fields=["status", "-received_at"], name="kakiyo_event_status_idx"),
            models.Index(fields=["team_id", "-received_at"], name="kakiyo_event_team_idx"),
            models.Index(fields=["prospect_id"], name="kakiyo_event_prospect_idx"),
            # Per-prospect ordering asks "is an earlier event of this prospect unfinished?" at
            # every claim: only unfinished events are in this index, so it stays small.
            models.Index(
                fields=["prospect_id", "id"],
                condition=Q(status__in=UNFINISHED),
                name="kakiyo_event_unfinished_idx",
            ),
            # health/ and metrics/ count the events that failed in the last hour.
            models.Index(
                fields=["status_changed_at"],
                condition=Q(status=Status.FAILED),
                name="kakiyo_event_failed_idx",
            ),
            models.Index(fields=["campaign_id"], name="kakiyo_event_campaign_idx"),
            models.Index(fields=["chat_id"], name="kakiyo_event_chat_idx"),
            models.Index(fields=["agent_id"], name="kakiyo_event_agent_idx"),
            # An endpoint's events (its filter, SET_NULL when it is deleted); the settings
            # URL's rows stay out, so their inserts never touch it.
            models.Index(
                fields=["endpoint", "-received_at"],
                condition=Q(endpoint__isnull=False),
                name="kakiyo_event_endpoint_idx",
            ),
        ]
        constraints = [
            # A constraint rather than unique=True: on PostgreSQL, unique=True on a CharField
            # also makes a varchar_pattern_ops index for LIKE queries, which no query here
            # runs and every insert and status change would have to maintain.
            models.UniqueConstraint(fields=["dedup_key"], name="kakiyo_event_dedup_key_uniq"),
        ]
        permissions = [
            # Replaying runs receivers again and ignoring makes an event prunable: both change
            # what happens to customer data, so the view permission alone does not allow them.
            ("replay_webhookevent", _("Can replay and ignore webhook events")),
        ]

    #: Statuses from which an event may still be processed.
    PENDING_STATUSES = PENDING

    def __str__(self) -> str:
        return f"{self.event_type or _('(no event type)')} #{self.pk}"


#: Outcome rows that saw a failure (the condition of ``kakiyo_outcome_failures_idx``), and
#: a receiver's failed attempts on one event: all of them, but the last when it succeeded.
SAW_A_FAILURE = Q(status="failed") | Q(attempts__gt=1)
FAILED_ATTEMPTS = Case(
    When(status="succeeded", then=F("attempts") - 1), default=F("attempts"),
    output_field=IntegerField(),
)  # fmt: skip


class ReceiverOutcome(models.Model):
    """What one receiver did with one event: so a retry runs only the receivers that failed.

    Written in the same transaction as the receiver's own database work (its savepoint): a
    ``succeeded`` row commits exactly with what the receiver wrote, and a receiver whose row
    says ``succeeded`` is not run again by an automatic retry. Receivers are named by their
    dotted path (``module.qualname``).
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    event = models.ForeignKey(
        WebhookEvent,
        on_delete=models.CASCADE,
        related_name="receiver_outcomes",
        verbose_name=_("webhook event"),
    )
    receiver = models.CharField(_("receiver"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("receiver outcome")
        verbose_name_plural = _("receiver outcomes")
        ordering = ["event", "receiver"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "receiver"], name="kakiyo_outcome_event_receiver_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["receiver", "status", "-updated_at"], name="kakiyo_outcome_receiver_idx"
            ),
            # Failures by receiver, ever (metrics/) and in a period (the stats page): only
            # the rows that saw one, and all the queries read in the index.
            models.Index(
                fields=["receiver", "status", "attempts"],
                condition=SAW_A_FAILURE,
                name="kakiyo_outcome_failures_idx",
            ),
            models.Index(
                fields=["updated_at", "receiver", "status", "attempts"],
                condition=SAW_A_FAILURE,
                name="kakiyo_outcome_failed_at_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receiver}: {self.status} (event #{self.event_id})"
