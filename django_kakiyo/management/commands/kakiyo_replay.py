"""``manage.py kakiyo_replay``: replay chosen events through the normal processing path.

``kakiyo_reprocess`` is the same command under its earlier name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from django_kakiyo.actions import replay_events
from django_kakiyo.envelope import parse_timestamp
from django_kakiyo.management.progress import progress_bar
from django_kakiyo.models import WebhookEvent

BATCH = 500


class Command(BaseCommand):
    #: Recorded in each replayed event's history, as ``command:<name>``.
    name = "kakiyo_replay"
    help = (
        "Replay Kakiyo events: reset their attempts and process them again (in a Celery "
        "worker, or here without a broker), recorded in each event's history. Choose events "
        "by --id, --type, --status and a --since/--until range; at least one is required."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", type=int, action="append", dest="ids", help="An event id.")
        parser.add_argument("--type", dest="event_type", help="Event type.")
        parser.add_argument(
            "--status", choices=[s.value for s in WebhookEvent.Status], help="Status."
        )
        parser.add_argument("--since", help="Received at or after (ISO 8601).")
        parser.add_argument("--until", help="Received before (ISO 8601).")
        parser.add_argument(
            "--only-failed",
            action="store_true",
            help="Run only the receivers that failed (those that succeeded are skipped).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be replayed; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        events = self._select(options)
        total = events.count()
        if options["dry_run"]:
            self.stdout.write(f"would replay {total} event(s).")
            return
        ids = list(events.order_by("pk").values_list("pk", flat=True))
        done = skipped = 0
        with progress_bar(self.stdout, total, "events") as bar:
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                result = replay_events(
                    batch, by=f"command:{self.name}", only_failed=options["only_failed"]
                )
                done += len(result.done)
                skipped += len(result.skipped)
                bar.update(len(batch))
        self.stdout.write(
            f"replayed {done} event(s); skipped {skipped} (invalid or being processed)."
        )

    def _select(self, options: dict[str, Any]) -> QuerySet[WebhookEvent]:
        chosen = [options["ids"], options["event_type"], options["status"]]
        chosen += [options["since"], options["until"]]
        if not any(chosen):
            raise CommandError("Choose events: --id, --type, --status, --since or --until.")
        events = WebhookEvent.objects.all()
        if options["ids"]:
            events = events.filter(pk__in=options["ids"])
        if options["event_type"]:
            events = events.filter(event_type=options["event_type"])
        if options["status"]:
            events = events.filter(status=options["status"])
        if options["since"]:
            events = events.filter(received_at__gte=_moment("--since", options["since"]))
        if options["until"]:
            events = events.filter(received_at__lt=_moment("--until", options["until"]))
        return events


def _moment(option: str, value: str) -> dt.datetime:
    moment = parse_timestamp(value)
    if moment is None:
        raise CommandError(f"{option} must be an ISO 8601 date and time, not {value!r}.")
    return moment
