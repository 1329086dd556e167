"""Where a request's wall time goes: py-spy on the gunicorn workers, summarised per step.

``py-spy record --idle --subprocesses`` samples the workers' stacks, waits on PostgreSQL and
Redis included; :func:`summary` turns the collapsed stacks into milliseconds per request
inside each of :data:`MARKERS`.
"""

from __future__ import annotations

import collections
import shutil
import sys
from pathlib import Path

HZ = 500

#: Inclusive wall time of these frames (every needle in the stack), in this order.
MARKERS: dict[str, tuple[str, ...]] = {
    "whole request in Django (WSGIHandler)": ("__call__ (django/core/handlers/wsgi.py",),
    "view: ours (WebhookView.post)": ("post (django_kakiyo/views.py",),
    "view: baseline (baseline_webhook)": ("baseline_webhook (bench/baseline.py",),
    "  verify_signature": ("verify_signature (django_kakiyo/signing.py",),
    "  read_event (strict JSON parse, envelope)": ("read_event (django_kakiyo/envelope.py",),
    "  json.loads (baseline)": ("baseline_webhook", "loads (json/__init__.py"),
    "  client_ip": ("post (django_kakiyo/views.py", "client_ip (django_kakiyo/client_address.py"),
    "  INSERT (Model.save)": ("save_base (django/db/models/base.py",),
    "  hand the id to the publisher thread (ours)": ("submit (django_kakiyo/background.py",),
    "  bare_task.delay (baseline)": ("delay (celery/app/task.py",),
    "  JsonResponse": ("__init__ (django/http/response.py",),
}


def record_command(pid: int, seconds: int, out: Path) -> list[str]:
    """py-spy sampling ``pid`` and its children's wall-clock time for ``seconds``."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return [
        py_spy, "record", "--subprocesses", "--idle", "-p", str(pid),
        "-d", str(seconds), "-r", str(HZ), "-f", "raw", "-o", str(out), "--nonblocking",
    ]  # fmt: skip


def summary(path: Path, requests: float) -> list[tuple[str, float, float]]:
    """(label, ms per request, % of the time inside Django) for each marker found."""
    stacks: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    (marker,) = MARKERS["whole request in Django (WSGIHandler)"]
    in_request = {s: n for s, n in stacks.items() if marker in s}
    total = sum(in_request.values()) or 1
    rows = []
    for label, needles in MARKERS.items():
        hit = sum(n for s, n in in_request.items() if all(needle in s for needle in needles))
        if hit:
            ms_per_request = 1000 * hit / HZ / max(1.0, requests)
            rows.append((label, ms_per_request, 100 * hit / total))
    return rows
