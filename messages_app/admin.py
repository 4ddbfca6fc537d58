from django.contrib import admin

from campaign.admin_actions import ObjectAction, ObjectActionsMixin

from .models import MessageStatus, MessageVersion, TransactionalMessage
from .services import CONTENT_FIELDS, message_publish, message_unpublish, message_update


def _publish(obj, user) -> str:
    version = message_publish(message=obj, user=user)
    return f"{obj.message_id} is published (version {version.number}): new events are sent with it."


def _unpublish(obj, user) -> str:
    message_unpublish(message=obj, user=user)
    return f"{obj.message_id} is unpublished, and so is its event configuration."


class MessageVersionInline(admin.TabularInline):
    model = MessageVersion
    extra = 0
    fields = ["number", "published_at", "published_by", "subject_display"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    @admin.display(description="subject")
    def subject_display(self, obj):
        return obj.content.get("subject", "")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TransactionalMessage)
class TransactionalMessageAdmin(ObjectActionsMixin, admin.ModelAdmin):
    list_display = ["__str__", "status", "live_version", "modified_by", "modified_at"]
    list_filter = ["status"]
    search_fields = ["label", "message_id"]
    list_select_related = ["published_version", "modified_by"]
    readonly_fields = ["message_id", "event_display", "status", "live_version", "modified_by", "modified_at"]
    fieldsets = [
        (None, {"fields": ["label", "message_id", "event_display", "status", "live_version"]}),
        ("Sender", {"fields": ["sender_name", "sender_email"]}),
        (
            "Content",
            {
                "fields": ["subject", "html", "text"],
                "description": "Personalise with the event's fields, e.g. {{ ctx.firstName }}. "
                "Values are escaped in the HTML content. Changes are sent only after you publish.",
            },
        ),
        ("History", {"fields": ["modified_by", "modified_at"]}),
    ]
    inlines = [MessageVersionInline]
    object_actions = (
        ObjectAction("publish", "Publish", "messages_app.publish_transactionalmessage", _publish),
        ObjectAction(
            "unpublish",
            "Unpublish",
            "messages_app.publish_transactionalmessage",
            _unpublish,
            available=lambda obj: obj.status == MessageStatus.PUBLISHED,
            confirm="Unpublish? Its event configuration is unpublished too and its endpoint refuses events.",
        ),
    )

    @admin.display(description="event")
    def event_display(self, obj):
        # Text, not a link: marketers have no access to event configurations.
        return str(obj.configuration)

    @admin.display(description="live version")
    def live_version(self, obj):
        return f"v{obj.published_version.number}" if obj.published_version else "-"

    def has_add_permission(self, request):
        # Messages are created by publishing their event configuration.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        editable = [name for name in ("label", *CONTENT_FIELDS) if name in form.changed_data]
        message_update(message=obj, user=request.user, **{name: getattr(obj, name) for name in editable})
