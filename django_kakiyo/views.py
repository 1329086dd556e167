"""The webhook endpoint: HTTP only (method, size, content type, status codes).

A plain Django view rather than a DRF one: the signature covers the raw bytes, so the body
must be read exactly once, unparsed, with a size cap enforced before reading; DRF's parsers,
negotiation and authentication would only sit in the way on the hottest path of the app.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .client_address import client_ip
from .conf import kakiyo_settings
from .envelope import read_event
from .ingest import Delivery, record_rejection, redact_headers, store_event
from .models import RejectedRequest
from .signing import verify_signature
from .spool import import_in_background_if_spooled, spool_delivery, spool_dir

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Kakiyo-Signature"
ALLOWED_METHODS = "POST, OPTIONS"


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
    body over ``MAX_BODY_BYTES`` (judged on Content-Length before reading), 415 for an
    unsigned request that declares a non-JSON type, 401 for a missing or wrong signature,
    200 otherwise. A delivery whose signature verifies is never refused, because Kakiyo
    disables a webhook after four failed attempts: if it is not a usable event it is stored
    as ``invalid`` with the reason, acknowledged, and never dispatched. When the database is
    down it is spooled to ``SPOOL_DIR`` and answered 202, or answered 503 without a spool.

    Exempt from ``ATOMIC_REQUESTS``: the event must be committed before the answer, and a
    database error must reach the spool rather than become a 500.
    """

    http_method_names = ["post", "head", "options"]

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
        max_bytes = int(kakiyo_settings.MAX_BODY_BYTES)
        declared_length = _content_length(request)
        if declared_length is not None and declared_length > max_bytes:
            return self._refuse(
                request,
                413,
                RejectedRequest.Reason.PAYLOAD_TOO_LARGE,
                f"Body is over the {max_bytes}-byte limit.",
                content_length=declared_length,
            )
        body = request.read(max_bytes + 1)
        if len(body) > max_bytes:
            return self._refuse(
                request,
                413,
                RejectedRequest.Reason.PAYLOAD_TOO_LARGE,
                f"Body is over the {max_bytes}-byte limit.",
                body=body,
                content_length=declared_length,
            )

        secret_teams = kakiyo_settings.secret_teams()
        verified = verify_signature(
            body, request.headers.get(SIGNATURE_HEADER), list(secret_teams)
        )
        if verified is None:
            # Content type is judged only for requests that are not authentic: a delivery
            # signed with our secret is Kakiyo's whatever a proxy did to its headers.
            if not is_json_content_type(request.content_type or ""):
                return self._refuse(
                    request,
                    415,
                    RejectedRequest.Reason.UNSUPPORTED_MEDIA_TYPE,
                    "Kakiyo webhooks are application/json.",
                    body=body,
                    content_length=declared_length,
                )
            return self._refuse(
                request,
                401,
                RejectedRequest.Reason.VERIFICATION_FAILED,
                f"Missing or invalid {SIGNATURE_HEADER}.",
                body=body,
                content_length=declared_length,
            )

        received_at = timezone.now()
        event = read_event(
            body,
            verified.payload,
            now=received_at,
            replay_window=kakiyo_settings.REPLAY_WINDOW,
        )
        envelope = event.envelope
        bound_team = secret_teams.get(verified.secret)
        if bound_team is not None and envelope is not None and envelope.team_id != bound_team:
            return self._refuse(
                request,
                401,
                RejectedRequest.Reason.TEAM_MISMATCH,
                "The signing secret belongs to another Kakiyo team.",
                body=body,
                content_length=declared_length,
            )

        delivery = Delivery(
            signed_bytes=verified.signed_bytes,
            raw_body=body,
            signature_method=verified.method,
            headers=redact_headers(request.headers),
            remote_addr=client_ip(request),
            received_at=received_at,
        )
        try:
            result = store_event(delivery, event, publish_in_background=True)
        except DatabaseError:
            return self._spool_or_503(delivery)
        import_in_background_if_spooled()
        answer: dict[str, Any] = {
            "id": result.event.pk,
            "duplicate": result.duplicate,
            "status": result.event.status,
        }
        if event.invalid_reason and not result.duplicate:
            answer["reason"] = event.invalid_reason
        return JsonResponse(answer, status=200)

    def _spool_or_503(self, delivery: Delivery) -> HttpResponse:
        """The database is down: keep the delivery on disk (202), or ask Kakiyo to retry."""
        if spool_dir() is not None:
            try:
                path = spool_delivery(delivery)
            except OSError:
                logger.exception("Kakiyo delivery could be neither stored nor spooled")
            else:
                logger.warning("Database unavailable: Kakiyo delivery spooled to %s", path)
                answer = {"id": None, "duplicate": None, "status": "spooled"}
                return JsonResponse(answer, status=202)
        else:
            logger.exception("Kakiyo delivery could not be stored: database unavailable")
        return error_response(
            503, "unavailable", "The event could not be stored; retry.", Retry_After="5"
        )

    def _refuse(
        self,
        request: HttpRequest,
        status: int,
        reason: str,
        detail: str,
        *,
        body: bytes = b"",
        content_length: int | None = None,
    ) -> HttpResponse:
        try:
            record_rejection(
                reason=reason,
                detail=detail,
                method=request.method or "",
                path=request.path,
                headers=request.headers,
                remote_addr=client_ip(request),
                body_prefix=body,
                content_length=content_length,
            )
        except DatabaseError:
            # The answer matters more than the record of it.
            logger.exception("Could not record a rejected Kakiyo webhook request")
        logger.info("Refused a Kakiyo webhook request (%s): %s", reason, detail)
        return error_response(status, str(reason), detail)


def _content_length(request: HttpRequest) -> int | None:
    try:
        value = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


webhook_view = WebhookView.as_view()
