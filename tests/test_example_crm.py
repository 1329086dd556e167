"""The example project's CRM receivers, fed both payload shapes over HTTP."""

from __future__ import annotations

import pytest
from django.test import Client

from django_kakiyo.models import WebhookEvent
from django_kakiyo.processing import process_event, process_events
from django_kakiyo.samples import sample_data
from django_kakiyo.testing import post_event
from example_project.crm.models import Prospect, TimelineEntry

from .conftest import make_event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_the_crm_follows_a_prospect_in_either_shape(client: Client, shape: str) -> None:
    ids = []
    for event_type in (
        "linkedin.invitation.sent",
        "linkedin.message.received",
        "prospect.qualified",
    ):
        data = sample_data(event_type, 0, shape)  # type: ignore[arg-type]
        ids.append(post_event(client, event_type, data, shape=shape).json()["id"])
    process_events(ids)
    prospect = Prospect.objects.get()
    assert prospect.stage == Prospect.Stage.QUALIFIED
    assert prospect.campaign_id
    assert prospect.last_reply.startswith("Thanks for reaching out")
    assert TimelineEntry.objects.filter(prospect=prospect).count() == 3
    if shape == "nested":
        assert prospect.name == "John Smith"
        assert TimelineEntry.objects.get(kind="prospect.qualified").text == "qualified"


@pytest.mark.django_db
def test_example_receivers_build_a_timeline_without_duplicates() -> None:
    invited = make_event("linkedin.invitation.sent")
    replied = make_event("linkedin.message.received", message="Sounds good")
    for event in (invited, replied):
        process_event(event.pk)
    prospect = Prospect.objects.get(kakiyo_id="p_1")
    assert (prospect.stage, prospect.last_reply) == (Prospect.Stage.REPLIED, "Sounds good")
    assert prospect.timeline.count() == 2
    # A replay goes through the same path and updates, never duplicates.
    WebhookEvent.objects.filter(pk=replied.pk).update(status=WebhookEvent.Status.QUEUED)
    process_event(replied.pk)
    assert prospect.timeline.count() == 2
