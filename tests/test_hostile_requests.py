"""What an attacker on the internet can send the webhook, over HTTP: every answer is cheap,
bounded and clear, and no such request reaches user code or a 500."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client

from django_kakiyo import signing, views
from django_kakiyo.models import RejectedRequest, WebhookEvent
from django_kakiyo.signing import CpuBudget, compute_signature
from django_kakiyo.storable import MAX_HEADER_VALUE_CHARS, REDACTED
from django_kakiyo.testing import make_payload, sign_payload

from .conftest import SECRET

pytestmark = pytest.mark.django_db

URL = "/kakiyo/webhook/"
FAKE_SIGNATURE = "ab" * 32


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the strict parses of request bodies (the expensive step of verification)."""
    calls: list[int] = []
    original = signing.loads_strict

    def counting(data: bytes) -> Any:
        calls.append(len(data))
        return original(data)

    monkeypatch.setattr(signing, "loads_strict", counting)
    return calls


@pytest.fixture(autouse=True)
def fresh_budget(monkeypatch: pytest.MonkeyPatch) -> CpuBudget:
    budget = CpuBudget()
    monkeypatch.setattr(views, "canonical_budget", budget)
    return budget


def post(client: Client, body: bytes, signature: str | None = FAKE_SIGNATURE, **extra: Any) -> Any:
    headers = {} if signature is None else {"X-Kakiyo-Signature": signature}
    content_type = extra.pop("content_type", "application/json")
    return client.post(URL, data=body, content_type=content_type, headers=headers, **extra)


def array_of_objects(size: int) -> bytes:
    """The attack body of the report: ``[{"0":0},...]``, slow to re-serialise."""
    item = b'{"0":0},'
    return b"[" + item * (size // len(item)) + b'{"0":0}]'


# -- refusing is cheap ---------------------------------------------------------------------


def test_a_fake_signed_megabyte_is_refused_without_being_parsed(
    client: Client, parses: list[int]
) -> None:
    response = post(client, array_of_objects(1_000_000))
    assert response.status_code == 401
    assert parses == []
    rejected = RejectedRequest.objects.get()
    assert "CANONICAL_MAX_BYTES" in rejected.detail


def test_a_small_reformatted_delivery_still_verifies(client: Client, parses: list[int]) -> None:
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    pretty = json.dumps(json.loads(body), indent=2).encode()
    response = post(client, pretty, headers["X-Kakiyo-Signature"])
    assert response.status_code == 200
    assert WebhookEvent.objects.get().signature_method == "canonical"
    assert parses == [len(pretty)]


def test_an_authentic_raw_delivery_never_parses_for_verification(
    client: Client, parses: list[int]
) -> None:
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    assert post(client, body, headers["X-Kakiyo-Signature"]).status_code == 200
    assert parses == []


def test_with_the_budget_spent_fake_signatures_are_refused_without_parsing(
    client: Client, parses: list[int], fresh_budget: CpuBudget
) -> None:
    fake = array_of_objects(20_000)
    assert post(client, fake).status_code == 401
    assert len(parses) == 1  # the budget allowed one
    fresh_budget.spend(100.0)  # as if a flood had used it all
    for _ in range(5):
        response = post(client, fake)
        assert response.status_code == 401
    assert len(parses) == 1
    assert "CANONICAL_CPU_BUDGET" in RejectedRequest.objects.first().detail  # type: ignore[union-attr]
    # An authentic delivery as Kakiyo sent it needs no budget.
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    assert post(client, body, headers["X-Kakiyo-Signature"]).status_code == 200


def test_a_budget_of_zero_turns_the_fallback_off(
    client: Client, settings: Any, parses: list[int]
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "CANONICAL_CPU_BUDGET": 0}
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    pretty = json.dumps(json.loads(body), indent=2).encode()
    assert post(client, pretty, headers["X-Kakiyo-Signature"]).status_code == 401
    assert parses == []


def test_the_content_type_is_judged_before_any_parse(client: Client, parses: list[int]) -> None:
    response = post(client, b'{"event": "x"}', content_type="text/plain")
    assert response.status_code == 415
    assert parses == []


def test_a_malformed_signature_is_refused_without_parsing(
    client: Client, parses: list[int]
) -> None:
    for signature in (None, "", "not-hex", "ab" * 31):
        assert post(client, b'{"event": "x"}', signature).status_code == 401
    assert parses == []


# -- odd lengths -------------------------------------------------------------------------------


def test_a_content_length_beyond_any_integer_column_is_413_and_recorded(client: Client) -> None:
    for claimed in (2**63, 2**64, 10**30):
        response = client.generic(
            "POST", URL, b"{}", content_type="application/json", CONTENT_LENGTH=str(claimed)
        )
        assert response.status_code == 413
    assert (
        list(RejectedRequest.objects.values_list("content_length", flat=True)) == [2**63 - 1] * 3
    )


def chunked(client: Client, body: bytes, *, terminated: bool) -> Any:
    """A chunked POST as a WSGI server hands it over: no Content-Length, the body in the
    server's stream (``wsgi.input_terminated`` says the server ends it)."""
    signature = {"X-Kakiyo-Signature": compute_signature(body, SECRET)}
    stream = io.BytesIO(body)  # reads to its end, like gunicorn's chunked body
    return client.generic(
        "POST",
        URL,
        body,
        content_type="application/json",
        headers=signature,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream, "wsgi.input_terminated": terminated},
    )


def test_a_chunked_body_is_read_when_the_server_ends_the_stream(client: Client) -> None:
    body, _ = sign_payload(make_payload("linkedin.message.received"), SECRET)
    response = chunked(client, body, terminated=True)
    assert response.status_code == 200
    assert bytes(WebhookEvent.objects.get().raw_body) == body


