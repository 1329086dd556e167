"""``manage.py kakiyo_send``: sign deliveries like Kakiyo and POST them (``stripe trigger``)."""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from django_kakiyo.conf import kakiyo_settings
from django_kakiyo.management.progress import progress_bar
from django_kakiyo.testing import SHAPES, make_payload, sample_data, sign_payload


class Command(BaseCommand):
    help = (
        "Build a realistic Kakiyo event, serialise it exactly as JavaScript's JSON.stringify, "
        "sign it like Kakiyo and POST it to a webhook URL. Prints each answer, then a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "event_type",
            nargs="?",
            default="linkedin.message.received",
            help="Event type to send (default: linkedin.message.received).",
        )
        parser.add_argument(
            "--url",
            help="Webhook URL (default: this project's webhook on http://127.0.0.1:8000).",
        )
        parser.add_argument(
            "--secret", help="Signing secret (default: the first of KAKIYO['WEBHOOK_SECRETS'])."
        )
        parser.add_argument("--data", help='The event\'s "data" as JSON, or @path to a JSON file.')
        parser.add_argument("--team", default="team_demo", help="Team id (default: team_demo).")
        parser.add_argument(
            "--shape",
            choices=SHAPES,
            default="flat",
            help="Payload shape: flat ids as in Kakiyo's help centre (teamId, "
            "data.prospectId), or nested objects as in its API reference (team.id, "
            "data.prospect.id). Default: flat.",
        )
        parser.add_argument("--count", type=int, default=1, help="How many distinct events.")
        parser.add_argument(
            "--rate", type=float, default=0, help="Events per second (default: as fast as can)."
        )
        parser.add_argument("--timeout", type=float, default=10, help="Seconds per request.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or f"http://127.0.0.1:8000{reverse('kakiyo-webhook')}"
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--url must be an http(s) URL, not {url!r}.")
        secret = options["secret"]
        if secret is None:
            secrets = kakiyo_settings.WEBHOOK_SECRETS
            if not secrets:
                raise CommandError("No --secret given and KAKIYO['WEBHOOK_SECRETS'] is empty.")
            secret = secrets[0]
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        data = self._read_data(options["data"])
        interval = 1 / options["rate"] if options["rate"] > 0 else 0

        statuses: Counter[int | str] = Counter()
        latencies: list[float] = []
        started = time.monotonic()
        with progress_bar(self.stdout, options["count"], "events") as bar:
            for index in range(options["count"]):
                due = started + index * interval
                if (pause := due - time.monotonic()) > 0:
                    time.sleep(pause)
                shape = options["shape"]
                event_data = (
                    data if data is not None else sample_data(options["event_type"], index, shape)
                )
                payload = make_payload(
                    options["event_type"], event_data, team_id=options["team"], shape=shape
                )
                body, headers = sign_payload(payload, secret)
                status, answer, seconds = self._post(url, body, headers, options["timeout"])
                statuses[status] += 1
                latencies.append(seconds)
                bar.update(1)
                if options["count"] == 1 or options["verbosity"] > 1:
                    self.stdout.write(f"{status} {answer} ({seconds * 1000:.1f} ms)")
        self._summarise(statuses, latencies)

    def _read_data(self, value: str | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            text = Path(value[1:]).read_text("utf-8") if value.startswith("@") else value
            data = json.loads(text)
        except (OSError, ValueError) as error:
            raise CommandError(f"--data is not readable JSON: {error}") from error
        if not isinstance(data, dict):
            raise CommandError("--data must be a JSON object.")
        return data

    def _post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int | str, str, float]:
        # The scheme was checked in handle(): only http(s) URLs reach urlopen.
        request = urllib.request.Request(  # noqa: S310
            url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read().decode(), time.perf_counter() - start
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), time.perf_counter() - start
        except (urllib.error.URLError, OSError) as error:
            return "error", str(error), time.perf_counter() - start

    def _summarise(self, statuses: Counter[int | str], latencies: list[float]) -> None:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items(), key=str))
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        self.stdout.write(
            f"sent {len(latencies)}; status {codes}; latency p50 "
            f"{statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
        if any(code != 200 for code in statuses):
            raise CommandError("Some deliveries were not acknowledged with 200.")
