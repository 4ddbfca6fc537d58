from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import EventLogAdminMixin, ObjectAction, ObjectActionsMixin, ReadOnlyAdmin
from messages_app.selectors import messages_editable_by
from organisations.admin_scoping import UnitScopedAdminMixin

from .feedback import address_release, denylist_add
from .models import (
    AddressQuarantine,
    CapturedEmail,
    CapturedMessage,
    DeliveryAttempt,
    DenylistEntry,
    Exclusion,
    TrackingEvent,
)


@admin.register(CapturedEmail)
class CapturedEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "to", "subject", "from_email"]
    search_fields = ["to", "subject", "message_id"]
    fields = ["created_at", "from_email", "to", "subject", "message_id", "html_preview", "text", "raw"]
    readonly_fields = fields

    @admin.display(description=_("HTML"))
    def html_preview(self, obj):
        if not obj.html:
            return "-"
        # A sandboxed frame: the email's HTML runs no script and cannot reach the admin.
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:480px;border:1px solid #ccc;'
            'background:#fff" title="{}"></iframe>',
            obj.html,
            gettext("HTML content"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CapturedMessage)
class CapturedMessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "to_short", "title", "body"]
    list_filter = ["channel"]
    search_fields = ["to", "title", "body", "message_id"]
    fields = ["created_at", "channel", "to", "title", "body", "data", "message_id"]
    readonly_fields = fields

    @admin.display(description=_("to"))
    def to_short(self, obj):
        return obj.to[:40]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(EventLogAdminMixin, UnitScopedAdminMixin, ReadOnlyAdmin):
    # By the configuration the attempt keeps: its event may be gone (the logs outlive the events).
    unit_field = "configuration__unit"
    list_display = ["started_at", "event_label", "number", "channel", "outcome", "duration_ms", "retry_at"]
    list_filter = ["outcome", "channel"]
    search_fields = ["event_pkey", "provider_message_id", "address"]
    date_hierarchy = "started_at"

    def get_queryset(self, request):
        # Marketers see the attempts of the messages they may edit, administrators all of them.
        return (
            super()
            .get_queryset(request)
            .filter(configuration__message__in=messages_editable_by(user=request.user))
        )

    fields = [
        "event_label",
        "configuration",
        "number",
        "channel",
        "address",
        "started_at",
        "duration_ms",
        "outcome",
        "provider_message_id",
        "provider_response",
        "error",
        "retry_at",
    ]
    readonly_fields = fields


def _release(obj, user) -> str:
    address_release(channel=obj.channel, address=obj.address)
    return gettext("{address} is out of quarantine: messages are sent to it again.").format(
        address=obj.address
    )


class InQuarantineFilter(admin.SimpleListFilter):
    title = _("in quarantine")
    parameter_name = "in_quarantine"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No: soft bounces counted"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(quarantined_at__isnull=self.value() == "no")
        return queryset


@admin.register(AddressQuarantine)
class AddressQuarantineAdmin(ObjectActionsMixin, ReadOnlyAdmin):
    list_display = ["address", "channel", "quarantined_at", "reason", "soft_bounces", "updated_at"]
    list_filter = [InQuarantineFilter, "channel", "reason"]
    search_fields = ["address"]
    fields = ["channel", "address", "quarantined_at", "reason", "detail", "soft_bounces", "updated_at"]
    readonly_fields = fields
    object_actions = (
        ObjectAction(
            "release",
            _("Release from quarantine"),
            "delivery.change_addressquarantine",
            _release,
            available=lambda obj: obj.quarantined_at is not None,
            confirm=_("Send to this address again?"),
        ),
    )


@admin.register(DenylistEntry)
class DenylistEntryAdmin(admin.ModelAdmin):
    list_display = ["address", "channel", "reason", "created_at"]
    list_filter = ["channel"]
    search_fields = ["address", "reason"]
    fields = ["channel", "address", "reason"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        entry = denylist_add(channel=obj.channel, address=obj.address, reason=obj.reason)
        obj.pk = entry.pk


@admin.register(Exclusion)
class ExclusionAdmin(EventLogAdminMixin, UnitScopedAdminMixin, ReadOnlyAdmin):
    unit_field = "configuration__unit"
    list_display = ["created_at", "event_label", "channel", "address", "reason", "rule"]
    list_filter = [
        "reason",
        "channel",
        "rule",
        # Only the messages of the exclusions listed (those of the user's units).
        ("configuration__message", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["event_pkey", "address"]
    list_select_related = ["rule"]
    date_hierarchy = "created_at"
    fields = ["created_at", "event_label", "configuration", "channel", "address", "reason", "rule", "detail"]
    readonly_fields = fields


@admin.register(TrackingEvent)
class TrackingEventAdmin(EventLogAdminMixin, UnitScopedAdminMixin, ReadOnlyAdmin):
    unit_field = "configuration__unit"
    list_display = ["received_at", "event_type", "recipient", "esp_name", "event_label"]
    list_filter = ["event_type", "esp_name"]
    search_fields = ["recipient", "provider_message_id", "event_pkey"]
    fields = [
        "received_at",
        "occurred_at",
        "event_type",
        "esp_name",
        "event_label",
        "configuration",
        "recipient",
        "provider_message_id",
        "description",
        "mta_response",
        "click_url",
        "esp_event",
    ]
    readonly_fields = fields
