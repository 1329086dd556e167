"""A prospect and its timeline, kept up to date by the Kakiyo receivers."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Prospect(models.Model):
    class Stage(models.TextChoices):
        INVITED = "invited", _("invited")
        CONNECTED = "connected", _("connected")
        IN_CONVERSATION = "in_conversation", _("in conversation")
        REPLIED = "replied", _("replied")
        NEEDS_REVIEW = "needs_review", _("needs review")
        QUALIFIED = "qualified", _("qualified")
        UNQUALIFIED = "unqualified", _("unqualified")

    kakiyo_id = models.CharField(_("Kakiyo prospect id"), max_length=255, unique=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    campaign_id = models.CharField(_("campaign id"), max_length=255, blank=True)
    stage = models.CharField(_("stage"), max_length=32, choices=Stage.choices, blank=True)
    last_reply = models.TextField(_("last reply"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("prospect")
        verbose_name_plural = _("prospects")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.kakiyo_id


class TimelineEntry(models.Model):
    prospect = models.ForeignKey(
        Prospect, on_delete=models.CASCADE, related_name="timeline", verbose_name=_("prospect")
    )
    event = models.OneToOneField(
        "django_kakiyo.WebhookEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("webhook event"),
        help_text=_("One entry per event: a replayed event updates its entry, never adds one."),
    )
    kind = models.CharField(_("kind"), max_length=100)
    text = models.TextField(_("text"), blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.prospect})"
