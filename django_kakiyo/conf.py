"""The ``KAKIYO`` settings dict: each key declared once, read lazily, checked by one rule.

Every key is a :class:`Setting` in :data:`SETTINGS` with its default, its documentation and the
rule its value must follow. The runtime (:data:`kakiyo_settings`) and the system checks
(:mod:`django_kakiyo.checks`) use the same rules, so a value the checks accept is a value the
app can use, and a bad value read at run time raises an error naming the exact setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from . import validators as v
from .exceptions import KakiyoConfigurationError
from .setting_declaration import Setting
from .signing import SigningSecret

#: ``KAKIYO['HEALTH']``'s keys and defaults (seconds, events, events, refusals).
HEALTH_DEFAULTS = {"MAX_WAIT": 300, "MAX_FAILED_LAST_HOUR": 0, "MAX_BACKLOG": 10_000,
                   "SIGNATURE_FAILURES": 3}  # fmt: skip

#: Where receivers run (``PROCESSING``): chosen by whether a broker is configured, a Celery
#: worker, a background thread of the web process, or the request itself.
AUTO, CELERY, THREAD, INLINE = "auto", "celery", "thread", "inline"
PROCESSING_MODES = (AUTO, CELERY, THREAD, INLINE)


_NUMBER = ((v.non_negative_number, "E006"),)
_OPTIONAL_NUMBER = ((v.optional(v.non_negative_number), "E006"),)
_POSITIVE = ((v.positive_number, "E006"),)

#: Every key the app understands, in the order the reference documents them.
SETTINGS: tuple[Setting, ...] = (
    # -- receiving ----------------------------------------------------------------------------
    Setting(
        "WEBHOOK_SECRETS", [],
        "Secrets a delivery may be signed with; any one may match. List two while rotating: "
        "add the new one, switch Kakiyo over, then remove the old one. An empty or "
        "whitespace-only secret never verifies anything.",
        ((v.list_of_str, "E002"),), "Wrap a single secret in a list: ['whsec_...'].", True,
    ),
    Setting(
        "TEAM_SECRETS", {},
        "For agencies running several Kakiyo teams: ``{team_id: [secret, ...]}``. A team "
        "secret only authenticates deliveries whose every team field (``teamId``, "
        "``team.id``, ``data.teamId``, ``data.team.id``) names that team.",
        ((v.team_secrets, "E003"),), "For example {'team_123': ['whsec_...']}.", True,
    ),
    Setting(
        "MAX_BODY_BYTES", 1024 * 1024,
        "Larger bodies are answered 413, judged on Content-Length before reading.", _NUMBER,
    ),
    Setting(
        "CANONICAL_MAX_BYTES", 64 * 1024,
        "Bodies up to this size whose raw bytes do not verify are parsed and re-serialised "
        "like JSON.stringify and checked again (a proxy re-formatted them). Larger ones are "
        "refused 401 without being parsed, so a fake signature costs one HMAC pass.",
        _NUMBER,
    ),
    Setting(
        "CANONICAL_CPU_BUDGET", 0.1,
        "Seconds of CPU per second each web process may spend on that re-serialisation. "
        "Past it, requests whose raw bytes do not verify are refused 401 without being "
        "parsed, so a flood of fake signatures cannot starve authentic deliveries. ``0`` "
        "turns the re-serialisation off.",
        _NUMBER,
    ),
    Setting(
        "REPLAY_WINDOW", None,
        "Seconds. When set, an authentic delivery whose ``timestamp`` is older, missing, or "
        "more than 5 minutes in the future is stored ``invalid`` and never dispatched, so a "
        "captured delivery replayed later does nothing.",
        _OPTIONAL_NUMBER,
    ),
    Setting(
        "TRUSTED_PROXIES", [],
        "IP addresses or CIDR networks of your reverse proxies; ``X-Forwarded-For`` is "
        "believed only from them, walked right to left. The address is only recorded: the "
        "signature alone decides whether a delivery is accepted.",
        ((v.networks, "E007"),), "For example ['10.0.0.0/8', '127.0.0.1'].",
    ),
    Setting(
        "STORE_TIMEOUT", 3,
        "Seconds the webhook waits for a locked or stuck PostgreSQL (lock and statement "
        "timeout of its own transaction) before treating the database as unavailable.",
        _POSITIVE,
    ),
    Setting(
        "SPOOL_DIR", None,
        "A directory on local, persistent disk where verified deliveries are kept while the "
        "database is unavailable (answered 202), then imported exactly once. Created "
        "``0700``; each file is fsync'd and authenticated with an HMAC keyed from "
        "``SECRET_KEY``. ``None``: answer 503.",
        ((v.optional(v.path), "E010"),),
        "Point it at a directory on local, persistent disk that the web process can write, "
        "or set it to None to answer 503 while the database is down.",
    ),
    Setting(
        "SPOOL_MAX_BYTES", 1024**3,
        "The spool stops accepting deliveries (503 instead of 202, logged) once its files "
        "hold this many bytes.",
        _NUMBER,
    ),
    Setting(
        "REJECTED_REQUESTS_MAX_ROWS", 10_000,
        "Cap on the ``RejectedRequest`` table (oldest rows go first); ``None`` for no cap.",
        _OPTIONAL_NUMBER,
    ),
    Setting("REJECTED_BODY_PREFIX_BYTES", 2048, "Bytes of a refused body kept.", _NUMBER),
    Setting("REJECTED_SIGNED_BODIES_BYTES", 16 * 1024**2, "Bytes of whole bodies of refused "
            "requests with a well-formed signature, for the whole table (oldest cut first).",
            _NUMBER),
    Setting(
        "STORED_HEADERS_MAX_BYTES", 4096,
        "Bytes of headers kept with an event or a refused request (as JSON; each value cut "
        "at 512 characters, then whole headers dropped past this total).",
        _NUMBER,
    ),
    # -- endpoints in the database (docs/howto/endpoints.md) ---------------------------------
    Setting("ENDPOINT_SECRET_KEYS", None, "Keys that encrypt endpoints' secrets in the "
            "database: the first encrypts, every one decrypts. ``None``: derived from "
            "``SECRET_KEY``, and from ``SECRET_KEY_FALLBACKS`` to decrypt.",
            ((v.optional(v.key_list), "E018"),), "For example [os.environ['KAKIYO_KEY']].", True),
    Setting("ENDPOINT_ROTATION_GRACE", 86400, "Seconds an endpoint's previous secret keeps "
            "verifying after a rotation (``rotate --grace`` chooses for one).", _NUMBER),
    # -- processing ---------------------------------------------------------------------------
    Setting(
        "PROCESSING", "auto",
        "Where receivers run: ``\"celery\"`` (a worker), ``\"thread\"`` (a background "
        "thread of the web process, after the response), ``\"inline\"`` (in the request "
        "right after the event is committed, before the answer) or ``\"auto\"`` (Celery when "
        "a broker is configured, the thread otherwise).",
        ((v.one_of(PROCESSING_MODES), "E008"),),
        "'auto' uses Celery when CELERY_BROKER_URL is set, a background thread otherwise.",
    ),
    Setting(
        "MAX_ATTEMPTS", 5,
        "Attempts before an event whose receivers keep raising ends ``failed``.",
        (*_NUMBER, (v.at_least(1), "E009")), "1 means no retries.",
    ),
    Setting(
        "RETRY_BACKOFF", 10,
        "Seconds: the n-th retry waits ``RETRY_BACKOFF * 2**(n-1)``, capped at "
        "``RETRY_BACKOFF_MAX``, of which a random half is jitter.",
        _NUMBER,
    ),
    Setting("RETRY_BACKOFF_MAX", 600, "Cap on the wait between retries, in seconds.", _NUMBER),
    Setting(
        "REQUEUE_AFTER", 300,
        "Seconds a due event may wait before the sweeper counts it as lost by the broker "
        "and enqueues it again.",
        _NUMBER,
    ),
    Setting(
        "PROCESSING_TIMEOUT", 600,
        "Seconds after which a claim counts as abandoned by a dead worker. A message's "
        "events are claimed together: keep it well above ``PUBLISH_BATCH_SIZE`` runs of "
        "your slowest receivers.",
        _NUMBER,
    ),
    Setting(
        "PUBLISH_TIMEOUT", 0.5,
        "Seconds a publish to the broker may take before it is given up (the event is "
        "stored: the sweeper enqueues it later).",
        _NUMBER,
    ),
    Setting("PUBLISH_BATCH_SIZE", 10, "Event ids per processing message, at most.", _NUMBER),
    Setting(
        "PUBLISH_BATCH_INTERVAL", 0,
        "Seconds: the least time between two messages of a web process's publisher (unless "
        "batches are full). ``0``: none; events that arrive while a message is being sent go "
        "together in the next one, so batches grow with the load without a timer.",
        _NUMBER,
    ),
    Setting(
        "PUBLISH_LINGER", 0.05,
        "Seconds a web process's publisher may hold event ids while that process is "
        "receiving other deliveries, so that they share a message; it publishes as soon as "
        "the batch is full or nothing is being received. A delivery that comes alone is "
        "published at once. ``0``: never hold.",
        _NUMBER,
    ),
    Setting(
        "ORDERING", None,
        "``\"prospect\"``: the events of one prospect are processed one at a time, in the "
        "order they were stored, across every worker; an event waiting for a retry holds back "
        "its prospect's later events until it ends processed, failed or ignored. Events "
        "without a prospect id are not ordered. ``None``: no ordering.",
        ((v.one_of((None, "prospect")), "E014"),),
        "None, or 'prospect'.",
    ),
    Setting(
        "CELERY_QUEUE", None,
        "Celery queue for every task the app sends (processing, retries); ``None``: the "
        "default queue.",
        ((v.optional(v.non_empty_str), "E011"),), "A queue name, e.g. 'kakiyo'.",
    ),
    # -- operating ----------------------------------------------------------------------------
    Setting(
        "RETENTION", None,
        "Days to keep processed and ignored events and refused requests; ``None`` keeps "
        "them for ever. Applied by ``kakiyo_prune`` and the daily task "
        "``django_kakiyo.prune_old_events``.",
        _OPTIONAL_NUMBER,
    ),
    Setting(
        "API_PERMISSION_CLASSES", ["rest_framework.permissions.IsAdminUser"],
        "Dotted paths of DRF permission classes for the events API, on top of the model "
        "permissions it always requires (view to read, replay to replay).",
        ((v.importable_list, "E012"),),
        "For example ['rest_framework.permissions.IsAuthenticated'].",
    ),
    # -- monitoring (docs/howto/monitoring.md) ------------------------------------------------
    Setting("HEALTH", {}, "Thresholds of ``health/``, merged over :data:`HEALTH_DEFAULTS`.",
            ((v.thresholds(HEALTH_DEFAULTS), "E015"),), "For example {'MAX_WAIT': 600}."),
    Setting("MONITORING_TOKEN", None, "Bearer token of ``health/`` and ``metrics/``.",
            ((v.optional(v.str_type), "E016"),), "Set it from an environment variable.", True),
    Setting("METRICS", None, "Serve ``metrics/``: True, False, None (if prometheus_client is "
            "installed).", ((v.optional(v.bool_type), "E017"),), "True, False or None."),
    Setting("COUNT_ANSWERS_EVERY", 1, "Seconds a process gathers the counts of its answers "
            "before writing them, in one statement (``0``: each answer at once).", _NUMBER),
    # -- the Kakiyo REST API ------------------------------------------------------------------
    Setting(
        "API_KEY", None,
        "Kakiyo API key (Team > API Keys), sent as ``Authorization: Bearer``. Only needed "
        "for the API client and ``kakiyo_webhooks``, not to receive webhooks.",
        ((v.optional(v.str_type), "E013"),), "Set it from an environment variable.",
        True,
    ),
    Setting(
        "API_BASE_URL", "https://api.kakiyo.com/v1", "Root of the Kakiyo REST API.",
        ((v.http_url, "E013"),), "For example 'https://api.kakiyo.com/v1'.",
    ),
    Setting("API_TIMEOUT", 10, "Seconds the API client waits to connect and for each answer "
            "(per attempt).", _POSITIVE),
)  # fmt: skip

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}

#: Every key the app understands, with its default (a key missing from ``settings.KAKIYO``
#: takes the value here).
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}


def setting_label(name: str) -> str:
    """How messages name a key: ``KAKIYO['NAME']``."""
    return f"KAKIYO[{name!r}]"


class KakiyoSettings:
    """Attribute access to ``settings.KAKIYO`` merged over :data:`DEFAULTS`.

    Values are read from Django's settings on first use, checked against their rules (a bad
    one raises :class:`KakiyoConfigurationError` naming the setting) and cached; the cache,
    and everything derived from it, is dropped whenever ``KAKIYO`` changes
    (``override_settings`` sends ``setting_changed``).
    """

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}
        self._derived: dict[str, Any] = {}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, "KAKIYO", {})
        if not isinstance(value, Mapping):
            raise KakiyoConfigurationError("KAKIYO", f"must be a dict, not {type(value).__name__}")
        return value

    def __getattr__(self, name: str) -> Any:
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None:
            raise AttributeError(f"Unknown KAKIYO setting: {name!r}")
        if name not in self._cache:
            value = self.user_settings.get(name, setting.default)
            found = setting.problem(value)
            if found is not None:
                problem = found[0] if setting.sensitive else f"{found[0]}, not {value!r}"
                raise KakiyoConfigurationError(setting_label(name), problem)
            self._cache[name] = value
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()
        self._derived.clear()

    def derived(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per value of the settings (e.g. imported classes)."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    # Shaped views of the settings that need it, built once per value.

    def signing_secrets(self) -> list[SigningSecret]:
        """Every configured secret with the team it is bound to (``team=None``: any team).

        A secret listed in ``WEBHOOK_SECRETS`` stays unbound even if a team lists it too.
        The objects never show the secret in a ``repr``, so no traceback or debug page that
        prints them can leak it.
        """
        return list(self.derived("signing_secrets", self._build_signing_secrets))

    def _build_signing_secrets(self) -> tuple[SigningSecret, ...]:
        bindings: dict[str, str | None] = {}
        for team, team_secrets in self.TEAM_SECRETS.items():
            bindings.update(dict.fromkeys(team_secrets, team))
        bindings.update(dict.fromkeys(self.WEBHOOK_SECRETS))
        return tuple(SigningSecret(value, team=team) for value, team in bindings.items())

    def secret_teams(self) -> dict[str, str | None]:
        """Every configured secret mapped to its team; see :meth:`signing_secrets`."""
        return {secret.value: secret.team for secret in self.signing_secrets()}

    def health(self) -> dict[str, int]:  # HEALTH merged over HEALTH_DEFAULTS
        return {**HEALTH_DEFAULTS, **self.HEALTH}

    def api_permission_classes(self) -> list[type[Any]]:
        """``API_PERMISSION_CLASSES`` imported, once per value of the setting."""
        return list(
            self.derived(
                "api_permission_classes",
                lambda: tuple(v.import_each(self.API_PERMISSION_CLASSES)),
            )
        )


kakiyo_settings = KakiyoSettings()


@receiver(setting_changed)
def _reload_kakiyo_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in ("KAKIYO", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        kakiyo_settings.reload()
