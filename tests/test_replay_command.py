"""``manage.py kakiyo_replay``, and ``kakiyo_reprocess``, its earlier name."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_kakiyo.models import WebhookEvent

from .factories import stored_event

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("kakiyo_reprocess", *args, stdout=out)
    return out.getvalue()


def test_reprocess_by_status_runs_receivers_and_records_history() -> None:
    failed = stored_event(status="failed", attempts=5)
    other = stored_event(status="processed")
    assert "replayed 1 event(s); skipped 0" in run("--status", "failed")
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("processed", 1)
    assert failed.history[-1]["by"] == "command:kakiyo_reprocess"
    assert WebhookEvent.objects.get(pk=other.pk).history == []


def test_dry_run_changes_nothing() -> None:
    stored_event(status="failed")
    assert run("--status", "failed", "--dry-run") == "would replay 1 event(s).\n"
    assert WebhookEvent.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--type", "prospect.unqualified"], {"a"}),
        (["--since", "AGO_90_MIN"], {"a", "b"}),
        (["--until", "AGO_90_MIN"], {"c"}),
        (["--id", "ID_C", "--id", "ID_A"], {"a", "c"}),
    ],
)
def test_selection(args: list[str], expected: set[str]) -> None:
    events = {
        "a": stored_event("prospect.unqualified", status="failed"),
        "b": stored_event(status="failed", age=dt.timedelta(hours=1)),
        "c": stored_event(status="failed", age=dt.timedelta(hours=2)),
    }
    from django.utils import timezone

    ago = (timezone.now() - dt.timedelta(minutes=90)).isoformat()
    values = {"AGO_90_MIN": ago, "ID_A": str(events["a"].pk), "ID_C": str(events["c"].pk)}
    run(*[values.get(arg, arg) for arg in args])
    replayed = {k for k, e in events.items() if WebhookEvent.objects.get(pk=e.pk).history}
    assert replayed == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "Choose events"), (["--since", "yesterday"], "ISO 8601")],
)
def test_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_invalid_events_are_skipped(settings: Any) -> None:
    stored_event(status="invalid")
    assert "replayed 0 event(s); skipped 1" in run("--status", "invalid")


def test_kakiyo_replay_is_the_same_command_under_the_one_verb() -> None:
    failed = stored_event(status="failed", attempts=5)
    out = StringIO()
    call_command("kakiyo_replay", "--id", str(failed.pk), stdout=out)
    assert "replayed 1 event(s)" in out.getvalue()
    failed.refresh_from_db()
    assert failed.history[-1]["by"] == "command:kakiyo_replay"


def test_only_failed_skips_the_receivers_that_succeeded() -> None:
    from django_kakiyo.models import ReceiverOutcome

    failed = stored_event(status="failed", attempts=5)
    ReceiverOutcome.objects.create(
        event=failed, receiver="example_project.crm.receivers.on_reply", status="succeeded"
    )
    run("--id", str(failed.pk), "--only-failed")
    failed.refresh_from_db()
    assert failed.status == "processed"
    assert failed.history[-1]["action"] == "replay failed receivers"
    # The CRM's receiver succeeded before: it was not run again (no timeline entry).
    from example_project.crm.models import TimelineEntry

    assert not TimelineEntry.objects.exists()
    run("--id", str(failed.pk))  # a full replay runs it
    assert TimelineEntry.objects.filter(event=failed).exists()
