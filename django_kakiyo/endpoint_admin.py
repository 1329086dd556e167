"""The admin screen of the endpoints: create, rotate, expire, disable, enable, delete.

A secret made here (creating, rotating) is shown once, on the page that answers the form or
the action, sent with ``Cache-Control: no-store``, and never anywhere else: not in a message
(messages live in a cookie or the session table), not on the change page, not in a form field
rendered back. Registered by :mod:`django_kakiyo.admin`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .endpoint_operations import (
    check_secret,
    event_list,
    expire_previous,
    new_secret,
    rotate_secret,
    set_enabled,
)
from .endpoint_sync import sync_endpoints
from .exceptions import EndpointError, KakiyoAPIError, KakiyoConfigurationError
from .kakiyo_api import KakiyoClient
from .models import WebhookEndpoint

ONCE_TEMPLATE = "admin/django_kakiyo/webhookendpoint/secret_once.html"


class EndpointForm(forms.ModelForm):  # type: ignore[type-arg]
    """The endpoint's fields, and on creation an optional secret (never rendered back)."""

    secret = forms.CharField(
        label=_("secret"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Leave empty to have one generated (recommended); shown once either way."),
    )
    events_text = forms.CharField(
        label=_("events"),
        required=False,
        help_text=_("Event types, comma-separated; empty: every event (*)."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "team_id", "enabled", "unsigned", "kakiyo_webhook_id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["events_text"].initial = ",".join(self.instance.events or [])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            text = (data.get("events_text") or "").strip()
            data["events"] = event_list([text] if text else None)
            if data.get("secret") and (data.get("unsigned") or self.instance.unsigned):
                raise EndpointError(_("An unsigned endpoint has no secret."))
            if data.get("secret"):
                check_secret(data["secret"])
        except EndpointError as error:
            raise forms.ValidationError(str(error)) from None
        return data


@method_decorator(sensitive_post_parameters("secret"), name="changeform_view")
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = EndpointForm
    list_display = ("name", "enabled", "signed", "team_id", "previous_secret",
                    "kakiyo_webhook_id", "sync_result", "url")  # fmt: skip
    list_filter = ("enabled", "unsigned")
    search_fields = ("name", "team_id", "kakiyo_webhook_id")
    actions = (
        "rotate_secrets",
        "expire_previous_secrets",
        "disable",
        "enable",
        "sync_with_kakiyo",
    )
    readonly_fields = ("uuid", "url", "secret_state", "created_at", "synced_at", "sync_result")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        main = ["name", "team_id", "enabled", "unsigned", "events_text"]
        if obj is None:
            return [(None, {"fields": [*main, "secret"]})]
        return [
            (None, {"fields": [*main, "uuid", "url", "secret_state"]}),
            (_("Kakiyo"), {"fields": ["kakiyo_webhook_id", "synced_at", "sync_result"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Whether an endpoint is signed is chosen when it is made.
        return (*self.readonly_fields, "unsigned") if obj is not None else self.readonly_fields

    @admin.display(description=_("signed"), boolean=True, ordering="unsigned")
    def signed(self, obj: WebhookEndpoint) -> bool:
        return not obj.unsigned

    @admin.display(description=_("URL"))
    def url(self, obj: WebhookEndpoint) -> str:
        try:
            return reverse("kakiyo-endpoint-webhook", args=[obj.uuid])
        except NoReverseMatch:
            return "-"

    @admin.display(description=_("previous secret works until"))
    def previous_secret(self, obj: WebhookEndpoint) -> str:
        until = obj.previous_secret_expires_at
        if until is None or not obj.previous_secret_works(timezone.now()):
            return "-"
        return timezone.localtime(until).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description=_("secret"))
    def secret_state(self, obj: WebhookEndpoint) -> SafeString:
        if obj.unsigned:
            return format_html(
                "<strong>{}</strong>",
                _("None: unsigned. Anyone who knows the URL can deliver events to it."),
            )
        rotated = obj.secret_rotated_at or obj.created_at
        return format_html(
            "{} {} ({})", _("Set, encrypted; not shown again. Last set"),
            timezone.localtime(rotated).strftime("%Y-%m-%d %H:%M:%S"),
            _("use the action “Rotate the secret” for a new one"),
        )  # fmt: skip

    # -- creating: the secret, shown once -------------------------------------------------------

    @sensitive_variables()
    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        obj.events = form.cleaned_data["events"]
        if not change and not obj.unsigned:
            secret = form.cleaned_data.get("secret") or new_secret()
            obj.set_secret(secret)
            request.kakiyo_new_secrets = [(obj, secret)]  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: Any = None
    ) -> HttpResponse:
        secrets = getattr(request, "kakiyo_new_secrets", None)
        if secrets is None:
            return super().response_add(request, obj, post_url_continue)
        return self.secrets_page(request, secrets, _("Endpoint created"))

    @sensitive_variables()
    def secrets_page(
        self, request: HttpRequest, secrets: list[tuple[WebhookEndpoint, str]], title: Any
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "secrets": [(e, s, request.build_absolute_uri(self.url(e))) for e, s in secrets],
            "changelist_url": reverse("admin:django_kakiyo_webhookendpoint_changelist"),
        }
        response = TemplateResponse(request, ONCE_TEMPLATE, context)
        response["Cache-Control"] = "no-store"
        return response

    # -- actions ----------------------------------------------------------------------------------

    @admin.action(description=_("Rotate the secret (the old one works for the grace period)"),
                  permissions=["change"])  # fmt: skip
    @sensitive_variables()
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> Any:
        rotated, skipped = [], []
        for endpoint in queryset:
            try:
                rotated.append((endpoint, rotate_secret(endpoint)))
            except EndpointError:
                skipped.append(endpoint.name)
        if skipped:
            self.message_user(
                request, _("Unsigned, not rotated: %s") % ", ".join(skipped), messages.WARNING
            )
        return self.secrets_page(request, rotated, _("New secrets")) if rotated else None

    @admin.action(description=_("End the rotation grace: the previous secret stops now"),
                  permissions=["change"])  # fmt: skip
    def expire_previous_secrets(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]
    ) -> None:
        ended = sum(expire_previous(endpoint) for endpoint in queryset)
        self.message_user(request, _("Previous secrets ended: %d.") % ended)

    @admin.action(description=_("Disable (their URL answers 404)"), permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            set_enabled(endpoint, False)
        self.message_user(request, _("Disabled: %d.") % len(queryset))

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            set_enabled(endpoint, True)
        self.message_user(request, _("Enabled: %d.") % len(queryset))

    @admin.action(description=_("Sync with Kakiyo (create, update, re-enable its webhooks)"),
                  permissions=["change"])  # fmt: skip
    def sync_with_kakiyo(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        # The address the admin is served at: Kakiyo must reach the same host (the command
        # takes --base-url when it must not).
        base_url = request.build_absolute_uri("/").rstrip("/")
        try:
            with KakiyoClient() as kakiyo:
                report = sync_endpoints(kakiyo, base_url, queryset)
        except (KakiyoAPIError, KakiyoConfigurationError) as error:
            self.message_user(request, f"Kakiyo API error: {error}", messages.ERROR)
            return
        for line in report.done:
            self.message_user(request, line, messages.SUCCESS)
        for line in report.drift:
            self.message_user(request, f"drift: {line}", messages.WARNING)
        for line in report.failed:
            self.message_user(request, line, messages.ERROR)
