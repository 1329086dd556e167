"""The errors django-kakiyo raises, each with a home a caller can catch."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class KakiyoError(Exception):
    """Base class for every error this app raises on purpose."""


class KakiyoConfigurationError(KakiyoError, ImproperlyConfigured):
    """A setting has a value the app cannot use; the message names the exact setting."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting} {problem}.")


class WebhookRefused(KakiyoError):
    """A request to the webhook is refused: answered ``status`` and kept as a rejected request.

    ``reason`` is one of :class:`~django_kakiyo.models.RejectedRequest.Reason`; ``detail`` is
    what the answer and the operator are told. Raised by whichever step finds the problem and
    caught once, by the view.
    """

    def __init__(self, status: int, reason: str, detail: str) -> None:
        self.status = status
        self.reason = reason
        self.detail = detail
        super().__init__(f"{status} {reason}: {detail}")


class DatabaseUnavailable(KakiyoError):
    """The database cannot take the delivery now: unreachable, or stuck past ``STORE_TIMEOUT``.

    Only for faults that pass (a refused or lost connection, a lock or statement timeout),
    never for data the database refuses: such a delivery is spooled and imported later, which
    would only fail again for bad data.
    """


class KakiyoAPIError(KakiyoError):
    """A call to the Kakiyo REST API failed; the one error :mod:`django_kakiyo.kakiyo_api` raises.

    One class rather than one per status, because callers mostly need to tell "it failed" from
    "it worked" and then read ``status`` (``None`` when no HTTP answer arrived: a refused
    connection or a timeout) and ``code`` (Kakiyo's ``error`` field, e.g. ``invalid_api_key``,
    ``rate_limit_exceeded``; ``None`` when the body was not Kakiyo's JSON error). ``endpoint``
    is ``"METHOD /path"``. The client strips the API key from ``message`` before raising, so
    the text is safe to log.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint
        super().__init__(message)

    def __str__(self) -> str:
        answer = "no answer" if self.status is None else f"HTTP {self.status}"
        if self.code:
            answer += f" {self.code}"
        where = f"{self.endpoint}: " if self.endpoint else ""
        return f"{where}{answer}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, endpoint={self.endpoint!r})"
        )

    def __reduce__(self) -> tuple[type[KakiyoAPIError], tuple[str], dict[str, object]]:
        # Keyword-only fields survive pickling (Celery, multiprocessing) through __dict__.
        return (type(self), (self.message,), self.__dict__)


class EndpointError(KakiyoError, ValueError):
    """An operation on a webhook endpoint cannot be done as asked; the message says why.

    Raised by :mod:`django_kakiyo.endpoint_operations`; the command turns it into a
    ``CommandError`` and the admin into a message.
    """
