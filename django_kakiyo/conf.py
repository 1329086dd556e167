"""The ``KAKIYO`` settings dict, read lazily so ``override_settings(KAKIYO=...)`` just works."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .exceptions import KakiyoConfigurationError

#: Every key the app understands, with its default. The README's settings reference mirrors
#: this dict; a key missing from ``settings.KAKIYO`` takes the value here.
DEFAULTS: dict[str, Any] = {
    # Secrets any delivery may be signed with. A list, so a secret can be rotated: add the new
    # one, switch Kakiyo over, then remove the old one.
    "WEBHOOK_SECRETS": [],
    # For agencies running several Kakiyo teams: team id -> list of secrets. A team secret only
    # authenticates deliveries whose payload names that team.
    "TEAM_SECRETS": {},
    # Larger bodies are answered 413 without being read.
    "MAX_BODY_BYTES": 1024 * 1024,
    # Seconds. When set, an authentic delivery whose timestamp is older (or missing) is stored
    # as invalid and never dispatched, so a captured delivery replayed later does nothing.
    "REPLAY_WINDOW": None,
    # IP addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed.
    "TRUSTED_PROXIES": [],
    # A directory on local disk where deliveries are kept while the database is down (and
    # acknowledged 202), then imported. None: such deliveries are answered 503 instead.
    "SPOOL_DIR": None,
    # Refused requests are kept for operators, bounded so an attacker cannot fill the disk.
    "REJECTED_REQUESTS_MAX_ROWS": 10_000,
    "REJECTED_BODY_PREFIX_BYTES": 2048,
    # Where receivers run: "celery" (a worker), "inline" (in the web process, right after the
    # event is committed) or "auto" (Celery when a broker is configured, inline otherwise).
    "PROCESSING": "auto",
    # Attempts before an event whose receivers keep raising ends "failed".
    "MAX_ATTEMPTS": 5,
    # Seconds: the n-th retry waits RETRY_BACKOFF * 2**(n-1), capped at RETRY_BACKOFF_MAX,
    # of which a random half is jitter (so a burst of failures does not retry in lockstep).
    "RETRY_BACKOFF": 10,
    "RETRY_BACKOFF_MAX": 600,
    # Seconds after which an event that is due but still waiting ("received"/"queued") counts
    # as lost by the broker, and the sweeper enqueues it again.
    "REQUEUE_AFTER": 300,
    # Seconds after which a claim ("processing") counts as abandoned by a dead worker.
    "PROCESSING_TIMEOUT": 600,
    # Seconds a publish to the broker may take before it is given up (the event is already
    # stored: the sweeper enqueues it later).
    "PUBLISH_TIMEOUT": 0.5,
    # Events per processing message, at most: the worker claims a message's events together,
    # so PROCESSING_TIMEOUT should be well over this many runs of your slowest receivers.
    "PUBLISH_BATCH_SIZE": 10,
    # Seconds: the web process's publisher sends at most one message per interval (unless
    # batches are full). An event after a quiet spell goes at once; under load, the events
    # of an interval share a message, which saves the worker most of its per-message cost.
    "PUBLISH_BATCH_INTERVAL": 0.05,
    # Celery queue for the processing tasks (batches and retries); None: the default queue.
    "CELERY_QUEUE": None,
    # Days to keep processed/ignored events and refused requests; None keeps them for ever.
    # The daily beat task django_kakiyo.prune_old_events applies it.
    "RETENTION": None,
    # DRF permission classes for the events API (dotted paths); staff only by default.
    "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # The Kakiyo REST API, for django_kakiyo.client and the kakiyo_webhooks command.
    "API_KEY": None,
    "API_BASE_URL": "https://api.kakiyo.com/v1",
    "API_TIMEOUT": 10,
}


class KakiyoSettings:
    """Attribute access to ``settings.KAKIYO`` merged over :data:`DEFAULTS`.

    Values are read from Django's settings on first use and cached; the cache is dropped
    whenever ``KAKIYO`` changes (``override_settings`` sends ``setting_changed``).
    """

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, "KAKIYO", {})
        if not isinstance(value, Mapping):
            raise KakiyoConfigurationError("KAKIYO", f"must be a dict, not {type(value).__name__}")
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown KAKIYO setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()

    # Typed views of the settings that need shaping before use.

    def secret_teams(self) -> dict[str, str | None]:
        """Every configured secret, mapped to the team it is bound to (``None``: any team).

        A secret listed in ``WEBHOOK_SECRETS`` stays unbound even if a team lists it too.
        Raises :class:`KakiyoConfigurationError` on a shape the system checks reject, rather
        than guessing (a bare string would otherwise become a list of one-letter secrets).
        """
        global_secrets = self.WEBHOOK_SECRETS
        if not is_list_of_str(global_secrets):
            raise KakiyoConfigurationError(
                "KAKIYO['WEBHOOK_SECRETS']", "must be a list of strings"
            )
        team_secrets = self.TEAM_SECRETS
        if not isinstance(team_secrets, Mapping) or not all(
            isinstance(team, str) and is_list_of_str(secrets)
            for team, secrets in team_secrets.items()
        ):
            raise KakiyoConfigurationError(
                "KAKIYO['TEAM_SECRETS']", "must map team ids to lists of strings"
            )
        bindings: dict[str, str | None] = {}
        for team, secrets in team_secrets.items():
            bindings.update(dict.fromkeys(secrets, team))
        bindings.update(dict.fromkeys(global_secrets))
        return bindings


def is_list_of_str(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


kakiyo_settings = KakiyoSettings()


@receiver(setting_changed)
def _reload_kakiyo_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "KAKIYO":
        kakiyo_settings.reload()
