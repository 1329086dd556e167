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
import logging
import math
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import requests

from .. import __version__
from ..backoff import backoff_delay
from ..conf import kakiyo_settings
from ..exceptions import KakiyoAPIError
from ..storable import REDACTED
from .arguments import (
    checked_base_url,
    checked_key,
    checked_timeout,
    event_list,
    path_segment,
)
from .endpoints import (
    CREATE_WEBHOOK_PATH,
    EVENT_TYPES_PATH,
    EXAMPLE_PAYLOAD_PATH,
    LIST_WEBHOOKS_PATH,
    TEST_WEBHOOK_PATH,
    VERIFY_PATH,
    WEBHOOK_PATH,
    CreatedWebhook,
    EventTypeInfo,
    JSONObject,
    VerifyResult,
    Webhook,
)
from .failures import decode, shape_error, unreachable_reason, without_userinfo

logger = logging.getLogger(__name__)

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
        return f"<{type(self).__name__} {REDACTED}>"


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
        self._api_key = checked_key(kakiyo_settings.API_KEY if api_key is None else api_key)
        self.base_url = checked_base_url(
            kakiyo_settings.API_BASE_URL if base_url is None else base_url
        )
        self.timeout = checked_timeout(kakiyo_settings.API_TIMEOUT if timeout is None else timeout)
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
        body: JSONObject = {"name": name, "url": url, "events": event_list(events)}
        if secret is not None:
            body["secret"] = secret
        return cast(CreatedWebhook, self._object("POST", CREATE_WEBHOOK_PATH, body))

    def test_webhook(self, event: str, data: Mapping[str, Any] | None = None) -> JSONObject:
        """``POST /webhooks/test``: ask Kakiyo to send a test ``event`` to the active webhooks.

        ``data`` becomes the event's ``data``. Returns Kakiyo's answer as-is.
        """
        body = {"event": path_segment(event, "event"), "data": dict(data or {})}
        return self._object("POST", TEST_WEBHOOK_PATH, body)

    def example_payload(self, event: str) -> JSONObject:
        """``GET /webhooks/test/example/{event}``: a sample delivery, without sending one."""
        path = EXAMPLE_PAYLOAD_PATH.format(event=quote(path_segment(event, "event"), safe=""))
        return self._object("GET", path)

    def event_types(self) -> list[EventTypeInfo]:
        """``GET /webhooks/test/events``: the event types Kakiyo can send."""
        return cast(list[EventTypeInfo], self._list("GET", EVENT_TYPES_PATH))

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
            fields["events"] = event_list(fields["events"])
        return cast(Webhook, self._object("PUT", self._webhook_path(webhook_id), fields))

    def delete_webhook(self, webhook_id: str) -> None:
        """``DELETE /webhooks/{id}``: Kakiyo stops sending to that webhook.

        Not publicly documented by Kakiyo (see :data:`WEBHOOK_PATH`).
        """
        self._request("DELETE", self._webhook_path(webhook_id))

    @staticmethod
    def _webhook_path(webhook_id: str) -> str:
        return WEBHOOK_PATH.format(id=quote(path_segment(webhook_id, "webhook_id"), safe=""))

    # -- Transport -----------------------------------------------------------------------------

    def _object(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> JSONObject:
        status, answer = self._request(method, path, body)
        if not isinstance(answer, dict):
            raise shape_error(method, path, status, "a JSON object", answer)
        return answer

    def _list(self, method: str, path: str, *, unwrap: bool = False) -> list[JSONObject]:
        status, answer = self._request(method, path)
        if unwrap and isinstance(answer, dict):
            answer = next(
                (answer[key] for key in ("webhooks", "data") if isinstance(answer.get(key), list)),
                answer,
            )
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise shape_error(method, path, status, "a JSON list of objects", answer)
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
                return response.status_code, decode(response, endpoint, self._redact)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _transport_failure(self, error: requests.RequestException) -> str:
        """What went wrong when no answer came, in words rather than urllib3's repr."""
        where = without_userinfo(self.base_url)
        if isinstance(error, requests.ReadTimeout):
            # Connected and sent: Kakiyo may still be acting on the request.
            return f"Kakiyo at {where} did not answer within {self.timeout:g} s"
        return f"could not reach Kakiyo at {where}: {unreachable_reason(error, self.timeout)}"

    def _wait_before_retry(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up now."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_wait else None
        return backoff_delay(attempt, self.backoff, self.backoff_max)

    def _redact(self, text: str) -> str:
        # Servers echo what they were sent; an error text must never carry the key on.
        return text.replace(self._api_key, REDACTED)


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