def test_a_chunked_body_the_server_cannot_end_is_411(client: Client) -> None:
    body, _ = sign_payload(make_payload("linkedin.message.received"), SECRET)
    response = chunked(client, body, terminated=False)
    assert response.status_code == 411
    assert RejectedRequest.objects.get().reason == "length_required"


# -- bounded rows ----------------------------------------------------------------------------


def test_refused_requests_keep_a_bounded_amount_of_headers(client: Client) -> None:
    many = {f"X-Filler-{n}": "v" * 8192 for n in range(90)}
    response = client.post(URL, data=b"{}", content_type="application/json", headers=many)
    assert response.status_code == 401
    headers = RejectedRequest.objects.get().headers
    assert len(json.dumps(headers, ensure_ascii=False).encode()) <= 4096 + 64
    kept = [value for name, value in headers.items() if name.startswith("X-Filler")]
    assert kept and all(len(value) <= MAX_HEADER_VALUE_CHARS + 20 for value in kept)
    assert "more header(s) not kept" in headers["..."]


@pytest.mark.parametrize(
    "name",
    [
        "X-Auth-Token",
        "Api-Key",
        "X-Amz-Security-Token",
        "Cf-Access-Client-Secret",
        "X-Goog-Iap-Jwt-Assertion",
        "X-Hub-Signature-256",
        "Authorization",
        "Cookie",
    ],
)
def test_credential_headers_are_redacted(client: Client, name: str) -> None:
    body, headers = sign_payload(make_payload("linkedin.message.received"), SECRET)
    client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={**headers, name: "credential-value-123"},
    )
    client.post(URL, data=b"{}", content_type="application/json", headers={name: "cv-123"})
    stored = {k.lower(): v for k, v in WebhookEvent.objects.get().headers.items()}
    refused = {k.lower(): v for k, v in RejectedRequest.objects.get().headers.items()}
    assert stored[name.lower()] == REDACTED
    assert refused[name.lower()] == REDACTED


# -- secrets and teams ---------------------------------------------------------------------


def test_a_whitespace_only_secret_never_verifies(client: Client, settings: Any) -> None:
    settings.KAKIYO = {"WEBHOOK_SECRETS": [" ", "\t\n"]}
    body, _ = sign_payload(make_payload("linkedin.message.received"), SECRET)
    for secret in (" ", "\t\n"):
        assert post(client, body, compute_signature(body, secret)).status_code == 401
    assert not WebhookEvent.objects.exists()


TEAM_SECRET = "team-a-secret-0123456789abcdef"


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "x", "teamId": "team_A", "team": {"id": "team_B"}},
        {"event": "x", "teamId": "team_A", "data": {"teamId": "team_B"}},
        {"event": "x", "team": {"id": "team_A"}, "data": {"team": {"id": "team_B"}}},
        {"event": "x", "data": {}},
        {"teamId": "team_A", "data": {}},
        {"event": "x", "teamId": "team_A", "data": ["not", "an", "object"]},
        ["team_A"],
        "team_A",
    ],
    ids=[
        "team.id",
        "data.teamId",
        "data.team.id",
        "no-team",
        "no-event",
        "data-array",
        "array",
        "string",
    ],
)
def test_a_team_secret_signs_only_for_its_own_team(
    client: Client, settings: Any, payload: Any
) -> None:
    settings.KAKIYO = {"TEAM_SECRETS": {"team_A": [TEAM_SECRET]}}
    body = json.dumps(payload).encode()
    response = post(client, body, compute_signature(body, TEAM_SECRET))
    assert response.status_code == 401
    assert response.json()["error"] == "team_mismatch"
    assert not WebhookEvent.objects.exists()


def test_a_team_secret_accepts_its_team_named_everywhere(client: Client, settings: Any) -> None:
    settings.KAKIYO = {"TEAM_SECRETS": {"team_A": [TEAM_SECRET]}}
    payload = {
        "event": "x",
        "teamId": "team_A",
        "team": {"id": "team_A"},
        "data": {"teamId": "team_A", "team": {"id": "team_A"}},
    }
    body = json.dumps(payload).encode()
    assert post(client, body, compute_signature(body, TEAM_SECRET)).status_code == 200


def test_a_team_bound_invalid_json_body_is_refused(client: Client, settings: Any) -> None:
    settings.KAKIYO = {"TEAM_SECRETS": {"team_A": [TEAM_SECRET]}}
    body = b"not json at all"
    response = post(client, body, compute_signature(body, TEAM_SECRET))
    assert (response.status_code, response.json()["error"]) == (401, "team_mismatch")


# -- values no column could store ------------------------------------------------------------


def test_nul_in_every_id_is_stored_and_answered_200_never_spooled(
    client: Client, settings: Any, tmp_path: Any
) -> None:
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "spool")}
    nul = "\u0000"
    data = {key: f"{key}{nul}\ud800x" for key in ("agentId", "campaignId", "chatId", "prospectId")}
    payload = {"event": f"linkedin.message.received{nul}", "teamId": f"team{nul}", "data": data}
    body, headers = sign_payload(payload, SECRET)
    response = post(client, body, headers["X-Kakiyo-Signature"])
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.team_id == "team\ufffd"
    assert event.prospect_id == "prospectId\ufffd\ufffdx"
    assert event.agent_id == "agentId\ufffd\ufffdx"
    assert event.event_type == "linkedin.message.received\ufffd"
    assert bytes(event.raw_body) == body
    assert not (tmp_path / "spool").exists()


def test_an_overlong_event_type_has_its_own_reason(client: Client) -> None:
    body, headers = sign_payload({"event": "x" * 101, "data": {}}, SECRET)
    response = post(client, body, headers["X-Kakiyo-Signature"])
    assert response.json()["reason"] == "event_type_too_long"
