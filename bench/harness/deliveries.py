"""Distinct signed deliveries for the benchmarks, and one HTTP connection that posts them."""

from __future__ import annotations

import http.client

WEBHOOK_PATH = "/kakiyo/webhook/"

#: Event types whose sample data carries per-index ids, so every generated body differs.
EVENT_TYPES = [
    "linkedin.message.sent",
    "linkedin.message.received",
    "linkedin.invitation.sent",
    "linkedin.invitation.accepted",
    "prospect.qualification.manual",
    "prospect.unqualified",
    "prospect.qualified",
    "prospect.responded",
    "message.sent",
    "connection.accepted",
]


def generate_deliveries(count: int, offset: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct (signature, body) pairs, signed with the configured secret."""
    from django_kakiyo.testing import make_payload, sample_data, sign_payload

    deliveries = []
    for index in range(offset, offset + count):
        event_type = EVENT_TYPES[index % len(EVENT_TYPES)]
        body, headers = sign_payload(make_payload(event_type, sample_data(event_type, index)))
        deliveries.append((headers["X-Kakiyo-Signature"], body))
    if len({body for _, body in deliveries}) != count:
        raise SystemExit("generated bodies are not all distinct")
    return deliveries


class Connection:
    """A keep-alive HTTP connection to 127.0.0.1:``port``; reconnects after an error."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.port = port
        self.timeout = timeout
        self._http: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, signature: str) -> tuple[int, bytes, str]:
        """(status, answer, error): ``error`` names the exception, with status 0, if any."""
        try:
            if self._http is None:
                self._http = http.client.HTTPConnection("127.0.0.1", self.port, self.timeout)
            self._http.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "X-Kakiyo-Signature": signature},
            )
            response = self._http.getresponse()
            return response.status, response.read(), ""
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, b"", type(exc).__name__

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._http = None
