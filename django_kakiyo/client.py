"""A small client for the Kakiyo REST API: check the key, register, test and inspect webhooks.

::

    from django_kakiyo.client import KakiyoClient

    with KakiyoClient() as kakiyo:  # KAKIYO['API_KEY'], ['API_BASE_URL'], ['API_TIMEOUT']
        kakiyo.verify()
        hook = kakiyo.create_webhook("CRM", "https://crm.example.com/kakiyo/webhook/", secret)

Every failure, whatever its cause, is one :class:`~django_kakiyo.exceptions.KakiyoAPIError`
(``status``, ``code``, ``message``), so a caller has one thing to catch. The API key never
appears in an error, a log line or a ``repr``: it lives only in the session's auth object.

Retries are a loop here rather than urllib3's ``Retry`` mounted on the session, because the
policy is Kakiyo-specific and has to stay readable and testable: a ``Retry-After`` longer than
we are willing to wait means giving up at once with Kakiyo's own error (urllib3 would sleep or
raise its ``MaxRetryError`` instead of the last answer), POSTs are retried on 429/5xx too
(urllib3 skips them by default), and the exhausted case must end in the same
``KakiyoAPIError`` built from the last response. (A POST retried after a 5xx can at worst
register a webhook twice: ``list_webhooks()`` shows it, and this app deduplicates the
identical deliveries the two would send.) Transport failures (refused connection,
timeout) are *not* retried: after a timeout Kakiyo may still be acting on the request, and
repeating a POST could do it twice; the caller can simply run the call again.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import logging
import math
import random
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, TypedDict, TypeVar, cast
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from . import __version__
from .conf import kakiyo_settings
from .exceptions import KakiyoAPIError, KakiyoConfigurationError

logger = logging.getLogger(__name__)

# -- Endpoints: every path this client calls, relative to KAKIYO['API_BASE_URL'] --------------

VERIFY_PATH = "/verify"
CREATE_WEBHOOK_PATH = "/webhooks"
TEST_WEBHOOK_PATH = "/webhooks/test"
EXAMPLE_PAYLOAD_PATH = "/webhooks/test/example/{event}"
EVENT_TYPES_PATH = "/webhooks/test/events"
#: Not in Kakiyo's public API reference: these follow the REST pattern of the documented
#: ``POST /webhooks`` and may change without notice. Adjust them here if Kakiyo's differ.
LIST_WEBHOOKS_PATH = "/webhooks"  # GET
WEBHOOK_PATH = "/webhooks/{id}"  # PUT (update), DELETE

# -- Retry policy ------------------------------------------------------------------------------

#: Answers worth asking again: rate limited, or a server/gateway failure that is usually
#: transient. 501 and 505 are 5xx too but will not change on a retry.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_ATTEMPTS = 4
#: Seconds before the first retry (doubled each time, capped at DEFAULT_BACKOFF_MAX; a random
#: half of each wait is jitter so that many clients rate-limited together do not retry in step).
DEFAULT_BACKOFF = 0.5
DEFAULT_BACKOFF_MAX = 8.0
#: A ``Retry-After`` longer than this many seconds is not waited for: the call fails at once.
DEFAULT_MAX_RETRY_WAIT = 60.0

#: Printable ASCII without spaces: anything else in a key is a copy-paste accident, and
#: requests would quote the whole header value (the key) in its own error message.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")
_REDACTED = "[redacted]"

_E = TypeVar("_E", bound=BaseException)


# -- What the endpoints answer -----------------------------------------------------------------
# TypedDicts rather than dataclasses: the parsed JSON is returned as-is, so fields Kakiyo adds
# later are kept, and the result can be dumped back to JSON. Only the outer shape (object or
# list) is checked at runtime.


class VerifyResult(TypedDict):
    """``GET /verify``: e.g. ``{"status": "success", "message": "API key is valid"}``."""

    status: str
    message: str


class Webhook(TypedDict):
    """A registered webhook. ``events`` may be ``["*"]`` (every event)."""

    id: str
    name: str
    url: str
    events: list[str]
    active: bool


class CreatedWebhook(Webhook, total=False):
    """``POST /webhooks`` answers the webhook plus a human-readable ``message``."""

    message: str


class EventType(TypedDict):
    """One entry of ``GET /webhooks/test/events``."""

    id: str
    name: str
    description: str
    category: str


JSONObject = dict[str, Any]


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <key>`` to each request; its repr never shows the key.

    A session ``auth`` object (rather than a default header) also stops requests from
    replacing the header with credentials from ``~/.netrc``.
    """

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_REDACTED}>"


