"""An endpoint's URL through a database outage: verified with this process's last copy of the
endpoint and spooled (202), like the settings URL; 503 only for an endpoint it never found."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_kakiyo import endpoint_auth, ingest, known_endpoints, rejections
from django_kakiyo.endpoint_operations import create_endpoint, rotate_secret, set_enabled
from django_kakiyo.known_endpoints import KnownEndpoints
from django_kakiyo.models import WebhookEndpoint, WebhookEvent
from django_kakiyo.signing import compute_signature
from django_kakiyo.spool import SUFFIX, import_spool
from django_kakiyo.testing import make_payload

pytestmark = pytest.mark.django_db(transaction=True)

OWN = "endpoint-secret-own-0123456789abcdef"
OTHER = "endpoint-secret-other-0123456789abcdef"


@pytest.fixture(autouse=True)
def spool(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.KAKIYO = {**settings.KAKIYO, "SPOOL_DIR": str(tmp_path / "spool")}
    known_endpoints.clear()
    yield tmp_path / "spool"
    known_endpoints.clear()


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A context in which every transaction of the webhook's path fails to connect."""

    @contextmanager
    def down() -> Any:
        raise OperationalError("connection refused")
        yield  # pragma: no cover

    @contextmanager
    def during() -> Iterator[None]:
        with monkeypatch.context() as patch:
            for module in (endpoint_auth, ingest, rejections):
                patch.setattr(module, "bounded_transaction", down)
            yield

    return during


def spooled(spool: Path) -> list[Path]:
    return sorted(spool.glob(f"*{SUFFIX}")) if spool.exists() else []


def post(client: Client, key: uuid.UUID, secret: str | None, team_id: str = "team_test",
         **data: Any) -> Any:  # fmt: skip
    payload = make_payload("prospect.qualified", {"prospectId": "p_1", **data}, team_id=team_id)
    body = json.dumps(payload).encode()
    headers = {} if secret is None else {"X-Kakiyo-Signature": compute_signature(body, secret)}
    return client.post(
        reverse("kakiyo-endpoint-webhook", args=[key]), data=body,
        content_type="application/json", headers=headers,
    )  # fmt: skip


def seen(client: Client, endpoint: WebhookEndpoint, secret: str | None) -> None:
    """A delivery the database answers: this process now knows the endpoint."""
    assert post(client, endpoint.uuid, secret, message="seen").status_code == 200


