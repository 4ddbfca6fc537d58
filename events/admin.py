import json
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import ObjectAction, ObjectActionsMixin, ReadOnlyAdmin
from campaign.exceptions import ApplicationError, FieldError

# The one import of an app above: a configuration is published, duplicated and moved together
# with its message, by messages_app's publication and package services (docs/architecture.md).
from messages_app.selectors import messages_editable_by
from messages_app.services import (
    configuration_duplicate,
    configuration_publish,
    configuration_unpublish,
    package_export,
    package_import,
)
from organisations.admin_scoping import UnitScopedAdminMixin
from organisations.selectors import user_sees_every_unit, user_unit

from .contract import structure_check
from .models import (
    Event,
    EventCollection,
    EventConfiguration,
    EventEnrichment,
    EventField,
    PublicationLog,
    PublicationStatus,
)
from .selectors import (
    configuration_deletion_summary,
    configuration_has_unpublished_changes,
    configuration_publish_problems,
    configuration_structure,
    configurations_without_recent_events,
    is_profile_push,
    structure_errors_worded,
    structure_from_rows,
)
from .services import (
    event_config_create,
    event_config_delete,
    event_config_structure_set,
    event_config_update,
    event_id_normalize,
)
from .services.preview import api_preview_build, event_payload


def _publish(obj, user) -> str:
    try:
        version = configuration_publish(config=obj, user=user)
    except ApplicationError as exc:
        if not exc.errors:
            raise
        reasons = structure_errors_worded(errors=exc.errors, structure=configuration_structure(config=obj))
        raise ApplicationError(
            gettext("{event_id} cannot be published: {reasons}").format(
                event_id=obj.event_id, reasons=" ".join(reasons)
            ),
            code=exc.code,
            errors=exc.errors,
        ) from exc
    return gettext(
        "{event_id} is published (version {number}): its trigger endpoint accepts events "
        "and its message RT{event_id} is ready to edit."
    ).format(event_id=obj.event_id, number=version.number)


def _unpublish(obj, user) -> str:
    configuration_unpublish(config=obj, user=user)
    return gettext(
        "{event_id} is unpublished: its endpoint refuses events and its message is unpublished."
    ).format(event_id=obj.event_id)


def _duplicate(obj, user) -> str:
    copy = configuration_duplicate(config=obj, user=user)
    return gettext(
        "{event_id} is duplicated into the Draft configuration {copy_id} with a Draft message."
    ).format(event_id=obj.event_id, copy_id=copy.event_id)


LINE_BREAK = mark_safe("<br>")


_POSTED_COLLECTION_ID = re.compile(r"^collections-\d+-collection_id$")


class CollectionChoiceForm(forms.ModelForm):
    """A field's or an enrichment's collection, chosen by the collection's ID among the rows of the
    Collections table, saved or added in the same change (a script keeps the choices in step with
    the table as it is edited): a field can go into a collection created in the same save."""

    collection_ref = forms.CharField(
        label=_("collection"),
        required=False,
        max_length=64,
        widget=forms.Select(attrs={"class": "collection-choice"}),
        help_text=_("Empty: the event itself. A collection added below can be chosen once it has an ID."),
    )

    def set_collection_choices(self, ids: list[str]) -> None:
        current = self.instance.collection.collection_id if self.instance.collection_id else ""
        posted = self.data.get(self.add_prefix("collection_ref"), "") if self.is_bound else ""
        choices = list(dict.fromkeys([*ids, current, posted]))
        self.fields["collection_ref"].widget.choices = [
            ("", _("(the event)")),
            *((value, value) for value in choices if value),
        ]
        self.fields["collection_ref"].initial = current


