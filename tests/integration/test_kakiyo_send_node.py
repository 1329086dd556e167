"""What ``kakiyo_send`` sends verifies with Kakiyo's own Node.js signing function."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from ..conftest import SECRET
from ..services import require

pytestmark = pytest.mark.integration

# The seed's function: sign JSON.stringify(payload) with the secret.
NODE_VERIFY = """
const crypto = require("crypto");
const deliveries = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = deliveries.map(({body, signature, secret}) => {
  const payload = JSON.parse(body);
  const expected = crypto.createHmac("sha256", secret)
    .update(JSON.stringify(payload)).digest("hex");
  return {same_bytes: JSON.stringify(payload) === body, signature_ok: expected === signature};
});
process.stdout.write(JSON.stringify(results));
"""


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local HTTP server that records each POST and answers 200."""
    received: list[dict[str, str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {"body": body.decode("utf-8"), "signature": self.headers["X-Kakiyo-Signature"]}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("linkedin.message.received", None),
        ("prospect.unqualified", None),
        ("agent.status_changed", None),
        ("linkedin.message.sent", '{"message": "Ça va? \\u2028 😀 \\"q\\" \\\\ </x>", "n": 1e21}'),
        ("x.numbers", '{"a": 0.1, "b": 1e-7, "c": -0.0, "d": 5e-324, "e": 9007199254740991}'),
    ],
)
def test_kakiyo_send_output_verifies_with_node(
    capture: tuple[str, list[dict[str, str]]], event_type: str, data: str | None
) -> None:
    node = shutil.which("node")
    require(node is not None, "node is not on PATH: cannot check against Kakiyo's signing")
    assert node is not None
    url, received = capture
    options: dict[str, Any] = {"url": url, "count": 3, "secret": SECRET}
    if data is not None:
        options["data"] = data
    call_command("kakiyo_send", event_type, stdout=StringIO(), **options)

    assert len(received) == 3
    deliveries = [{**delivery, "secret": SECRET} for delivery in received]
    out = subprocess.run(
        [node, "-e", NODE_VERIFY],
        input=json.dumps(deliveries),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == [{"same_bytes": True, "signature_ok": True}] * 3
