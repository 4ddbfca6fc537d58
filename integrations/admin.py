from django.contrib import admin, messages
from django.db import models
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import EventLogAdminMixin, ObjectAction, ObjectActionsMixin, ReadOnlyAdmin
from organisations.admin_scoping import UnitScopedAdminMixin
from organisations.selectors import user_unit, writable_q

from .models import CallbackAttempt, IdempotencyKey, Integration
from .services import (
    UPDATABLE_FIELDS,
    integration_callback_secret_rotate,
    integration_create,
    integration_revoke,
    integration_update,
)


def _revoke(obj, user) -> str:
    integration_revoke(integration=obj)
    return gettext("{integration} is revoked: its token no longer works.").format(integration=obj)


def _rotate_callback_secret(obj, user) -> str:
    integration_callback_secret_rotate(integration=obj)
    return gettext(
        "New callback secret for {integration}: update the receiver to verify signatures with it."
    ).format(integration=obj)


@admin.register(Integration)
class IntegrationAdmin(UnitScopedAdminMixin, ObjectActionsMixin, admin.ModelAdmin):
    list_filter = [("unit", admin.RelatedOnlyFieldListFilter)]
    list_display = [
        "name",
        "client_id",
        "token_hint_display",
        "status_display",
        "created_at",
        "created_by",
    ]
    list_select_related = ["unit", "created_by"]
    search_fields = ["name", "client_id"]
    readonly_fields = [
        "client_id",
        "token_hint_display",
        "status_display",
        "created_at",
        "created_by",
        "callback_secret",
    ]
    fields = [
        "name",
        "unit",
        "client_id",
        "token_hint_display",
        "status_display",
        "created_at",
        "created_by",
        "all_events",
        "allowed_events",
        "rate_limit",
        "callback_url",
        "callback_secret",
    ]
    filter_horizontal = ["allowed_events"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    object_actions = (
        ObjectAction(
            "revoke",
            _("Revoke"),
            "integrations.revoke_integration",
            _revoke,
            available=lambda obj: obj.is_active,
            confirm=_("Revoke these credentials? Calls using them will be refused at once."),
        ),
        ObjectAction(
            "rotate_callback_secret",
            _("New callback secret"),
            "integrations.change_integration",
            _rotate_callback_secret,
            available=lambda obj: obj.is_active,
            confirm=_("Replace the callback signing secret? Signatures made with the old one stop matching."),
        ),
    )

    @admin.display(description=_("token"))
    def token_hint_display(self, obj):
        return f"{obj.token_hint}…" if obj.token_hint else "-"

    @admin.display(description=_("status"))
    def status_display(self, obj):
        if obj.is_active:
            return gettext("Active")
        return gettext("Revoked {date}").format(
            date=date_format(localtime(obj.revoked_at), "SHORT_DATETIME_FORMAT")
        )

    def get_fields(self, request, obj=None):
        return ["name", "unit"] if obj is None else self.fields

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "allowed_events":
            # Only the events of the units the user writes.
            kwargs["queryset"] = db_field.related_model.objects.filter(writable_q(user=request.user))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        # Credentials are revoked, not deleted: events keep pointing at who sent them.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            integration_update(
                integration=obj,
                allowed_events=form.cleaned_data["allowed_events"]
                if "allowed_events" in form.changed_data
                else None,
                **{name: getattr(obj, name) for name in UPDATABLE_FIELDS if name in form.changed_data},
            )
            return
        issued = integration_create(
            name=obj.name,
            user=request.user,
            unit=obj.unit if obj.unit_id is not None else user_unit(user=request.user),
        )
        obj.pk = issued.integration.pk
        obj.__dict__.update(issued.integration.__dict__)
        self.message_user(
            request,
            format_html(
                gettext(
                    "Client id (X-Api-Key): <code>{}</code><br>"
                    "Token (Authorization: Bearer): <code>{}</code><br>"
                    "<strong>Copy the token now: it is stored hashed and will not be shown again.</strong>"
                ),
                issued.integration.client_id,
                issued.token,
            ),
            messages.WARNING,
        )

    def save_related(self, request, form, formsets, change):
        # The event scope was written by integration_update (audited with the rest of the change).
        if not change:
            super().save_related(request, form, formsets, change)


@admin.register(CallbackAttempt)
class CallbackAttemptAdmin(EventLogAdminMixin, UnitScopedAdminMixin, ReadOnlyAdmin):
    """The append-only log of status callbacks: read-only; it outlives the events."""

    unit_field = "integration__unit"
    list_display = ["created_at", "integration", "event_label", "event_status", "result", "response_status"]
    list_filter = ["result", "event_status"]
    list_select_related = ["integration"]
    search_fields = ["event_pkey", "url"]
    fields = [
        "created_at",
        "integration",
        "event_label",
        "configuration",
        "event_status",
        "url",
        "result",
        "response_status",
        "error",
    ]
    readonly_fields = fields


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(UnitScopedAdminMixin, ReadOnlyAdmin):
    """Keys kept for replay (API-6), read-only; purged after their retention."""

    unit_field = "integration__unit"
    list_display = ["created_at", "integration", "key", "response_status"]
    list_select_related = ["integration"]
    search_fields = ["key"]
    fields = ["integration", "key", "request_hash", "response_status", "response_content_type", "created_at"]
    readonly_fields = fields