class StructureFormSet(BaseInlineFormSet):
    """One of the three inlines that hold the draft data structure (fields, collections,
    enrichments). They are never saved on their own: `EventConfigurationAdmin.save_related` saves
    the structure they make through `event_config_structure_set`, as package import and the tests
    do, and the last of them checks that structure as the service will, so that a refusal is shown
    on the form. The admin hands every one of them the same list, `structure_formsets`."""

    id_field = "field_id"

    def __init__(self, *args, structure_formsets: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.structure_formsets = structure_formsets if structure_formsets is not None else []
        self.structure_formsets.append(self)

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if isinstance(form, CollectionChoiceForm):
            form.set_collection_choices(self._collection_ids())

    def _collection_ids(self) -> list[str]:
        """The IDs of the configuration's collections, and of those typed in the same change."""
        if not hasattr(self, "_known_collection_ids"):
            saved = (
                list(self.instance.collections.values_list("collection_id", flat=True))
                if self.instance.pk
                else []
            )
            posted = [
                value.strip()
                for key, value in (self.data.items() if self.is_bound else [])
                if _POSTED_COLLECTION_ID.match(key) and value.strip()
            ]
            self._known_collection_ids = list(dict.fromkeys([*saved, *posted]))
        return self._known_collection_ids

    def clean(self):
        super().clean()
        self._unique_ids()
        if self is self.structure_formsets[-1] and all(
            formset.is_valid() for formset in self.structure_formsets[:-1]
        ):
            structure = structure_of_formsets(self.structure_formsets)
            errors = structure_check(
                structure=structure, targeting=self.instance.targeting, for_publish=False
            )
            if errors:
                raise forms.ValidationError(structure_errors_worded(errors=errors, structure=structure))

    def _unique_ids(self) -> None:
        """Two rows with the same ID (in the same scope) are a form error, not a database error."""
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get(self.id_field):
                continue
            key = (data.get("collection_ref"), data[self.id_field])
            if key in seen:
                raise forms.ValidationError(
                    gettext("The ID {id!r} is used twice; IDs must be unique.").format(id=data[self.id_field])
                )
            seen.add(key)

    def kept_forms(self) -> list:
        """The forms of the rows as edited, without those marked for deletion."""
        return [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]

    def kept(self) -> list:
        """The rows as edited (unsaved), without those marked for deletion."""
        return [form.instance for form in self.kept_forms()]


def structure_of_formsets(formsets: list[StructureFormSet]) -> dict:
    """The data structure the inlines hold, as `event_config_structure_set` takes it: each field
    and enrichment placed in the collection its row names by ID (a collection renamed in the same
    change is still found by its former ID)."""
    by_model = {formset.model: formset for formset in formsets}
    collection_forms = by_model[EventCollection].kept_forms() if EventCollection in by_model else []
    collections = [form.instance for form in collection_forms]
    named = {collection.collection_id: collection for collection in collections}
    for form in collection_forms:
        if form.initial.get("collection_id"):
            named.setdefault(form.initial["collection_id"], form.instance)
    problems = []
    for model in (EventField, EventEnrichment):
        for form in by_model[model].kept_forms() if model in by_model else []:
            wanted = (form.cleaned_data.get("collection_ref") or "").strip()
            if wanted and wanted not in named:
                problems.append(
                    _(
                        "The %(kind)s “%(row)s” names the collection “%(collection)s”, which is not in "
                        "the Collections table."
                    )
                    % {"kind": model._meta.verbose_name, "row": form.instance, "collection": wanted}
                )
            form.instance.collection = named.get(wanted) if wanted else None
    if problems:
        raise forms.ValidationError(problems)
    return structure_from_rows(
        fields=by_model[EventField].kept() if EventField in by_model else [],
        collections=collections,
        enrichments=by_model[EventEnrichment].kept() if EventEnrichment in by_model else [],
    )


class CollectionLimitedInline(admin.TabularInline):
    """Inline whose rows name their collection by ID (`CollectionChoiceForm`)."""

    form = CollectionChoiceForm

    class Media:
        js = ["events/collection_choices.js"]


class EventFieldInline(CollectionLimitedInline):
    model = EventField
    fk_name = "configuration"
    formset = StructureFormSet
    extra = 0
    fields = [
        "field_id",
        "label",
        "type",
        "required",
        "max_length",
        "allowed_values",
        "collection_ref",
        "position",
    ]
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"size": 14})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 14})},
        models.PositiveIntegerField: {"widget": forms.NumberInput(attrs={"style": "width: 4em"})},
    }

    def get_queryset(self, request):
        # The event's own fields first, then each collection's, in their order.
        return (
            super()
            .get_queryset(request)
            .select_related("collection")
            .order_by(F("collection__position").asc(nulls_first=True), "collection_id", "position", "pk")
        )


class CollectionIdsFormSet(StructureFormSet):
    id_field = "collection_id"