def test_a_known_endpoint_is_verified_spooled_and_imported_with_it(
    client: Client, spool: Path, outage: Any
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    seen(client, endpoint, OWN)
    with outage():
        response = post(client, endpoint.uuid, OWN, message="during the outage")
    assert response.status_code == 202, response.content
    assert response.json() == {"id": None, "duplicate": None, "status": "spooled"}
    [file] = spooled(spool)
    assert OWN not in file.read_text()
    assert import_spool().imported == 1
    event = WebhookEvent.objects.get(payload__data__message="during the outage")
    assert (event.endpoint, event.signature_method) == (endpoint, "raw")


def test_a_real_outage_on_postgresql(client: Client, spool: Path) -> None:
    """No stand-in: the server's port refuses connections, as when PostgreSQL is down."""
    if connection.vendor != "postgresql":
        pytest.skip("an in-memory SQLite database cannot be taken away")
    endpoint, _ = create_endpoint("crm", secret=OWN)
    seen(client, endpoint, OWN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    connection.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        patch.setitem(connection.settings_dict, "PORT", closed_port)
        try:
            spooled_answer = post(client, endpoint.uuid, OWN, message="during the outage")
            refused = post(client, endpoint.uuid, OTHER, message="wrong secret")
            unknown = post(client, uuid.uuid4(), OWN)
        finally:
            connection.close()
    assert (spooled_answer.status_code, refused.status_code, unknown.status_code) == (
        202, 401, 503
    ), spooled_answer.content  # fmt: skip
    assert import_spool().imported == 1
    event = WebhookEvent.objects.get(payload__data__message="during the outage")
    assert event.endpoint == endpoint


def test_a_wrong_secret_during_the_outage_is_refused_and_not_spooled(
    client: Client, spool: Path, outage: Any
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    other, _ = create_endpoint("other", secret=OTHER)
    seen(client, endpoint, OWN)
    with outage():
        response = post(client, endpoint.uuid, OTHER)
        assert post(client, other.uuid, OWN).status_code == 503  # never seen here
    assert response.status_code == 401
    assert response.json()["error"] == "verification_failed"
    assert spooled(spool) == []


def test_an_endpoint_never_found_by_this_process_answers_503(
    client: Client, spool: Path, outage: Any
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    with outage():
        response = post(client, endpoint.uuid, OWN)
        assert post(client, uuid.uuid4(), OWN).status_code == 503
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert spooled(spool) == []


@pytest.mark.parametrize("how", ["disabled", "deleted"])
def test_an_endpoint_found_gone_is_not_accepted_during_the_outage(
    client: Client, spool: Path, outage: Any, how: str
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    seen(client, endpoint, OWN)
    if how == "disabled":
        set_enabled(endpoint, False)
    else:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
    assert post(client, endpoint.uuid, OWN).status_code == 404  # the lookup finds it gone
    with outage():
        assert post(client, endpoint.uuid, OWN, message="after").status_code == 503
    assert spooled(spool) == []


def test_the_copy_follows_a_rotation_and_judges_the_grace_at_the_request(
    client: Client, spool: Path, outage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    seen(client, endpoint, OWN)
    rotate_secret(endpoint, OTHER, grace=3600)
    assert post(client, endpoint.uuid, OTHER, message="refreshes the copy").status_code == 200
    with outage():
        assert post(client, endpoint.uuid, OWN, message="old, in grace").status_code == 202
        assert post(client, endpoint.uuid, OTHER, message="new").status_code == 202
        later = timezone.now() + dt.timedelta(hours=2)
        monkeypatch.setattr(timezone, "now", lambda: later)
        assert post(client, endpoint.uuid, OWN, message="old, grace over").status_code == 401
        assert post(client, endpoint.uuid, OTHER, message="new, later").status_code == 202
    assert len(spooled(spool)) == 3


def test_a_rotation_without_grace_seen_by_a_lookup_drops_the_old_secret(
    client: Client, spool: Path, outage: Any
) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    seen(client, endpoint, OWN)
    rotate_secret(endpoint, OTHER, grace=0)
    assert post(client, endpoint.uuid, OTHER, message="refreshes the copy").status_code == 200
    with outage():
        assert post(client, endpoint.uuid, OWN).status_code == 401
        assert post(client, endpoint.uuid, OTHER).status_code == 202


def test_the_copy_keeps_the_team_binding_and_the_unsigned_flag(
    client: Client, spool: Path, outage: Any
) -> None:
    team, _ = create_endpoint("team a", team="team_a", secret=OWN)
    unsigned, _ = create_endpoint("no secret", team="team_a", unsigned=True)
    assert post(client, team.uuid, OWN, team_id="team_a").status_code == 200
    assert post(client, unsigned.uuid, None, team_id="team_a").status_code == 200
    with outage():
        refused = post(client, team.uuid, OWN, team_id="team_b", message="b")
        assert post(client, unsigned.uuid, None, team_id="team_a", message="u").status_code == 202
    assert (refused.status_code, refused.json()["error"]) == (401, "team_mismatch")
    assert len(spooled(spool)) == 1
    assert import_spool().imported == 1
    event = WebhookEvent.objects.get(payload__data__message="u")
    assert (event.endpoint, event.signature_method) == (unsigned, "unsigned")


def test_the_copy_keeps_the_secrets_encrypted(client: Client) -> None:
    endpoint, _ = create_endpoint("crm", secret=OWN)
    rotate_secret(endpoint, OTHER, grace=3600)
    seen(client, endpoint, OTHER)
    copies = list(known_endpoints.known_endpoints._known.values())
    assert [copy.pk for copy in copies] == [endpoint.pk]
    held = json.dumps([vars(copy) for copy in copies], default=str)
    assert OWN not in held and OTHER not in held
    assert "secret" not in repr(copies[0])


def test_the_copies_are_bounded_least_recently_looked_up_dropped_first() -> None:
    known = KnownEndpoints(max_entries=2)
    endpoints = [WebhookEndpoint(pk=n, name=f"e{n}", uuid=uuid.uuid4()) for n in range(3)]
    known.remember(endpoints[0])
    known.remember(endpoints[1])
    known.remember(endpoints[0])  # looked up again: now the most recent
    known.remember(endpoints[2])
    assert len(known) == 2
    assert known.last_known(endpoints[1].uuid) is None
    copy = known.last_known(endpoints[0].uuid)
    assert copy is not None and (copy.pk, copy.name, copy.enabled) == (0, "e0", True)
    assert copy is not known.last_known(endpoints[0].uuid)  # each caller its own instance
    known.forget(endpoints[0].uuid)
    assert known.last_known(endpoints[0].uuid) is None
