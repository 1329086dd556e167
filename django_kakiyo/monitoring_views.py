"""``health/`` and ``metrics/``: for probes, Prometheus and on-call, not for the public.

Each answers a request carrying ``Authorization: Bearer <KAKIYO['MONITORING_TOKEN']>``
(compared in constant time, so it works while the database is down) or a logged-in user with
the view permission on events; anyone else gets an empty 401 (a wrong token) or 404
(nothing offered). Neither view runs in ``ATOMIC_REQUESTS``' transaction: with the database
down, health/ must answer ``failing`` (503), never a 500.
"""

from __future__ import annotations

import hmac
import logging

from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .conf import kakiyo_settings
from .health import FAILING, check_health
from .metrics import exposition, metrics_available
from .models import VIEW_PERMISSION

logger = logging.getLogger(__name__)


def access(request: HttpRequest) -> int | None:
    """None when ``request`` may read monitoring, else the status to answer (401 or 404)."""
    header = request.headers.get("Authorization", "")
    token = kakiyo_settings.MONITORING_TOKEN
    if header:
        scheme, _, offered = header.partition(" ")
        expected = (token or "").strip().encode()
        if (
            expected
            and scheme.lower() == "bearer"
            and hmac.compare_digest(offered.strip().encode(), expected)
        ):
            return None
        return 401
    user = getattr(request, "user", None)
    try:
        if user is not None and user.is_authenticated and user.has_perm(VIEW_PERMISSION):
            return None
    except DatabaseError:  # the session or the permissions could not be read
        return 404
    return 404


def refused(status: int) -> HttpResponse:
    response = HttpResponse(status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="kakiyo-monitoring"'
    return response


@never_cache
@require_GET
@transaction.non_atomic_requests
def health_view(request: HttpRequest) -> HttpResponse:
    """The health JSON: 200 when ok or degraded, 503 when failing."""
    status = access(request)
    if status is not None:
        return refused(status)
    health = check_health()
    return JsonResponse(health.as_json(), status=503 if health.status == FAILING else 200)


@never_cache
@require_GET
@transaction.non_atomic_requests
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; 404 when metrics are off, 503 without a database."""
    if not metrics_available():
        return HttpResponse(status=404)
    status = access(request)
    if status is not None:
        return refused(status)
    try:
        body, content_type = exposition()
    except DatabaseError:
        logger.warning("Metrics: the database is unavailable", exc_info=True)
        return HttpResponse(
            "# the database is unavailable\n", status=503, content_type="text/plain"
        )
    return HttpResponse(body, content_type=content_type)
