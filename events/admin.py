from django.contrib import admin

from campaign.admin_actions import ObjectAction, ObjectActionsMixin
from campaign.exceptions import ApplicationError

from .models import Event, EventConfiguration, EventField, PublicationStatus
from .services import event_config_create, event_config_publish, event_config_unpublish, event_config_update


def _publish(obj, user) -> str:
    version = event_config_publish(config=obj, user=user)
    return (
        f"{obj.event_id} is published (version {version.number}): its trigger endpoint accepts events "
        f"and its message RT{obj.event_id} is ready to edit."
    )


def _unpublish(obj, user) -> str:
    event_config_unpublish(config=obj, user=user)
    return f"{obj.event_id} is unpublished: its endpoint refuses events and its message is unpublished."


class EventFieldInline(admin.TabularInline):
    model = EventField
    extra = 0
    fields = ["field_id", "label", "type", "max_length", "required", "position"]


@admin.register(EventConfiguration)
class EventConfigurationAdmin(ObjectActionsMixin, admin.ModelAdmin):
    list_display = ["__str__", "status", "channel", "targeting", "modified_by", "modified_at"]
    list_filter = ["status", "channel", "targeting"]
    search_fields = ["label", "event_id"]
    inlines = [EventFieldInline]
    actions = ["publish_selected", "unpublish_selected"]
    object_actions = (
        ObjectAction("publish", "Publish", "events.publish_eventconfiguration", _publish),
        ObjectAction(
            "unpublish",
            "Unpublish",
            "events.publish_eventconfiguration",
            _unpublish,
            available=lambda obj: obj.status == PublicationStatus.PUBLISHED,
            confirm="Unpublish? The endpoint will refuse events and the message will be unpublished.",
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        always = ["status", "published_version", "modified_by", "modified_at"]
        return always if obj is None else ["event_id", "channel", "targeting", *always]

    def get_fields(self, request, obj=None):
        return [
            "label",
            "event_id",
            "channel",
            "targeting",
            "status",
            "published_version",
            "modified_by",
            "modified_at",
        ]

    def save_model(self, request, obj, form, change):
        # Domain errors were already turned into form errors by the form's clean().
        if change:
            event_config_update(config=obj, user=request.user, label=obj.label)
        else:
            created = event_config_create(
                event_id=obj.event_id,
                label=obj.label,
                channel=obj.channel,
                targeting=obj.targeting,
                user=request.user,
            )
            obj.__dict__.update(created.__dict__)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            form = _with_event_id_check(form)
        return form

    @admin.action(description="Publish selected event configurations", permissions=["publish"])
    def publish_selected(self, request, queryset):
        self._run_bulk(request, queryset, _publish)

    @admin.action(description="Unpublish selected event configurations", permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        self._run_bulk(request, queryset, _unpublish)

    def has_publish_permission(self, request):
        return request.user.has_perm("events.publish_eventconfiguration")

    def _run_bulk(self, request, queryset, run):
        for obj in queryset.order_by("pk"):
            try:
                self.message_user(request, run(obj, request.user))
            except ApplicationError as exc:
                self.message_user(request, f"{obj.event_id}: {exc.message}", level="error")


def _with_event_id_check(form_class):
    """Normalise and check the ID (EVT prefix, length, uniqueness) as a form error."""
    from django import forms

    from .services import event_id_normalize

    class EventConfigurationAddForm(form_class):
        def clean_event_id(self):
            try:
                event_id = event_id_normalize(self.cleaned_data.get("event_id", ""))
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from None
            if EventConfiguration.objects.filter(event_id=event_id).exists():
                raise forms.ValidationError(f"An event configuration with ID {event_id} already exists.")
            return event_id

    return EventConfigurationAddForm


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["pkey", "configuration", "email", "status", "created_at", "processed_at"]
    list_filter = ["status", "configuration"]
    search_fields = ["pkey", "email"]
    list_select_related = ["configuration"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