class EventCollectionInline(admin.TabularInline):
    model = EventCollection
    formset = CollectionIdsFormSet
    extra = 0
    fields = ["collection_id", "label", "min_items", "max_items", "position"]


class EventEnrichmentInline(CollectionLimitedInline):
    model = EventEnrichment
    formset = StructureFormSet
    extra = 0
    fields = ["name", "collection_ref", "resource", "event_field", "profile_field", "targeting", "position"]


class PublicationLogInline(admin.TabularInline):
    model = PublicationLog
    extra = 0
    can_delete = False
    fields = ["created_at", "type", "version", "actor", "duration_ms", "steps_display", "errors_display"]
    readonly_fields = fields
    ordering = ["-created_at", "-pk"]
    verbose_name_plural = _("publication log")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("version", "actor")

    @admin.display(description=_("steps"))
    def steps_display(self, obj):
        return format_html_join(LINE_BREAK, "{} ({} ms)", ((s["step"], s["ms"]) for s in obj.steps))

    @admin.display(description=_("errors"))
    def errors_display(self, obj):
        # The structure refused then is not kept: rows are named by their number.
        errors = [FieldError(e["path"], e["message"]) for e in obj.errors]
        lines = structure_errors_worded(errors=errors)
        return format_html_join(LINE_BREAK, "{}", ((line,) for line in lines))


class NoRecentEventFilter(admin.SimpleListFilter):
    title = _("last event received")
    parameter_name = "idle_days"

    def lookups(self, request, model_admin):
        return [
            (str(days), gettext("more than {days} days ago (or never)").format(days=days))
            for days in (1, 7, 30, 90)
        ]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return configurations_without_recent_events(queryset=queryset, days=int(self.value()))
        return queryset


