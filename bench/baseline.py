"""The hand-written baseline webhook view for bench/ingest.py, and its bare Celery task.

It does only what any webhook receiver has to: check the HMAC-SHA256 of the raw body with
``hmac.compare_digest``, ``json.loads`` it, insert ONE ``WebhookEvent`` row of the same shape
(event type, payload, raw body, ``dedup_key`` = SHA-256 hex, the ids; same table, so the same
indexes) and publish a bare task on commit. No size cap, no strict JSON, no redaction, no
client IP, no dedup handling, no status change after publishing: the difference to our
endpoint is what those cost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import redis
from celery import shared_task
from django.apps import AppConfig
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

COUNTER_URL = os.environ.get("KAKIYO_BENCH_STAMPS_URL", "redis://127.0.0.1:6379/10")
#: Incremented by every bare task, so the bench can check that each one ran.
COUNTER_KEY = "bench:baseline:done"

_secret: bytes | None = None
_redis: redis.Redis | None = None


@shared_task(name="bench.bare", ignore_result=True)
def bare_task(event_id: int) -> None:
    """The baseline's task: counts that it ran, nothing else."""
    global _redis
    if _redis is None:  # one connection per worker process, made after the fork
        _redis = redis.Redis.from_url(COUNTER_URL)
    _redis.incr(COUNTER_KEY)


@csrf_exempt
def baseline_webhook(request: HttpRequest) -> HttpResponse:
    global _secret
    from django_kakiyo.models import WebhookEvent  # not importable before apps are ready

    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if _secret is None:
        _secret = settings.KAKIYO["WEBHOOK_SECRETS"][0].encode()
    body = request.body
    expected = hmac.new(_secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Kakiyo-Signature", "")):
        return JsonResponse({"error": "verification_failed"}, status=401)
    payload: dict[str, Any] = json.loads(body)
    data = payload.get("data") or {}
    event = WebhookEvent.objects.create(
        event_type=payload["event"],
        team_id=payload.get("teamId", ""),
        agent_id=data.get("agentId", ""),
        campaign_id=data.get("campaignId", ""),
        chat_id=data.get("chatId", ""),
        prospect_id=data.get("prospectId", ""),
        payload=payload,
        raw_body=body,
        dedup_key=hashlib.sha256(body).hexdigest(),
    )
    transaction.on_commit(lambda: bare_task.delay(event.pk))
    return JsonResponse({"id": event.pk, "duplicate": False, "status": event.status})


class BaselineConfig(AppConfig):
    """Registers the bare task (importing this module) in the web and worker processes."""

    name = "bench"
    label = "bench_baseline"
