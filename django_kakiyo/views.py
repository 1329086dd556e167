"""The webhook endpoint: HTTP only (method, length, content type, status codes).

A plain Django view rather than a DRF one: the signature covers the raw bytes, so the body
must be read exactly once, unparsed, with a size cap enforced before reading; DRF's parsers,
negotiation and authentication would only sit in the way on the hottest path of the app.

``post`` reads as its steps: read the body, authenticate it, hand it to
:func:`~django_kakiyo.ingest.ingest`. Any step may refuse the request by raising
:class:`~django_kakiyo.exceptions.WebhookRefused`, caught in one place.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .at_risk import Answer, record_answer
from .caller_ip import client_ip
from .conf import kakiyo_settings
from .endpoint_auth import endpoint_during_outage, receiving_endpoint, unsigned_delivery
from .exceptions import DatabaseUnavailable, WebhookRefused
from .ingest import Delivery, ingest
from .models import RejectedRequest, WebhookEndpoint
from .publishing import background_publisher
from .rejections import record_rejection
from .signing import (
    SIGNATURE_HEADER,
    CpuBudget,
    VerifiedBody,
    normalise_signature_header,
    verify_canonical,
    verify_raw,
)
from .spool import import_in_background_if_spooled, spool_delivery, spool_dir
from .storable import storable_headers

logger = logging.getLogger(__name__)

ALLOWED_METHODS = "POST, OPTIONS"
Reason = RejectedRequest.Reason

#: This process's CPU allowance for re-serialising bodies whose raw signature failed.
canonical_budget = CpuBudget()


def is_json_content_type(content_type: str) -> bool:
    """Whether a declared media type is JSON (no declared type counts as JSON)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in {"", "application/json", "text/json"} or media_type.endswith("+json")