class KakiyoClient:
    """The Kakiyo REST API over one :class:`requests.Session` (connections are reused).

    ``api_key``, ``base_url`` and ``timeout`` (seconds, per connect and per read) default to
    ``KAKIYO['API_KEY']``, ``KAKIYO['API_BASE_URL']`` and ``KAKIYO['API_TIMEOUT']``. A call
    makes at most ``max_attempts`` requests: 429 and 5xx answers are retried after the
    ``Retry-After`` Kakiyo sends, or else after ``backoff * 2**(n-1)`` seconds (capped at
    ``backoff_max``, half of it jitter). A ``Retry-After`` above ``max_retry_wait`` ends the
    call at once. Use it as a context manager, or call :meth:`close`; like the session under
    it, a client is not meant to be shared between threads.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
    ) -> None:
        self._api_key = _checked_key(kakiyo_settings.API_KEY if api_key is None else api_key)
        self.base_url = _checked_base_url(
            kakiyo_settings.API_BASE_URL if base_url is None else base_url
        )
        self.timeout = _checked_timeout(
            kakiyo_settings.API_TIMEOUT if timeout is None else timeout
        )
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(backoff, backoff_max, max_retry_wait) < 0:
            raise ValueError("backoff, backoff_max and max_retry_wait must not be negative")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_retry_wait = max_retry_wait
        self._session = requests.Session()
        self._session.auth = _BearerAuth(self._api_key)
        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": f"django-kakiyo/{__version__}"}
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> KakiyoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- Documented endpoints ------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """``GET /verify``: check the API key; a bad key raises with status 401."""
        return cast(VerifyResult, self._object("GET", VERIFY_PATH))

    def create_webhook(
        self, name: str, url: str, secret: str | None, events: Iterable[str] = ("*",)
    ) -> CreatedWebhook:
        """``POST /webhooks``: register ``url`` for ``events`` (``["*"]``: every event).

        ``secret`` is what Kakiyo signs deliveries with; it must also be in
        ``KAKIYO['WEBHOOK_SECRETS']``, or this app refuses the deliveries. ``None`` registers
        an unsigned webhook, which this app's endpoint never accepts.
        """
        body: JSONObject = {"name": name, "url": url, "events": _event_list(events)}
        if secret is not None:
            body["secret"] = secret
        return cast(CreatedWebhook, self._object("POST", CREATE_WEBHOOK_PATH, body))

    def test_webhook(self, event: str, data: Mapping[str, Any] | None = None) -> JSONObject:
        """``POST /webhooks/test``: ask Kakiyo to send a test ``event`` to the active webhooks.

        ``data`` becomes the event's ``data``. Returns Kakiyo's answer as-is.
        """
        body = {"event": _segment(event, "event"), "data": dict(data or {})}
        return self._object("POST", TEST_WEBHOOK_PATH, body)

    def example_payload(self, event: str) -> JSONObject:
        """``GET /webhooks/test/example/{event}``: a sample delivery, without sending one."""
        path = EXAMPLE_PAYLOAD_PATH.format(event=quote(_segment(event, "event"), safe=""))
        return self._object("GET", path)

    def event_types(self) -> list[EventType]:
        """``GET /webhooks/test/events``: the event types Kakiyo can send."""
        return cast(list[EventType], self._list("GET", EVENT_TYPES_PATH))

    # -- Undocumented endpoints ----------------------------------------------------------------

    def list_webhooks(self) -> list[Webhook]:
        """``GET /webhooks``: the team's webhooks.

        Not publicly documented by Kakiyo (see :data:`LIST_WEBHOOKS_PATH`). A bare list and a
        list wrapped as ``{"webhooks": [...]}`` or ``{"data": [...]}`` are both accepted.
        """
        return cast(list[Webhook], self._list("GET", LIST_WEBHOOKS_PATH, unwrap=True))

    def update_webhook(self, webhook_id: str, **fields: Any) -> Webhook:
        """``PUT /webhooks/{id}`` with ``fields`` (e.g. ``active=False``, ``events=[...]``).

        Not publicly documented by Kakiyo (see :data:`WEBHOOK_PATH`): the fields are sent as
        given and Kakiyo's answer, expected to be the updated webhook, is returned as-is.
        """
        if not fields:
            raise ValueError("update_webhook() needs at least one field to change")
        if "events" in fields:
            fields["events"] = _event_list(fields["events"])
        return cast(Webhook, self._object("PUT", self._webhook_path(webhook_id), fields))

    def delete_webhook(self, webhook_id: str) -> None:
        """``DELETE /webhooks/{id}``: Kakiyo stops sending to that webhook.

        Not publicly documented by Kakiyo (see :data:`WEBHOOK_PATH`).
        """
        self._request("DELETE", self._webhook_path(webhook_id))

    @staticmethod
    def _webhook_path(webhook_id: str) -> str:
        return WEBHOOK_PATH.format(id=quote(_segment(webhook_id, "webhook_id"), safe=""))

    # -- Transport -----------------------------------------------------------------------------

    def _object(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> JSONObject:
        status, answer = self._request(method, path, body)
        if not isinstance(answer, dict):
            raise _shape_error(method, path, status, "a JSON object", answer)
        return answer

    def _list(self, method: str, path: str, *, unwrap: bool = False) -> list[JSONObject]:
        status, answer = self._request(method, path)
        if unwrap and isinstance(answer, dict):
            answer = next(
                (answer[key] for key in ("webhooks", "data") if isinstance(answer.get(key), list)),
                answer,
            )
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise _shape_error(method, path, status, "a JSON list of objects", answer)
        return answer

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        """Send one call, retrying 429/5xx; return the status and the decoded JSON body."""
        endpoint = f"{method} {path}"
        url = self.base_url + path
        for attempt in range(1, self.max_attempts + 1):
            try:
                # Redirects are not followed: an API answer never redirects, and following one
                # could turn a POST into a GET or carry the key to another host.
                response = self._session.request(
                    method, url, json=body, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as error:
                raise KakiyoAPIError(
                    self._redact(self._transport_failure(error)), endpoint=endpoint
                ) from error
            with response:
                if response.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                    wait = self._wait_before_retry(response, attempt)
                    if wait is not None:
                        logger.warning(
                            "Kakiyo API %s answered %s; retrying in %.2f s (attempt %d of %d)",
                            endpoint,
                            response.status_code,
                            wait,
                            attempt + 1,
                            self.max_attempts,
                        )
                        time.sleep(wait)
                        continue
                return response.status_code, self._decode(response, endpoint)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _transport_failure(self, error: requests.RequestException) -> str:
        """What went wrong when no answer came, in words rather than urllib3's repr."""
        where = _without_userinfo(self.base_url)
        if isinstance(error, requests.ReadTimeout):
            # Connected and sent: Kakiyo may still be acting on the request.
            return f"Kakiyo at {where} did not answer within {self.timeout:g} s"
        return f"could not reach Kakiyo at {where}: {_unreachable_reason(error, self.timeout)}"

    def _wait_before_retry(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up now."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_wait else None
        delay = min(self.backoff * 2.0 ** (attempt - 1), self.backoff_max)
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto

    def _decode(self, response: requests.Response, endpoint: str) -> Any:
        status = response.status_code
        if not 200 <= status < 300:
            raise self._api_error(response, endpoint)
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise KakiyoAPIError(
                "the answer is not JSON", status=status, endpoint=endpoint
            ) from error

    def _api_error(self, response: requests.Response, endpoint: str) -> KakiyoAPIError:
        """Kakiyo's ``{"error": code, "message": text}``, or the best we can say otherwise."""
        try:
            body = response.json()
        except ValueError:
            body = None
        code = message = None
        if isinstance(body, dict):
            code = body.get("error") if isinstance(body.get("error"), str) else None
            message = body.get("message") if isinstance(body.get("message"), str) else None
        if message is None:
            text = " ".join(response.text.split())
            message = response.reason or "error"
            if code is None and text:
                message += f" (not a Kakiyo JSON error: {text[:200]})"
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            message += f"; redirected to {location!r}: check KAKIYO['API_BASE_URL']"
        return KakiyoAPIError(
            self._redact(message),
            status=response.status_code,
            code=None if code is None else self._redact(code),
            endpoint=endpoint,
        )

    def _redact(self, text: str) -> str:
        # Servers echo what they were sent; an error text must never carry the key on.
        return text.replace(self._api_key, _REDACTED)


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and every exception under it: requests wraps urllib3's, which wraps the OS's."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [item for item in nested if isinstance(item, BaseException)]
    return found


def _first(causes: list[BaseException], kind: type[_E]) -> _E | None:
    return next((cause for cause in causes if isinstance(cause, kind)), None)


def _unreachable_reason(error: requests.RequestException, timeout: float) -> str:
    """Why no connection to Kakiyo was made (or kept), from the exceptions under ``error``."""
    causes = _causes(error)
    if isinstance(error, requests.exceptions.ProxyError):
        # Checked first: a refusal or a timeout there is the proxy's, not Kakiyo's.
        return "the proxy (HTTPS_PROXY / HTTP_PROXY) failed"
    if _first(causes, socket.gaierror):
        return "name not resolved"
    if _first(causes, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, requests.ConnectTimeout):
        return f"timed out after {timeout:g} s"
    certificate = _first(causes, ssl.SSLCertVerificationError)
    if certificate is not None:
        return f"certificate not accepted ({certificate.verify_message})"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if _first(causes, http.client.RemoteDisconnected):  # a ConnectionResetError: first
        return "connection closed without an answer"
    if _first(causes, ConnectionResetError):
        return "connection reset"
    failure = _first(causes, OSError)
    if failure is not None and failure.strerror:
        return failure.strerror.lower()  # "no route to host", "network is unreachable"
    # Something with no better name: the innermost message, without the pool and connection
    # reprs urllib3 wraps around it.
    return str(causes[-1]) or type(causes[-1]).__name__


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _shape_error(
    method: str, path: str, status: int, expected: str, answer: Any
) -> KakiyoAPIError:
    return KakiyoAPIError(
        f"expected {expected}, got {type(answer).__name__}",
        status=status,
        endpoint=f"{method} {path}",
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP date), or ``None``.

    Fractions are accepted (``"0.5"``) although the standard only has whole seconds; a date
    in the past means "now". Anything unreadable counts as absent.
    """
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _checked_key(value: object) -> str:
    setting = "KAKIYO['API_KEY']"
    if value is None or value == "":
        raise KakiyoConfigurationError(
            setting,
            "is not set: create an API key in Kakiyo (Team > API Keys) and put it there, "
            "or pass api_key=",
        )
    if not isinstance(value, str):
        raise KakiyoConfigurationError(setting, f"must be a string, not {type(value).__name__}")
    key = value.strip()
    if not _KEY_PATTERN.fullmatch(key):
        # Never quote the value: it is a credential.
        raise KakiyoConfigurationError(
            setting, "contains spaces or control characters (a copy-paste accident?)"
        )
    return key


def _checked_base_url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise KakiyoConfigurationError(
            "KAKIYO['API_BASE_URL']", f"must be an http(s) URL, not {value!r}"
        )
    return value.rstrip("/")


def _checked_timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise KakiyoConfigurationError(
            "KAKIYO['API_TIMEOUT']", f"must be a positive number of seconds, not {value!r}"
        )
    return float(value)


def _segment(value: str, name: str) -> str:
    """A value that goes into a URL path: non-empty and not a dot segment (``..`` climbs)."""
    if not isinstance(value, str) or value.strip(".") == "":
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _event_list(events: Iterable[str]) -> list[str]:
    if isinstance(events, str):
        raise TypeError("events must be a list of event types, not a string")
    names = list(events)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError("events must be a non-empty list of event types (or ['*'])")
    return names
