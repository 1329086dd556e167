"""A small Kakiyo that remembers its webhooks, served by pytest-httpserver on 127.0.0.1.

It answers the documented ``POST /webhooks`` and the undocumented ``GET /webhooks``,
``PUT /webhooks/{id}`` and ``DELETE /webhooks/{id}`` the way the client expects them
(:mod:`django_kakiyo.kakiyo_api.endpoints`), checking the bearer key on each.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

API_KEY = "kky_live_fake_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ONE = re.compile(r"^/v1/webhooks/(?P<id>[^/]+)$")


def answer(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")


class FakeKakiyo:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        #: The webhooks, by id, secrets included (Kakiyo keeps them; it never lists them).
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self._next = 1
        server.expect_request("/v1/webhooks", method="POST").respond_with_handler(self.create)
        server.expect_request("/v1/webhooks", method="GET").respond_with_handler(self.list)
        server.expect_request(ONE, method="PUT").respond_with_handler(self.update)
        server.expect_request(ONE, method="DELETE").respond_with_handler(self.delete)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def add(self, **fields: Any) -> str:
        """A webhook made in Kakiyo's dashboard (not through this app)."""
        hook_id = f"wh_{self._next}"
        self._next += 1
        self.webhooks[hook_id] = {"id": hook_id, "active": True, "events": ["*"], **fields}
        return hook_id

    def _authorised(self, request: Request) -> bool:
        self.calls.append(f"{request.method} {request.path}")
        return request.headers.get("Authorization") == f"Bearer {API_KEY}"

    def create(self, request: Request) -> Response:
        if not self._authorised(request):
            return answer({"error": "invalid_api_key"}, 401)
        body = request.get_json()
        hook_id = self.add(**body)
        shown = {k: v for k, v in self.webhooks[hook_id].items() if k != "secret"}
        return answer({**shown, "message": "Webhook created"}, 201)

    def list(self, request: Request) -> Response:
        if not self._authorised(request):
            return answer({"error": "invalid_api_key"}, 401)
        shown = [{k: v for k, v in h.items() if k != "secret"} for h in self.webhooks.values()]
        return answer({"webhooks": shown})

    def update(self, request: Request) -> Response:
        if not self._authorised(request):
            return answer({"error": "invalid_api_key"}, 401)
        match = ONE.match(request.path)
        hook = self.webhooks.get(match["id"]) if match else None
        if hook is None:
            return answer({"error": "not_found"}, 404)
        hook.update(request.get_json())
        return answer({k: v for k, v in hook.items() if k != "secret"})

    def delete(self, request: Request) -> Response:
        if not self._authorised(request):
            return answer({"error": "invalid_api_key"}, 401)
        match = ONE.match(request.path)
        if not match or self.webhooks.pop(match["id"], None) is None:
            return answer({"error": "not_found"}, 404)
        return answer({"message": "Webhook deleted"})
