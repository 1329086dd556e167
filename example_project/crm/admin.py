"""The CRM in the admin: prospects with their Kakiyo timeline inline."""

from django.contrib import admin

from .models import Prospect, TimelineEntry


class TimelineEntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TimelineEntry
    fields = ("occurred_at", "kind", "text", "event")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Prospect)
class ProspectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("kakiyo_id", "name", "stage", "campaign_id", "updated_at")
    list_filter = ("stage",)
    search_fields = ("=kakiyo_id", "=campaign_id")
    inlines = [TimelineEntryInline]
