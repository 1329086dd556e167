"""A failed call to the Kakiyo API, said in words a person can act on.

When no answer came, the reason is dug out of the exceptions requests wraps around urllib3's
and the OS's ("connection refused", "name not resolved", "timed out after 10 s") instead of
urllib3's reprs; when an answer came, Kakiyo's own ``{"error", "message"}``. Either way it is
one :class:`~django_kakiyo.exceptions.KakiyoAPIError`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

from ..exceptions import KakiyoAPIError

_E = TypeVar("_E", bound=BaseException)


def causes(error: BaseException) -> list[BaseException]:
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


def unreachable_reason(error: requests.RequestException, timeout: float) -> str:
    """Why no connection to Kakiyo was made (or kept), from the exceptions under ``error``."""
    found = causes(error)
    if isinstance(error, requests.exceptions.ProxyError):
        # Checked first: a refusal or a timeout there is the proxy's, not Kakiyo's.
        return "the proxy (HTTPS_PROXY / HTTP_PROXY) failed"
    if _first(found, socket.gaierror):
        return "name not resolved"
    if _first(found, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, requests.ConnectTimeout):
        return f"timed out after {timeout:g} s"
    certificate = _first(found, ssl.SSLCertVerificationError)
    if certificate is not None:
        return f"certificate not accepted ({certificate.verify_message})"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if _first(found, http.client.RemoteDisconnected):  # a ConnectionResetError: first
        return "connection closed without an answer"
    if _first(found, ConnectionResetError):
        return "connection reset"
    failure = _first(found, OSError)
    if failure is not None and failure.strerror:
        return failure.strerror.lower()  # "no route to host", "network is unreachable"
    # Something with no better name: the innermost message, without the pool and connection
    # reprs urllib3 wraps around it.
    return str(found[-1]) or type(found[-1]).__name__


def without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def shape_error(method: str, path: str, status: int, expected: str, answer: Any) -> KakiyoAPIError:
    return KakiyoAPIError(
        f"expected {expected}, got {type(answer).__name__}",
        status=status,
        endpoint=f"{method} {path}",
    )


def decode(response: requests.Response, endpoint: str, redact: Callable[[str], str]) -> Any:
    """The JSON of a 2xx answer (None when empty); any other answer raises."""
    status = response.status_code
    if not 200 <= status < 300:
        raise api_error(response, endpoint, redact)
    if status == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as error:
        raise KakiyoAPIError("the answer is not JSON", status=status, endpoint=endpoint) from error


def api_error(
    response: requests.Response, endpoint: str, redact: Callable[[str], str]
) -> KakiyoAPIError:
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
        redact(message),
        status=response.status_code,
        code=None if code is None else redact(code),
        endpoint=endpoint,
    )
