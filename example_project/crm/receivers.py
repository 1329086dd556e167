"""Kakiyo receivers: each event type moves the prospect along and adds a timeline entry.

They read the typed ``data``, so they handle both payload shapes Kakiyo documents: flat ids
(``data.prospectId``) and nested objects (``data.prospect.id``, ``data.prospect.name``).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from django_kakiyo import signals
from django_kakiyo.event_data import ProspectEventData
from django_kakiyo.models import WebhookEvent

from .models import Prospect, TimelineEntry

STAGES = {
    "linkedin.invitation.sent": Prospect.Stage.INVITED,
    "linkedin.invitation.accepted": Prospect.Stage.CONNECTED,
    "connection.accepted": Prospect.Stage.CONNECTED,
    "linkedin.message.sent": Prospect.Stage.IN_CONVERSATION,
    "message.sent": Prospect.Stage.IN_CONVERSATION,
    "linkedin.message.received": Prospect.Stage.REPLIED,
    "prospect.responded": Prospect.Stage.REPLIED,
    "prospect.qualification.manual": Prospect.Stage.NEEDS_REVIEW,
    "prospect.qualified": Prospect.Stage.QUALIFIED,
    "prospect.unqualified": Prospect.Stage.UNQUALIFIED,
}


def _record(event: WebhookEvent, data: ProspectEventData, text: str = "") -> Prospect | None:
    if not data.prospect_id:
        return None
    prospect, _ = Prospect.objects.get_or_create(kakiyo_id=data.prospect_id)
    prospect.campaign_id = data.campaign_id or prospect.campaign_id
    prospect.name = data.prospect.name or prospect.name
    prospect.stage = STAGES.get(event.event_type, prospect.stage)
    prospect.updated_at = timezone.now()
    prospect.save()
    # Keyed on the event, so replaying an event never duplicates its entry.
    TimelineEntry.objects.update_or_create(
        event=event,
        defaults={
            "prospect": prospect,
            "kind": event.event_type,
            "text": text,
            "occurred_at": data.timestamp or event.occurred_at or event.received_at,
        },
    )
    return prospect


@receiver(signals.linkedin_message_received)
@receiver(signals.prospect_responded)
def on_reply(sender: Any, event: WebhookEvent, data: Any, **kwargs: Any) -> None:
    prospect = _record(event, data, data.message)
    if prospect is not None:
        Prospect.objects.filter(pk=prospect.pk).update(last_reply=data.message)


@receiver(signals.linkedin_message_sent)
@receiver(signals.message_sent)
def on_message_sent(sender: Any, event: WebhookEvent, data: Any, **kwargs: Any) -> None:
    _record(event, data, data.message)


@receiver(signals.linkedin_invitation_sent)
@receiver(signals.linkedin_invitation_accepted)
@receiver(signals.connection_accepted)
def on_invitation(sender: Any, event: WebhookEvent, data: Any, **kwargs: Any) -> None:
    _record(event, data, data.message)


@receiver(signals.prospect_qualification_manual)
@receiver(signals.prospect_qualified)
@receiver(signals.prospect_unqualified)
def on_qualification(sender: Any, event: WebhookEvent, data: Any, **kwargs: Any) -> None:
    # The flat shape says why (data.reason); the nested one gives the verdict.
    _record(event, data, data.reason or data.prospect.qualification or "")
