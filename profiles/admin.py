"""Profiles for administrators: the profile with its typed attributes (the declared attribute
types drive the form), its per-channel opt-outs, subscriptions and app subscriptions; the
subscription services and attribute definitions. Every write goes through profiles.services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget, AdminSplitDateTime
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaign.exceptions import ApplicationError, ValidationFailed

from .models import (
    AppSubscription,
    AttributeDefinition,
    AttributeType,
    Profile,
    Service,
    Subscription,
)
from .selectors import attribute_definition_list, attribute_value_parse, service_list
from .services import (
    PROFILE_FIELDS,
    app_subscription_delete,
    app_subscription_save,
    attribute_definition_delete,
    attribute_definition_save,
    attributes_typed_merge,
    profile_delete,
    profile_save,
    service_delete,
    service_delete_check,
    service_save,
    subscription_dates_error,
    subscription_delete,
    subscription_save,
)

ATTRIBUTE_PREFIX = "attribute__"


def _attribute_field(definition: AttributeDefinition) -> forms.Field:
    """The form field of a declared attribute, by its type: its own validation and error."""
    options = {
        "required": False,
        "label": definition.label or definition.name,
        "help_text": definition.description,
    }
    if definition.type == AttributeType.INTEGER:
        return forms.IntegerField(**options)
    if definition.type == AttributeType.DECIMAL:
        return forms.DecimalField(**options)
    if definition.type == AttributeType.BOOLEAN:
        return forms.NullBooleanField(**options)
    if definition.type == AttributeType.DATE:
        return forms.DateField(widget=AdminDateWidget, **options)
    if definition.type == AttributeType.DATETIME:
        return forms.SplitDateTimeField(widget=AdminSplitDateTime, **options)
    return forms.CharField(max_length=2000, **options)


class ProfileAdminForm(forms.ModelForm):
    """The profile's fields, and one typed field per declared attribute (added by get_form)."""

    definitions: list[AttributeDefinition] = []

    class Meta:
        model = Profile
        fields = list(PROFILE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.attributes if isinstance(self.instance.attributes, dict) else {}
        for definition in self.definitions:
            name = ATTRIBUTE_PREFIX + definition.name
            if name not in self.fields or definition.name not in stored:
                continue
            try:
                self.initial[name] = attribute_value_parse(
                    type=definition.type, value=stored[definition.name]
                )
            except ValueError:
                # Shown as stored, so that the administrator sees the error and corrects it.
                self.initial[name] = stored[definition.name]

    def attribute_values(self) -> dict:
        return {
            definition.name: self.cleaned_data.get(ATTRIBUTE_PREFIX + definition.name)
            for definition in self.definitions
            if ATTRIBUTE_PREFIX + definition.name in self.cleaned_data
        }

    def clean(self):
        cleaned = super().clean()
        try:
            attributes_typed_merge(current=self.instance.attributes, given=self.attribute_values())
        except ValidationFailed as exc:
            for error in exc.errors:
                name = ATTRIBUTE_PREFIX + error.path.removeprefix("attributes.")
                self.add_error(name if name in self.fields else None, error.message)
        return cleaned


class SubscriptionInlineForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ["service", "subscribed_at", "unsubscribed_at", "source"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["subscribed_at"].initial = timezone.now

    def clean(self):
        cleaned = super().clean()
        problem = subscription_dates_error(
            subscribed_at=cleaned.get("subscribed_at"), unsubscribed_at=cleaned.get("unsubscribed_at")
        )
        if problem:
            self.add_error("unsubscribed_at", problem)
        return cleaned


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    form = SubscriptionInlineForm
    extra = 0
    verbose_name_plural = _("subscriptions to services")


class AppSubscriptionInline(admin.StackedInline):
    model = AppSubscription
    extra = 0
    fields = [
        ("application", "platform"),
        "registration_token",
        ("device", "last_seen_at"),
        ("disabled_at", "disabled_reason"),
        "created_at",
    ]
    readonly_fields = ["created_at"]
    formfield_overrides = {}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "registration_token":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "style": "width: 100%; max-width: 40rem"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class OptedOutFilter(admin.SimpleListFilter):
    title = _("opted out of")
    parameter_name = "opted_out"

    def lookups(self, request, model_admin):
        return [("email", _("Email")), ("sms", _("SMS")), ("push", _("Push")), ("none", _("No channel"))]

    def queryset(self, request, queryset):
        if self.value() in {"email", "sms", "push"}:
            return queryset.filter(**{f"{self.value()}_opted_out_at__isnull": False})
        if self.value() == "none":
            return queryset.filter(
                email_opted_out_at__isnull=True, sms_opted_out_at__isnull=True, push_opted_out_at__isnull=True
            )
        return queryset


class SubscribedFilter(admin.SimpleListFilter):
    title = _("subscribed to")
    parameter_name = "subscribed"

    def lookups(self, request, model_admin):
        return [(str(service.pk), service.label) for service in service_list()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                subscriptions__service_id=self.value(), subscriptions__unsubscribed_at__isnull=True
            )
        return queryset


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    list_display = ["__str__", "email", "mobile_phone", "external_id", "language", "opted_out", "modified_at"]
    search_fields = ["email", "mobile_phone", "external_id", "first_name", "last_name"]
    list_filter = [OptedOutFilter, SubscribedFilter, "language"]
    readonly_fields = ["other_attributes", "created_at", "modified_at"]
    inlines = [SubscriptionInline, AppSubscriptionInline]

    def get_fieldsets(self, request, obj=None):
        definitions = attribute_definition_list()
        attributes = [ATTRIBUTE_PREFIX + definition.name for definition in definitions]
        if obj is not None and set(obj.attributes or {}) - {definition.name for definition in definitions}:
            attributes.append("other_attributes")
        return [
            (None, {"fields": ["email", "mobile_phone", "external_id"]}),
            (_("Name and language"), {"fields": ["first_name", "last_name", "language", "time_zone"]}),
            (
                _("Custom attributes"),
                {
                    "fields": attributes,
                    "description": gettext("Declared under Profile attributes; each field checks its type.")
                    if attributes
                    else gettext("No attribute is declared yet: add them under Profile attributes."),
                },
            ),
            (
                _("Opt-outs"),
                {
                    "fields": ["email_opted_out_at", "sms_opted_out_at", "push_opted_out_at"],
                    "description": gettext(
                        "When the profile refused each channel: profile-based messages are not sent on it. "
                        "Empty: the profile accepts the channel."
                    ),
                },
            ),
            (_("History"), {"fields": ["created_at", "modified_at"]}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        definitions = attribute_definition_list()
        fields = {
            ATTRIBUTE_PREFIX + definition.name: _attribute_field(definition) for definition in definitions
        }
        form = type("ProfileAdminForm", (ProfileAdminForm,), {**fields, "definitions": definitions})
        return super().get_form(request, obj, change=change, form=form, **kwargs)

    @admin.display(description=_("undeclared attributes"))
    def other_attributes(self, obj):
        declared = {definition.name for definition in attribute_definition_list()}
        other = {name: value for name, value in (obj.attributes or {}).items() if name not in declared}
        return ", ".join(f"{name}={value}" for name, value in sorted(other.items())) or "-"

    @admin.display(description=_("opted out"))
    def opted_out(self, obj):
        channels = [
            label
            for channel, label in (
                ("email", gettext("email")),
                ("sms", gettext("SMS")),
                ("push", gettext("push")),
            )
            if obj.opted_out_at(channel)
        ]
        return ", ".join(str(label) for label in channels) or "-"

    def save_model(self, request, obj, form, change):
        profile_save(
            profile=obj,
            attributes=form.attribute_values(),
            **{name: getattr(obj, name) for name in PROFILE_FIELDS},
        )

    def delete_model(self, request, obj):
        profile_delete(profile=obj)

    def delete_queryset(self, request, queryset):
        for profile in queryset:
            profile_delete(profile=profile)

    def save_formset(self, request, form, formset, change):
        """Subscriptions and app subscriptions are written by their services, as everywhere else."""
        saved = formset.save(commit=False)
        if formset.model is Subscription:
            for subscription in formset.deleted_objects:
                subscription_delete(subscription=subscription)
            for subscription in saved:
                subscription_save(
                    profile=form.instance,
                    service=subscription.service,
                    subscribed_at=subscription.subscribed_at,
                    unsubscribed_at=subscription.unsubscribed_at,
                    source=subscription.source,
                    subscription=subscription,
                )
        elif formset.model is AppSubscription:
            for registration in formset.deleted_objects:
                app_subscription_delete(app_subscription=registration)
            for registration in saved:
                app_subscription_save(app_subscription=registration, profile=form.instance)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["label", "name", "channel", "subscribers", "created_at"]
    search_fields = ["label", "name"]
    list_filter = ["channel"]
    prepopulated_fields = {"name": ["label"]}
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(active=Count("subscriptions", filter=Q(subscriptions__unsubscribed_at__isnull=True)))
        )

    @admin.display(description=_("subscribers"), ordering="active")
    def subscribers(self, obj):
        return obj.active

    def save_model(self, request, obj, form, change):
        service_save(service=obj)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None:
            try:
                service_delete_check(service=obj)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:profiles_service_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        try:
            service_delete(service=obj)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for service in queryset:
            self.delete_model(request, service)


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "type"]
    search_fields = ["name", "label"]
    list_filter = ["type"]

    def get_readonly_fields(self, request, obj=None):
        # Renaming an attribute would orphan every stored value and template reading it.
        return ["name"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        attribute_definition_save(definition=obj)

    def delete_model(self, request, obj):
        attribute_definition_delete(definition=obj)

    def delete_queryset(self, request, queryset):
        for definition in queryset:
            attribute_definition_delete(definition=definition)
