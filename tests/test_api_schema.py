"""The events API's OpenAPI schema: served with the API's permissions, true to the API.

``test_every_answer_matches_the_schema`` loads the schema from ``api/schema/`` and lets
schemathesis generate requests for each operation, valid ones and invalid ones, sends them
through Django's WSGI handler as a superuser, and checks every answer against the schema:
no 5xx, documented status codes, content types and bodies, invalid input refused, valid input
accepted, authentication enforced. ``KAKIYO_SCHEMA_EXAMPLES`` (default 50) sets the examples
per operation and mode; the default run is reproducible, a longer one explores::

    KAKIYO_SCHEMA_EXAMPLES=1000 bin/run-tests tests/test_api_schema.py
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
import yaml
from django.contrib.auth.models import Permission, User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve, reverse
from drf_spectacular.drainage import GENERATOR_STATS
from hypothesis import HealthCheck, given, settings

from django_kakiyo.api_schema import SchemaUnavailableView, generate_schema
from django_kakiyo.events_api import EXACT_FILTERS, WebhookEventViewSet
from django_kakiyo.models import WebhookEvent

from .factories import stored_event

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/kakiyo/api/schema/"
EVENTS = "/kakiyo/api/events/"
EXAMPLES = int(os.environ.get("KAKIYO_SCHEMA_EXAMPLES", "50"))
PASSWORD = "schema-test-password"


def test_the_url_is_named() -> None:
    assert reverse("kakiyo-api-schema") == SCHEMA_URL


def test_readers_of_the_api_get_the_schema_as_yaml_or_json(admin_client: Client) -> None:
    as_yaml = admin_client.get(SCHEMA_URL)
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    as_json = admin_client.get(SCHEMA_URL, {"format": "json"})
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert yaml.safe_load(as_yaml.content) == json.loads(as_json.content) == generate_schema()


def test_the_schema_describes_the_events_api_alone() -> None:
    schema = generate_schema()
    assert not GENERATOR_STATS, "drf-spectacular warned while generating the schema"
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {EVENTS, f"{EVENTS}{{id}}/", f"{EVENTS}{{id}}/replay/"}
    listing = schema["paths"][EVENTS]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert names == {*EXACT_FILTERS, "received_after", "received_before", "cursor", "page_size"}
    assert set(schema["paths"][f"{EVENTS}{{id}}/replay/"]["post"]["responses"]) >= {"200", "409"}


def user_with(name: str, *codenames: str, staff: bool = False) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)


def test_the_schema_has_the_permissions_of_the_api(client: Client, settings: Any) -> None:
    assert client.get(SCHEMA_URL).status_code in (401, 403)
    client.force_login(user_with("staff", staff=True))  # staff, without the view permission
    assert client.get(SCHEMA_URL).status_code == 403
    client.force_login(user_with("reader", "view_webhookevent"))  # not staff: IsAdminUser refuses
    assert client.get(SCHEMA_URL).status_code == 403
    settings.KAKIYO = {
        **settings.KAKIYO,
        "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    }
    assert client.get(SCHEMA_URL).status_code == 200


def test_the_view_without_drf_spectacular_answers_501(admin_client: Client) -> None:
    """What ``api/schema/`` serves when the extra is not installed (tested for real below)."""
    request = admin_client.get(SCHEMA_URL).wsgi_request
    response: Any = SchemaUnavailableView.as_view()(request)
    response.render()
    assert response.status_code == 501
    assert "django-kakiyo[openapi]" in json.loads(response.content)["detail"]


def test_the_app_works_without_drf_spectacular(tmp_path: Path) -> None:
    """In a process where drf_spectacular cannot be imported: the webhook, the admin and the
    events API work, and ``api/schema/`` answers 501 to a reader of the API (403 to others)."""
    script = textwrap.dedent("""
        import json, sys
        sys.modules["drf_spectacular"] = None  # "import drf_spectacular" raises ImportError
        import django
        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django_kakiyo.testing import post_event
        setup_test_environment()
        call_command("migrate", verbosity=0)
        client = Client()
        answers = {"anonymous": client.get("/kakiyo/api/schema/").status_code}
        answers["webhook"] = post_event(client, "prospect.qualified", {}).status_code
        client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
        schema = client.get("/kakiyo/api/schema/")
        answers.update(schema=schema.status_code, detail=schema.json()["detail"])
        answers["events"] = len(client.get("/kakiyo/api/events/").json()["results"])
        answers["admin"] = client.get("/admin/django_kakiyo/webhookevent/").status_code
        print(json.dumps(answers))
    """)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("DATABASE_URL", None)  # an in-memory SQLite database of its own
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["anonymous"] in (401, 403)
    assert answers["webhook"] == 200
    assert answers["schema"] == 501
    assert 'pip install "django-kakiyo[openapi]"' in answers["detail"]
    assert answers["events"] == 1
    assert answers["admin"] == 200


@pytest.fixture
def stored() -> list[WebhookEvent]:
    """An event in each status, so reads and replays meet every case."""
    history = [{"at": "2026-01-01T00:00:00Z", "action": "replay", "by": "admin:root"}]
    return [
        stored_event(
            status=status,
            headers={"Content-Type": "application/json", "X-Kakiyo-Signature": "[redacted]"},
            history=history if status == "processed" else [],
            last_error="ValueError('boom')" if status == "failed" else "",
        )
        for status in WebhookEvent.Status.values
    ]


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """Django's WSGI handler, which leaves the test's database connection open between
    requests as Django's test client does (the test's transaction holds the data)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def api_schema(app: WSGIHandler, user: User) -> Any:
    """The schema as the superuser reads it from ``api/schema/``, ready to test the API."""
    schema = schemathesis.openapi.from_wsgi(
        f"{SCHEMA_URL}?format=json", app, headers=basic_auth(user)
    )
    schema.config.update(basic_auth=(user.get_username(), PASSWORD))
    # Requests carry the superuser's credentials; schemathesis probes without them itself.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def basic_auth(user: User) -> dict[str, str]:
    token = base64.b64encode(f"{user.get_username()}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def reaches_the_api(url: str) -> bool:
    """Whether the URLconf routes ``url`` to the events API (an id with a dot or a slash in it
    does not: the project answers that with its own 404 page)."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return False
    return getattr(match.func, "cls", None) is WebhookEventViewSet


def test_every_answer_matches_the_schema(
    wsgi_app: WSGIHandler, stored: list[WebhookEvent]
) -> None:
    user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    schema = api_schema(wsgi_app, user)
    seen: Counter[tuple[str, str, int | str]] = Counter()

    def exercise(operation: Any, mode: Any, **fixed: Any) -> None:
        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=EXAMPLES <= 50,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, response.text
            if not reaches_the_api(response.request.url):
                seen[(operation.label, mode.value, "not routed to the API")] += 1
                return
            case.validate_response(response)
            seen[(operation.label, mode.value, response.status_code)] += 1

        run()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            exercise(operation, mode)
        if "{id}" in operation.path:  # the stored events too, not only ids that miss
            for event in stored:
                exercise(operation, schemathesis.GenerationMode.POSITIVE,
                         path_parameters={"id": event.pk})  # fmt: skip

    print("\nschemathesis:", sum(seen.values()), "calls")
    for key, count in sorted(seen.items(), key=str):
        print(*key, count)
    detail, replay = f"GET {EVENTS}{{id}}/", f"POST {EVENTS}{{id}}/replay/"
    for expected in [
        (f"GET {EVENTS}", "positive", 200),
        (f"GET {EVENTS}", "negative", 400),
        (detail, "positive", 200),
        (detail, "positive", 404),
        (replay, "positive", 200),
        (replay, "positive", 409),
    ]:
        assert seen[expected], f"no call answered {expected}"