def error_response(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class WebhookView(View):
    """Verify, store and acknowledge one Kakiyo delivery.

    Answers: 405 for a method other than POST (OPTIONS and HEAD get a polite 200), 413 for a
    body over ``MAX_BODY_BYTES`` (judged on Content-Length before reading), 411 for a chunked
    body the server cannot stream, 415 for a request whose raw bytes do not verify and that
    declares a non-JSON type, 401 for a missing or wrong signature, 200 otherwise. A delivery
    whose signature verifies is never refused, because Kakiyo disables a webhook after four
    failed attempts: if it is not a usable event it is stored as ``invalid`` with the reason,
    acknowledged, and never dispatched. When the database is unavailable it is spooled to
    ``SPOOL_DIR`` and answered 202, or answered 503 without a spool.

    Exempt from ``ATOMIC_REQUESTS``: the event must be committed before the answer, and a
    database outage must reach the spool rather than become a 500.
    """

    http_method_names = ["post", "head", "options"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Every POST's answer is counted once it is sent (when the server closes the
        response), with how long it took: tallies, and the at-risk state
        (:mod:`django_kakiyo.at_risk`)."""
        started = time.monotonic()
        try:
            with background_publisher.receiving():  # it lingers while others are received
                response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        except Exception:
            record_answer(Answer(500, "error", time.monotonic() - started))
            raise
        answer: Answer | None = getattr(response, "kakiyo_answer", None)
        if answer is not None:
            # Django runs a response's resource closers when the server closes it, once the
            # answer is sent, and before request_finished (which closes this thread's
            # database connection). A closure over the answer, not the response: no cycle.
            response._resource_closers.append(partial(count_answer, answer, started))  # type: ignore[attr-defined]
        return response

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = HttpResponse(status=200)
        response["Allow"] = ALLOWED_METHODS
        response["Content-Length"] = "0"
        return response

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Lets a URL check (a HEAD before registering a webhook) see that the endpoint exists.
        return self.options(request)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return error_response(
            405, "method_not_allowed", "Kakiyo webhooks are POSTed.", Allow=ALLOWED_METHODS
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = kwargs.get("endpoint")
        database_down = False
        try:
            endpoint = receiving_endpoint(key)
        except WebhookRefused as refusal:
            return refuse(request, refusal, b"")
        except DatabaseUnavailable:  # verified with this process's copy, then spooled
            endpoint = endpoint_during_outage(key)
            if endpoint is None:
                return spool_or_503(None)
            database_down = True
        response = self.receive(request, endpoint, database_down)
        answer: Answer | None = getattr(response, "kakiyo_answer", None)
        if answer is not None and endpoint is not None:  # counted under its endpoint
            counted(response, dataclasses.replace(answer, endpoint=endpoint.name))
        return response

    def receive(
        self, request: HttpRequest, endpoint: WebhookEndpoint | None, database_down: bool = False
    ) -> HttpResponse:
        """Read the body, authenticate it, store it (spool it, ``database_down``): the answer."""
        body = b""
        delivery = None
        try:
            body = read_body(request)
            verified = authenticate(request, body, endpoint)
            delivery = Delivery(
                signed_bytes=verified.signed_bytes,
                raw_body=body,
                signature_method=verified.method,
                headers=storable_headers(
                    request.headers, kakiyo_settings.STORED_HEADERS_MAX_BYTES
                ),
                remote_addr=client_ip(request),
                received_at=timezone.now(),
                team=verified.team,
                endpoint_id=None if endpoint is None else endpoint.pk,
            )
            result = ingest(
                delivery, verified.payload, publish_in_background=True, database_down=database_down
            )
        except DatabaseUnavailable:
            return spool_or_503(delivery)
        except WebhookRefused as refusal:
            return refuse(request, refusal, body)
        import_in_background_if_spooled()
        event = result.event
        answer: dict[str, Any] = {
            "id": event.pk,
            "duplicate": result.duplicate,
            "status": event.status,
        }
        outcome = "duplicate" if result.duplicate else "accepted"
        if event.invalid_reason and not result.duplicate:
            answer["reason"] = event.invalid_reason
            outcome = "invalid"
        event_type = event.event_type if not result.duplicate else ""
        return counted(
            JsonResponse(answer, status=200), Answer(200, outcome, event_type=event_type)
        )


def read_body(request: HttpRequest) -> bytes:
    """The body, at most ``MAX_BODY_BYTES``: refused before reading when it says it is larger.

    A chunked body (no Content-Length) is read from the server's own stream, which Django's
    request does not expose; a WSGI server that cannot end such a stream gets 411.
    """
    max_bytes = int(kakiyo_settings.MAX_BODY_BYTES)
    too_large = f"Body is over the {max_bytes}-byte limit."
    declared = declared_length(request)
    if declared is not None and declared > max_bytes:
        raise WebhookRefused(413, Reason.PAYLOAD_TOO_LARGE, too_large)
    stream: Any = request
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if declared is None and chunked and "wsgi.input" in request.META:
        if not request.META.get("wsgi.input_terminated"):
            raise WebhookRefused(
                411,
                Reason.LENGTH_REQUIRED,
                "Send a Content-Length: this server cannot read a chunked body.",
            )
        stream = request.META["wsgi.input"]
    body = bytes(stream.read(max_bytes + 1))
    if len(body) > max_bytes:
        raise WebhookRefused(413, Reason.PAYLOAD_TOO_LARGE, too_large)
    return body


def authenticate(
    request: HttpRequest, body: bytes, endpoint: WebhookEndpoint | None = None
) -> VerifiedBody:
    """The proof that ``body`` is Kakiyo's, or :class:`WebhookRefused` (415, 401).

    At the settings URL (``endpoint`` None) the secrets are the settings' and only them; at
    an endpoint's URL, that endpoint's and only them (an unsigned endpoint: none, its URL
    is the proof).

    The raw bytes are checked first (one HMAC pass per secret). Only when that fails, the
    request declares JSON, the body is under ``CANONICAL_MAX_BYTES`` and this process has
    ``CANONICAL_CPU_BUDGET`` left, is the body parsed and its re-serialisation checked: that
    is the expensive step a fake signature could make us repeat.
    """
    if endpoint is not None and endpoint.unsigned:
        return unsigned_delivery(endpoint, body)
    if endpoint is None:
        secrets = kakiyo_settings.signing_secrets()
    else:
        secrets = endpoint.signing_secrets(timezone.now())
    header = request.headers.get(SIGNATURE_HEADER)
    verified = verify_raw(body, header, secrets)
    if verified is not None:
        return verified
    # Content type is judged only for requests that are not authentic: a delivery signed
    # with our secret is Kakiyo's whatever a proxy did to its headers.
    if not is_json_content_type(request.content_type or ""):
        raise WebhookRefused(
            415, Reason.UNSUPPORTED_MEDIA_TYPE, "Kakiyo webhooks are application/json."
        )
    detail = f"Missing or invalid {SIGNATURE_HEADER}."
    if normalise_signature_header(header) is None:
        raise WebhookRefused(401, Reason.VERIFICATION_FAILED, detail)
    if len(body) > kakiyo_settings.CANONICAL_MAX_BYTES:
        raise WebhookRefused(
            401,
            Reason.VERIFICATION_FAILED,
            detail + " (re-formatted body check skipped: over KAKIYO['CANONICAL_MAX_BYTES'])",
        )
    rate = float(kakiyo_settings.CANONICAL_CPU_BUDGET)
    if not canonical_budget.available(rate):
        raise WebhookRefused(
            401,
            Reason.VERIFICATION_FAILED,
            detail + " (re-formatted body check skipped: KAKIYO['CANONICAL_CPU_BUDGET'] spent)",
        )
    started = time.thread_time()
    try:
        verified = verify_canonical(body, header, secrets)
    finally:
        canonical_budget.spend(time.thread_time() - started)
    if verified is None:
        raise WebhookRefused(401, Reason.VERIFICATION_FAILED, detail)
    return verified


def count_answer(answer: Answer, started: float) -> None:
    record_answer(dataclasses.replace(answer, seconds=time.monotonic() - started))


def counted(response: HttpResponse, answer: Answer) -> HttpResponse:
    """Mark ``response`` with what it answered, for :meth:`WebhookView.dispatch` to count."""
    response.kakiyo_answer = answer  # type: ignore[attr-defined]
    return response


def refuse(request: HttpRequest, refusal: WebhookRefused, body: bytes) -> HttpResponse:
    """Answer a refusal, and keep a bounded record of it for operators.

    A well-formed signature that did not verify is kept (a refused signature is no secret,
    and with the body it lets an operator verify the request again after fixing a secret),
    and counts towards the at-risk alert: a run of them suggests a rotated secret.
    """
    signature = ""
    if refusal.reason == Reason.VERIFICATION_FAILED:
        digest = normalise_signature_header(request.headers.get(SIGNATURE_HEADER))
        signature = digest.hex() if digest else ""
    database_up = True
    try:
        record_rejection(
            reason=refusal.reason,
            detail=refusal.detail,
            method=request.method or "",
            path=request.path,
            headers=request.headers,
            remote_addr=client_ip(request),
            body_prefix=body,
            content_length=declared_length(request),
            signature=signature,
        )
    except DatabaseError:
        # The answer matters more than the record of it.
        logger.exception("Could not record a rejected Kakiyo webhook request")
        database_up = False
    logger.info("Refused a Kakiyo webhook request (%s): %s", refusal.reason, refusal.detail)
    return counted(
        error_response(refusal.status, str(refusal.reason), refusal.detail),
        Answer(refusal.status, "rejected", reason=str(refusal.reason),
               signature_refused=bool(signature), database_up=database_up),
    )  # fmt: skip


def spool_or_503(delivery: Delivery | None) -> HttpResponse:
    """The database is unavailable: keep the delivery on disk (202), or ask Kakiyo to retry
    (also when it cannot be verified: an endpoint this process has no copy of)."""
    if delivery is not None and spool_dir() is not None:
        try:
            path = spool_delivery(delivery)
        except OSError:
            logger.exception("Kakiyo delivery could be neither stored nor spooled")
        else:
            logger.warning("Database unavailable: Kakiyo delivery spooled to %s", path)
            answer = {"id": None, "duplicate": None, "status": "spooled"}
            return counted(
                JsonResponse(answer, status=202), Answer(202, "spooled", database_up=False)
            )
    else:
        logger.exception("Kakiyo delivery could not be stored: database unavailable")
    return counted(
        error_response(503, "unavailable", "The event could not be stored; retry.",
                       Retry_After="5"),
        Answer(503, "unavailable", database_up=False),
    )  # fmt: skip


def declared_length(request: HttpRequest) -> int | None:
    try:
        value = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


webhook_view = WebhookView.as_view()