@admin.register(EventConfiguration)
class EventConfigurationAdmin(UnitScopedAdminMixin, ObjectActionsMixin, admin.ModelAdmin):
    change_form_template = "admin/events/eventconfiguration/change_form.html"
    change_list_template = "admin/events/eventconfiguration/change_list.html"
    list_display = ["label_and_id", "status", "channel", "targeting", "modified_by", "modified_at"]
    # The units of the configurations listed (a column would not fit at 1366 px).
    list_filter = ["status", NoRecentEventFilter, ("unit", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["modified_by", "unit"]
    search_fields = ["label", "event_id"]
    inlines = [EventFieldInline, EventCollectionInline, EventEnrichmentInline, PublicationLogInline]
    actions = ["publish_selected", "unpublish_selected", "export_selected"]
    object_actions = (
        ObjectAction(
            "publish",
            _("Publish"),
            "events.publish_eventconfiguration",
            _publish,
            # Published and up to date: nothing to publish.
            available=lambda obj: (
                obj.status != PublicationStatus.PUBLISHED or configuration_has_unpublished_changes(config=obj)
            ),
            confirm=_(
                "Publish the data structure? The trigger endpoint accepts events with it as soon as "
                "it is published, and the message can then be written and published."
            ),
        ),
        ObjectAction(
            "unpublish",
            _("Unpublish"),
            "events.publish_eventconfiguration",
            _unpublish,
            available=lambda obj: obj.status == PublicationStatus.PUBLISHED,
            confirm=_("Unpublish? The endpoint will refuse events and the message will be unpublished."),
        ),
        ObjectAction(
            "duplicate",
            _("Duplicate"),
            "events.add_eventconfiguration",
            _duplicate,
            confirm=_("Create a Draft copy of this configuration and of its message?"),
        ),
    )

    @admin.display(description=_("label (ID)"), ordering="label")
    def label_and_id(self, obj):
        return str(obj)

    def get_readonly_fields(self, request, obj=None):
        always = ["publication", "publish_check", "modified_by", "modified_at"]
        return always if obj is None else ["event_id", "channel", "targeting", *always]

    def get_fields(self, request, obj=None):
        fields = [
            "label",
            "event_id",
            "unit",
            "channel",
            "targeting",
            "create_follow_up",
            "publication",
            "modified_by",
            "modified_at",
        ]
        if obj is None or is_profile_push(config=obj):
            fields.insert(5, "push_application")
        up_to_date = obj is not None and obj.status == PublicationStatus.PUBLISHED
        if obj is None or (up_to_date and not configuration_has_unpublished_changes(config=obj)):
            # Nothing to publish: no readiness to tell.
            return fields
        return [*fields[:-2], "publish_check", *fields[-2:]]

    @admin.display(description=_("before publishing"))
    def publish_check(self, obj):
        structure = configuration_structure(config=obj)
        errors = configuration_publish_problems(config=obj, structure=structure)
        if not errors:
            return gettext("The data structure is ready to publish.")
        return format_html(
            '<ul class="publish-problems">{}</ul>',
            format_html_join(
                "",
                "<li>{}</li>",
                ((line,) for line in structure_errors_worded(errors=errors, structure=structure)),
            ),
        )

    @admin.display(description=_("publication"))
    def publication(self, obj):
        if obj is None or obj.pk is None:
            return gettext("Draft")
        if obj.status != PublicationStatus.PUBLISHED or obj.published_version is None:
            return gettext("Draft: the trigger endpoint refuses events.")
        number = obj.published_version.number
        if configuration_has_unpublished_changes(config=obj):
            return format_html(
                gettext(
                    'Published (version {}). <strong class="unpublished-changes">Unpublished changes'
                    "</strong>: the endpoint keeps serving version {} until you publish again."
                ),
                number,
                number,
            )
        return gettext("Published (version {number}), up to date.").format(number=number)

    def save_model(self, request, obj, form, change):
        # Domain errors were already turned into form errors by the form's clean().
        if change:
            event_config_update(
                config=obj,
                user=request.user,
                label=obj.label,
                push_application=obj.push_application,
                unit=obj.unit,
                create_follow_up=obj.create_follow_up,
            )
        else:
            created = event_config_create(
                event_id=obj.event_id,
                label=obj.label,
                channel=obj.channel,
                targeting=obj.targeting,
                push_application=obj.push_application,
                create_follow_up=obj.create_follow_up,
                user=request.user,
                unit=obj.unit if obj.unit_id is not None else user_unit(user=request.user),
            )
            obj.__dict__.update(created.__dict__)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if issubclass(inline.formset, StructureFormSet):
            # One list per request: the three formsets of this form find each other through it.
            kwargs["structure_formsets"] = request.__dict__.setdefault("_structure_formsets", [])
        return kwargs

    def save_related(self, request, form, formsets, change):
        structure_formsets = [formset for formset in formsets if isinstance(formset, StructureFormSet)]
        for formset in formsets:
            if formset not in structure_formsets:
                self.save_formset(request, form, formset, change)
        if any(formset.has_changed() for formset in structure_formsets):
            event_config_structure_set(
                config=form.instance, structure=structure_of_formsets(structure_formsets), user=request.user
            )
        for formset in structure_formsets:
            # What Django's change message reads of a saved formset: the structure is one change.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        if any(isinstance(f, StructureFormSet) and f.has_changed() for f in formsets):
            message.append({"changed": {"fields": [gettext("data structure")]}})
        return message

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None:
            form = _with_event_id_check(form)
        return form

    # --- Delete: Draft only, through the service, confirming what goes ------------------------

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == PublicationStatus.DRAFT)

    def get_deleted_objects(self, objs, request):
        # A summary instead of Django's list of every related row (a configuration can hold
        # millions of events).
        summary = []
        published = []
        for config in objs:
            if config.status != PublicationStatus.DRAFT:
                published.append(gettext("{config} is published: unpublish it first").format(config=config))
            summary.extend(configuration_deletion_summary(config=config))
        perms_needed = (
            set() if request.user.has_perm("events.delete_eventconfiguration") else {"configuration"}
        )
        return summary, {gettext("event configurations"): len(objs)}, perms_needed, published

    def delete_model(self, request, obj):
        event_config_delete(config=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for config in queryset.order_by("pk"):
            event_config_delete(config=config, user=request.user)

    # --- Bulk actions ----------------------------------------------------------------------------

    @admin.action(description=_("Publish selected event configurations"), permissions=["publish"])
    def publish_selected(self, request, queryset):
        self._run_bulk(request, queryset, _publish)

    @admin.action(description=_("Unpublish selected event configurations"), permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        self._run_bulk(request, queryset, _unpublish)

    @admin.action(description=_("Export selected as a package (JSON)"), permissions=["view"])
    def export_selected(self, request, queryset):
        document = package_export(configs=queryset.select_related("message").order_by("event_id"))
        response = HttpResponse(
            json.dumps(document, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder),
            content_type="application/json; charset=utf-8",
        )
        name = f"message-center-package-{timezone.now():%Y%m%d-%H%M%S}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def has_publish_permission(self, request):
        return request.user.has_perm("events.publish_eventconfiguration")

    def _run_bulk(self, request, queryset, run):
        for obj in queryset.order_by("pk"):
            try:
                self.message_user(request, run(obj, request.user))
            except ApplicationError as exc:
                self.message_user(request, f"{obj.event_id}: {exc.message}", level="error")

    # --- Extra pages: API preview and package import -----------------------------------------

    def get_urls(self):
        extra = [
            path(
                "<path:object_id>/api-preview/",
                self.admin_site.admin_view(self.api_preview_view),
                name="events_eventconfiguration_api_preview",
            ),
            path(
                "import-package/",
                self.admin_site.admin_view(self.import_package_view),
                name="events_eventconfiguration_import_package",
            ),
        ]
        return extra + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "api_preview_url": reverse("admin:events_eventconfiguration_api_preview", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def api_preview_view(self, request, object_id):
        config = get_object_or_404(
            self.get_queryset(request).select_related("published_version"), pk=object_id
        )
        if not self.has_view_or_change_permission(request, config):
            raise PermissionDenied
        preview = api_preview_build(config=config, base_url=request.build_absolute_uri("/"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": config,
            "title": gettext("API preview of {event_id}").format(event_id=config.event_id),
            "preview": preview,
            "events": [
                {
                    "event": event,
                    "payload": json.dumps(
                        event_payload(event=event, config=config), indent=2, ensure_ascii=False
                    ),
                }
                for event in preview.latest_events
            ],
        }
        return TemplateResponse(request, "admin/events/eventconfiguration/api_preview.html", context)

    def import_package_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = PackageImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                results = package_import(
                    document=form.cleaned_data["document"],
                    user=request.user,
                    unit=None if user_sees_every_unit(user=request.user) else user_unit(user=request.user),
                )
            except ApplicationError as exc:
                errors = exc.errors or []
                self.message_user(
                    request, gettext("The package was not imported: nothing changed."), messages.ERROR
                )
            else:
                for config, created in results:
                    text = (
                        gettext("{event_id} created (Draft).")
                        if created
                        else gettext("{event_id} updated: draft only, publish it to apply.")
                    )
                    self.message_user(request, text.format(event_id=config.event_id), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:events_eventconfiguration_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import a package"),
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/events/eventconfiguration/import_package.html", context)


class PackageImportForm(forms.Form):
    package = forms.FileField(
        label=_("Package"), help_text=_("A JSON package exported by Message Center (docs/packages.md).")
    )

    def clean(self):
        data = super().clean()
        upload = data.get("package")
        if upload is not None:
            try:
                data["document"] = json.loads(upload.read().decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise forms.ValidationError(
                    gettext("The file is not valid JSON: {error}").format(error=exc)
                ) from None
        return data


def _with_event_id_check(form_class):
    """Normalise and check the ID (EVT prefix, length, uniqueness) as a form error."""

    class EventConfigurationAddForm(form_class):
        def clean_event_id(self):
            try:
                event_id = event_id_normalize(self.cleaned_data.get("event_id", ""))
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from None
            if EventConfiguration.objects.filter(event_id=event_id).exists():
                raise forms.ValidationError(
                    gettext("An event configuration with ID {event_id} already exists.").format(
                        event_id=event_id
                    )
                )

            return event_id

    return EventConfigurationAddForm


@admin.register(Event)
class EventAdmin(UnitScopedAdminMixin, ReadOnlyAdmin):
    unit_field = "configuration__unit"
    list_display = ["pkey", "configuration", "email", "status", "created_at", "processed_at"]
    # Only the configurations of the events listed (those of the user's units).
    list_filter = ["status", ("configuration", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["pkey", "email"]
    list_select_related = ["configuration"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def get_queryset(self, request):
        # Marketers see the events of the messages they may edit, administrators all of them.
        return (
            super()
            .get_queryset(request)
            .filter(configuration__message__in=messages_editable_by(user=request.user))
        )
