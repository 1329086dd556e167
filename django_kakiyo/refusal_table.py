"""The table of refused requests: ``RejectedRequest``, a bounded record of what the webhook
refused and why. Kept by :mod:`django_kakiyo.rejections`; registered with the app by
:mod:`django_kakiyo.models`, which imports it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RejectedRequest(models.Model):
    """A request the endpoint refused, kept so an operator can see why deliveries fail.

    Only a bounded prefix of the body is kept and the table is capped
    (``REJECTED_REQUESTS_MAX_ROWS``), so a flood of junk cannot fill the disk.
    """

    class Reason(models.TextChoices):
        VERIFICATION_FAILED = "verification_failed", _("signature verification failed")
        PAYLOAD_TOO_LARGE = "payload_too_large", _("payload too large")
        UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", _("unsupported media type")
        TEAM_MISMATCH = "team_mismatch", _("signed with another team's secret")
        LENGTH_REQUIRED = "length_required", _("length required")
        UNKNOWN_ENDPOINT = "unknown_endpoint", _("unknown or disabled endpoint")

    reason = models.CharField(_("reason"), max_length=32, choices=Reason.choices)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    remote_addr = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    method = models.CharField(_("method"), max_length=16, blank=True)
    path = models.CharField(_("path"), max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    content_length = models.PositiveBigIntegerField(
        _("declared size"), null=True, blank=True, help_text=_("The Content-Length header.")
    )
    body_prefix = models.BinaryField(
        _("body"),
        blank=True,
        help_text=_("The first bytes of the body, or all of it (see body_complete)."),
    )
    body_complete = models.BooleanField(
        _("whole body kept"),
        default=False,
        help_text=_("The body above is the whole body, so the request can be verified again."),
    )
    signature = models.CharField(
        _("signature"),
        max_length=64,
        blank=True,
        help_text=_("A well-formed X-Kakiyo-Signature it carried (a refused one is no secret)."),
    )
    headers = models.JSONField(_("headers"), default=dict, blank=True)

    class Meta:
        verbose_name = _("rejected request")
        verbose_name_plural = _("rejected requests")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="kakiyo_rejected_received_idx"),
            models.Index(fields=["reason", "-received_at"], name="kakiyo_rejected_reason_idx"),
            models.Index(
                fields=["id"], condition=Q(body_complete=True), name="kakiyo_rejected_whole_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} #{self.pk}"
