"""The endpoints' table: ``WebhookEndpoint``, a URL of its own and its secrets, encrypted.

Each endpoint is one Kakiyo webhook pointing at ``webhook/<uuid>/``: its own secret (and the
previous one, for a grace period after a rotation), an optional team binding, and what the
last sync with Kakiyo found. Secrets are stored only encrypted (:mod:`django_kakiyo.secret_box`)
and leave this module only inside :class:`~django_kakiyo.signing.SigningSecret` objects, whose
``repr`` hides them. Registered with the app by :mod:`django_kakiyo.models`, which imports it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .event_ids import MAX_ID_LENGTH
from .secret_box import UndecryptableSecret, decrypt, encrypt
from .signing import SigningSecret

logger = logging.getLogger(__name__)

#: ``events`` of a new endpoint: every event type.
EVERY_EVENT = "*"


def every_event() -> list[str]:
    return [EVERY_EVENT]


class WebhookEndpointQuerySet(models.QuerySet["WebhookEndpoint"]):
    def named_by(self, reference: str) -> WebhookEndpoint:
        """The endpoint whose id, UUID or name is ``reference`` (DoesNotExist otherwise)."""
        reference = reference.strip()
        if reference.isdigit():
            found = self.filter(pk=int(reference)).first()
            if found is not None:
                return found
        try:
            return self.get(uuid=uuid.UUID(reference))
        except (ValueError, self.model.DoesNotExist):
            return self.get(name=reference)


class WebhookEndpoint(models.Model):
    """A webhook URL of its own (``webhook/<uuid>/``) with its own secrets.

    That URL accepts only deliveries signed with this endpoint's current secret, or its
    previous one until ``previous_secret_expires_at``, and (with ``team_id``) only events of
    that team. An ``unsigned`` endpoint has no secret: its unguessable URL is its only
    credential. A disabled endpoint's URL answers 404, like an unknown one.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    uuid = models.UUIDField(
        _("UUID"), default=uuid.uuid4, unique=True, editable=False,
        help_text=_("Its URL is webhook/<uuid>/ under the app's URLs."),
    )  # fmt: skip
    team_id = models.CharField(
        _("team"), max_length=MAX_ID_LENGTH, blank=True,
        help_text=_("When set, only events of this Kakiyo team are accepted at its URL."),
    )  # fmt: skip
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("A disabled endpoint's URL answers 404.")
    )
    unsigned = models.BooleanField(
        _("unsigned"), default=False,
        help_text=_("No secret: anyone who knows the URL can deliver events to it."),
    )  # fmt: skip
    encrypted_secret = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    encrypted_previous_secret = models.TextField(
        _("previous secret (encrypted)"), blank=True, editable=False
    )
    previous_secret_expires_at = models.DateTimeField(
        _("previous secret works until"), null=True, blank=True, editable=False
    )
    secret_rotated_at = models.DateTimeField(
        _("secret rotated at"), null=True, blank=True, editable=False
    )
    events = models.JSONField(
        _("events"), default=every_event, blank=True,
        help_text=_('Event types the Kakiyo webhook subscribes to; ["*"]: every one.'),
    )  # fmt: skip
    kakiyo_webhook_id = models.CharField(
        _("Kakiyo webhook id"), max_length=MAX_ID_LENGTH, blank=True,
        help_text=_("The webhook in Kakiyo that delivers here (set by sync)."),
    )  # fmt: skip
    synced_at = models.DateTimeField(_("last synced at"), null=True, blank=True, editable=False)
    sync_result = models.CharField(_("last sync result"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # -- secrets: set, rotated, expired, never read back in clear outside SigningSecret ------

    @sensitive_variables("secret")
    def set_secret(self, secret: str) -> None:
        """Make ``secret`` the current one, with no previous secret (not saved)."""
        self.encrypted_secret = encrypt(secret)
        self.encrypted_previous_secret = ""
        self.previous_secret_expires_at = None

    @sensitive_variables("secret")
    def rotate(self, secret: str, grace: float, now: dt.datetime) -> None:
        """Make ``secret`` current; the old one keeps working ``grace`` seconds (not saved)."""
        if grace > 0 and self.encrypted_secret:
            self.encrypted_previous_secret = self.encrypted_secret
            self.previous_secret_expires_at = now + dt.timedelta(seconds=grace)
        else:
            self.encrypted_previous_secret = ""
            self.previous_secret_expires_at = None
        self.encrypted_secret = encrypt(secret)
        self.secret_rotated_at = now

    def expire_previous(self) -> None:
        """The previous secret stops working now (not saved)."""
        self.encrypted_previous_secret = ""
        self.previous_secret_expires_at = None

    def previous_secret_works(self, now: dt.datetime) -> bool:
        expires = self.previous_secret_expires_at
        return bool(self.encrypted_previous_secret) and expires is not None and expires > now

    def signing_secrets(self, now: dt.datetime) -> list[SigningSecret]:
        """The secrets that verify a delivery to this endpoint now, bound to its team.

        A secret no key decrypts is logged and left out: deliveries signed with it are
        refused until the key is back (``SECRET_KEY_FALLBACKS``), never accepted unverified.
        """
        tokens = [self.encrypted_secret]
        if self.previous_secret_works(now):
            tokens.append(self.encrypted_previous_secret)
        found = []
        for token in filter(None, tokens):
            try:
                found.append(SigningSecret(decrypt(token), team=self.team_id or None))
            except UndecryptableSecret:
                logger.error(
                    "Kakiyo endpoint %r: a secret cannot be decrypted with the current keys "
                    "(was SECRET_KEY changed without SECRET_KEY_FALLBACKS?)", self.name
                )  # fmt: skip
        return found
