from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import ObjectAction, ObjectActionsMixin, ReadOnlyAdmin
from campaign.csv import csv_response
from campaign.exceptions import ApplicationError
from delivery.proofs import proof_send
from events.models import Channel, Targeting
from organisations.admin_scoping import UnitScopedAdminMixin, UnitScopedInlineMixin
from organisations.selectors import user_unit, visible_q
from profiles.models import Service
from typologies.selectors import audience_rule_counts

from .models import (
    CONTENT_FIELDS,
    MessageStatus,
    MessageVariant,
    MessageVersion,
    ProofSend,
    ProofStatus,
    TestProfile,
    TransactionalMessage,
)
from .rendering import VARIANT_PARTS, RenderedEmail, RenderedPush, RenderedSms
from .selectors import MESSAGE_UNIT, message_has_unpublished_changes, message_picker_fields, version_diff
from .services import (
    message_pause,
    message_preview,
    message_publish,
    message_resume,
    message_rollback,
    message_test_profile_delete,
    message_test_profile_errors,
    message_test_profile_save,
    message_tracking_set,
    message_unpublish,
    message_update,
    message_variants_set,
    message_warnings,
)
from .sms import sms_length

PERM_PUBLISH = "messages_app.publish_transactionalmessage"
PERM_UNPUBLISH = "messages_app.unpublish_transactionalmessage"
PERM_PAUSE = "messages_app.pause_transactionalmessage"
PERM_PROOF = "messages_app.send_proof_transactionalmessage"


def _publish(obj, user) -> str:
    version = message_publish(message=obj, user=user)
    warnings = message_warnings(message=obj, content=version.content)
    note = "".join(
        " " + gettext("Warning: {path}: {message}").format(path=w.path, message=w.message) for w in warnings
    )
    text = gettext("{message_id} is published (version {number}): new events are sent with it.")
    return text.format(message_id=obj.message_id, number=version.number) + note


def _unpublish(obj, user) -> str:
    message_unpublish(message=obj, user=user)
    return gettext("{message_id} is unpublished, and so is its event configuration.").format(
        message_id=obj.message_id
    )


def _pause(obj, user) -> str:
    message_pause(message=obj, user=user)
    return gettext("{message_id} is paused: new events are kept until you resume it or they expire.").format(
        message_id=obj.message_id
    )


def _resume(obj, user) -> str:
    count = message_resume(message=obj, user=user)
    text = ngettext(
        "{message_id} is resumed: {count} kept event is being sent with the live version.",
        "{message_id} is resumed: {count} kept events are being sent with the live version.",
        count,
    )
    return text.format(message_id=obj.message_id, count=count)


CHANNEL_FIELDSETS = {
    Channel.EMAIL: [
        (_("Sender"), {"fields": ["sender_name", "sender_email", "reply_to"]}),
        (
            _("Email content"),
            {"fields": ["subject", "preheader", "html", "text"], "classes": ["mc-template"]},
        ),
    ],
    Channel.SMS: [(_("SMS content"), {"fields": ["sms_text"], "classes": ["mc-template"]})],
    Channel.PUSH: [
        (
            _("Push notification"),
            {
                "fields": [
                    "push_title",
                    "push_body",
                    "push_deep_link",
                    "push_custom_data",
                    "push_badge",
                    "push_sound",
                ],
                "classes": ["mc-template"],
            },
        )
    ],
}
VARIANT_FIELDS = {
    Channel.EMAIL: ["language", "subject", "preheader", "html", "text"],
    Channel.SMS: ["language", "sms_text"],
    Channel.PUSH: ["language", "push_title", "push_body"],
}
TEMPLATE_HELP = _(
    "Personalise with the field picker, e.g. {{ ctx.firstName }}; {{ ctx.total|format_currency('EUR') }}, "
    "{{ ctx.date|format_date('long') }} and {{ ctx.n|format_number }} follow the locale. Values are escaped "
    "in the HTML content. Changes are sent only after you publish."
)


class MessageVariantInline(admin.StackedInline):
    model = MessageVariant
    extra = 0
    classes = ["mc-template"]

    def get_fields(self, request, obj=None):
        return VARIANT_FIELDS[obj.configuration.channel] if obj else ["language"]


PROFILE_FIELDS = [
    "name",
    "usage",
    "address",
    "push_application",
    "push_platform",
    "event_data",
    "profile",
    "profile_data",
]


class TestProfileForm(forms.ModelForm):
    class Meta:
        model = TestProfile
        fields = PROFILE_FIELDS
        widgets = {
            "event_data": forms.Textarea(attrs={"rows": 4, "cols": 60}),
            "profile_data": forms.Textarea(attrs={"rows": 4, "cols": 60}),
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.instance.message_id is None:
            return cleaned
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in PROFILE_FIELDS}
        candidate = TestProfile(message=self.instance.message, **values)
        for error in message_test_profile_errors(message=self.instance.message, profile=candidate):
            field = error.path.split(".")[0]
            self.add_error(field if field in self.fields else None, f"{error.path}: {error.message}")
        return cleaned


class TestProfileInline(UnitScopedInlineMixin, admin.StackedInline):
    model = TestProfile
    form = TestProfileForm
    extra = 0

    # A select of every profile would not scale: the stored profile is chosen by its ID.
    raw_id_fields = ["profile"]

    def get_fields(self, request, obj=None):
        fields = ["name", "usage", "address", "event_data"]
        if obj is not None and obj.configuration.channel == Channel.PUSH:
            fields[3:3] = ["push_application", "push_platform"]
        if obj is not None and obj.configuration.targeting == Targeting.PROFILE:
            fields += ["profile", "profile_data"]
        return fields


class MessageVersionInline(admin.TabularInline):
    model = MessageVersion
    extra = 0
    fields = ["number", "published_at", "published_by", "restored_from", "summary"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False
    verbose_name_plural = _("published versions")

    @admin.display(description=_("subject / text"))
    def summary(self, obj):
        content = obj.content
        return content.get("subject") or content.get("sms_text") or content.get("push_title") or ""

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TransactionalMessage)
class TransactionalMessageAdmin(UnitScopedAdminMixin, ObjectActionsMixin, admin.ModelAdmin):
    unit_field = MESSAGE_UNIT
    change_form_template = "admin/messages_app/transactionalmessage/change_form.html"
    list_display = ["__str__", "channel", "status", "live_version", "modified_by", "modified_at"]
    list_filter = [
        "status",
        "configuration__channel",
        ("configuration__unit", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["label", "message_id"]
    list_select_related = ["published_version", "modified_by", "configuration"]
    readonly_fields = [
        "message_id",
        "event_display",
        "status",
        "live_version",
        "live_version_state",
        "modified_by",
        "modified_at",
    ]
    inlines = [MessageVariantInline, TestProfileInline, MessageVersionInline]
    object_actions = (
        ObjectAction(
            "publish",
            _("Publish"),
            PERM_PUBLISH,
            _publish,
            # Up to date: nothing to publish.
            available=lambda obj: (
                obj.status == MessageStatus.DRAFT or message_has_unpublished_changes(message=obj)
            ),
            confirm=_(
                "Publish the draft? New events are sent with it as soon as it is published; "
                "the version sent until now stays in Versions."
            ),
        ),
        ObjectAction(
            "pause",
            _("Pause"),
            PERM_PAUSE,
            _pause,
            available=lambda obj: obj.status == MessageStatus.PUBLISHED,
        ),
        ObjectAction(
            "resume",
            _("Resume"),
            PERM_PAUSE,
            _resume,
            available=lambda obj: obj.status == MessageStatus.PAUSED,
        ),
        ObjectAction(
            "unpublish",
            _("Unpublish"),
            PERM_UNPUBLISH,
            _unpublish,
            available=lambda obj: obj.status in (MessageStatus.PUBLISHED, MessageStatus.PAUSED),
            confirm=_(
                "Unpublish? Its event configuration is unpublished too and its endpoint refuses events."
            ),
        ),
    )

    def get_fieldsets(self, request, obj=None):
        channel = obj.configuration.channel if obj else Channel.EMAIL
        content = [
            (
                name,
                {**options, "description": TEMPLATE_HELP}
                if "mc-template" in options.get("classes", [])
                else options,
            )
            for name, options in CHANNEL_FIELDSETS[channel]
        ]
        return [
            (None, {"fields": ["label", "message_id", "event_display", "status", "live_version_state"]}),
            *content,
            (_("Personalisation"), {"fields": ["locale", "missing_value_policy", "missing_value_default"]}),
            *(
                [
                    (_("Consent"), {"fields": ["service"]}),
                    (_("Typology"), {"fields": ["typology", "category"]}),
                ]
                if obj is not None and obj.configuration.targeting == Targeting.PROFILE
                else []
            ),
            *([(_("Tracking"), {"fields": ["tracking_enabled"]})] if channel == Channel.EMAIL else []),
            (_("History"), {"fields": ["modified_by", "modified_at"]}),
        ]

    @admin.display(description=_("channel"))
    def channel(self, obj):
        return obj.configuration.get_channel_display()

    @admin.display(description=_("event"))
    def event_display(self, obj):
        # Text, not a link: marketers have no access to event configurations.
        return str(obj.configuration)

    @admin.display(description=_("live version"))
    def live_version(self, obj):
        return f"v{obj.published_version.number}" if obj.published_version else "-"

    @admin.display(description=_("live version"))
    def live_version_state(self, obj):
        if obj.published_version is None:
            return "-"
        if message_has_unpublished_changes(message=obj):
            return format_html(
                '{} <strong class="unpublished-changes">{}</strong>',
                f"v{obj.published_version.number}",
                _("(the draft has changes: publish to send them)"),
            )
        return _("v%(number)s, up to date") % {"number": obj.published_version.number}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("configuration__published_version")

    def has_add_permission(self, request):
        # Messages are created by publishing their event configuration.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_formset(self, request, form, formset, change):
        """Language variants and test profiles are written by their services, as everywhere else."""
        if formset.model is MessageVariant:
            formset.save(commit=False)  # what the change message reads
            if formset.has_changed():
                kept = [
                    f.instance for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
                ]
                variants = {v.language: {part: getattr(v, part) for part in VARIANT_PARTS} for v in kept}
                message_variants_set(message=form.instance, variants=variants, user=request.user)
        elif formset.model is TestProfile:
            for profile in formset.save(commit=False):
                if profile.pk is None:
                    # A new test profile belongs to its author's unit.
                    profile.unit = user_unit(user=request.user) or profile.unit
                message_test_profile_save(profile=profile)
            for profile in formset.deleted_objects:
                message_test_profile_delete(profile=profile)
        else:
            super().save_formset(request, form, formset, change)

    def save_model(self, request, obj, form, change):
        settings_fields = ("label", "service", "typology", "category")
        editable = [name for name in (*settings_fields, *CONTENT_FIELDS) if name in form.changed_data]
        message_update(message=obj, user=request.user, **{name: getattr(obj, name) for name in editable})
        if "tracking_enabled" in form.changed_data:
            message_tracking_set(message=obj, enabled=obj.tracking_enabled, user=request.user)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra.update(
                picker_fields=[vars(entry) for entry in message_picker_fields(message=obj)],
                channel=obj.configuration.channel,
                can_preview=request.user.has_perm(PERM_PROOF),
                preview_url=reverse("admin:messages_app_transactionalmessage_preview", args=[obj.pk]),
                versions_url=reverse("admin:messages_app_transactionalmessage_versions", args=[obj.pk]),
                simulate_url=reverse("admin:messages_app_transactionalmessage_simulate", args=[obj.pk])
                if obj.typology_id and obj.configuration.targeting == Targeting.PROFILE
                else "",
                report_url=reverse("reports-message", args=[obj.pk]),
            )
        return super().change_view(request, object_id, form_url, extra)

    # --- Preview, proofs and versions -------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/preview/",
                view(self.preview_view),
                name="messages_app_transactionalmessage_preview",
            ),
            path(
                "<int:object_id>/preview/frame/",
                view(self.preview_frame_view),
                name="messages_app_transactionalmessage_preview_frame",
            ),
            path(
                "<int:object_id>/simulate/",
                view(self.simulate_view),
                name="messages_app_transactionalmessage_simulate",
            ),
            path(
                "<int:object_id>/versions/",
                view(self.versions_view),
                name="messages_app_transactionalmessage_versions",
            ),
            path(
                "<int:object_id>/versions/<int:number>/rollback/",
                view(self.rollback_view),
                name="messages_app_transactionalmessage_rollback",
            ),
            *super().get_urls(),
        ]

    def _message(self, request, object_id, permission: str, write: bool = False) -> TransactionalMessage:
        """The message, 404 when the user does not see it; 403 without the permission or, for
        what changes it or sends (`write`), when it belongs to a unit above the user's."""
        message = get_object_or_404(
            self.get_queryset(request).select_related("configuration__published_version"), pk=object_id
        )
        if not request.user.has_perm(permission) or (write and not self.object_writable(request, message)):
            raise PermissionDenied
        return message

    def _test_profiles(self, request, message):
        """The message's test profiles the user sees (its unit's and those above)."""
        return message.test_profiles.filter(visible_q(user=request.user))

    def _chosen_profile(self, request, message) -> TestProfile | None:
        profiles = list(self._test_profiles(request, message))
        wanted = request.POST.get("profile") or request.GET.get("profile")
        return next((p for p in profiles if str(p.pk) == wanted), profiles[0] if profiles else None)

    def preview_view(self, request, object_id):
        message = self._message(request, object_id, PERM_PROOF, write=request.method == "POST")
        profile = self._chosen_profile(request, message)
        url = reverse("admin:messages_app_transactionalmessage_preview", args=[message.pk])
        if request.method == "POST":
            if profile is None:
                self.message_user(request, gettext("Add a test profile to send a proof."), messages.ERROR)
            else:
                try:
                    proof = proof_send(message=message, profile=profile, user=request.user)
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    if proof.status == ProofStatus.SENT:
                        self.message_user(
                            request,
                            gettext("Proof sent to {address}.").format(address=proof.address),
                            messages.SUCCESS,
                        )
                    else:
                        self.message_user(
                            request,
                            gettext("The proof was not sent: {error}").format(error=proof.error),
                            messages.ERROR,
                        )
            return HttpResponseRedirect(f"{url}?profile={profile.pk if profile else ''}")
        rendered, error = None, ""
        try:
            rendered = message_preview(message=message, profile=profile)
        except ApplicationError as exc:
            error = exc.message
        sms = sms_length(rendered.text) if isinstance(rendered, RenderedSms) else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": message,
            "title": gettext("Preview of {label}").format(label=message.label),
            "profiles": self._test_profiles(request, message),
            "can_send_proof": self.object_writable(request, message),
            "profile": profile,
            "rendered": rendered,
            "error": error,
            "channel": message.configuration.channel,
            "is_email": isinstance(rendered, RenderedEmail),
            "is_push": isinstance(rendered, RenderedPush),
            "sms": sms,
            "frame_url": reverse("admin:messages_app_transactionalmessage_preview_frame", args=[message.pk])
            + f"?profile={profile.pk if profile else ''}",
            "proofs": message.proofs.select_related("sent_by")[:10],
            "change_url": reverse("admin:messages_app_transactionalmessage_change", args=[message.pk]),
        }
        return TemplateResponse(request, "admin/messages_app/preview.html", context)

    def preview_frame_view(self, request, object_id):
        """The email's HTML alone, for the preview's sandboxed iframe: no script runs, nothing is
        fetched from the network, whatever the template or the test data hold."""
        message = self._message(request, object_id, PERM_PROOF)
        try:
            rendered = message_preview(message=message, profile=self._chosen_profile(request, message))
            html = rendered.html if isinstance(rendered, RenderedEmail) else ""
        except ApplicationError as exc:
            html = format_html("<p>{}</p>", exc.message)
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        )
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response

    def simulate_view(self, request, object_id):
        """How many profiles of an audience each rule of the message's typology would exclude,
        without sending anything (a table, or CSV with ?format=csv)."""
        message = self._message(request, object_id, "messages_app.view_transactionalmessage")
        if message.configuration.targeting != Targeting.PROFILE or message.typology is None:
            raise Http404("Only a profile-based message with a typology can be simulated.")
        services = list(Service.objects.filter(channel=message.configuration.channel))
        service = next((sv for sv in services if sv.name == request.GET.get("service")), None)
        audience = (
            Q(subscriptions__service=service, subscriptions__unsubscribed_at__isnull=True) if service else Q()
        )
        total, counts = audience_rule_counts(
            typology=message.typology,
            channel=message.configuration.channel,
            audience=audience,
            now=timezone.now(),
        )
        rows = [
            (count.rule.label, count.rule.get_type_display(), count.excluded, count.remaining)
            for count in counts
        ]
        if request.GET.get("format") == "csv":
            return csv_response(
                f"{message.message_id}-simulation.csv",
                [gettext("Rule"), gettext("Type"), gettext("Profiles excluded"), gettext("Profiles left")],
                rows,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": message,
            "title": gettext("Simulation of the typology %(typology)s") % {"typology": message.typology},
            "services": services,
            "service": service,
            "total": total,
            "rows": rows,
            "left": counts[-1].remaining if counts else total,
            "change_url": reverse("admin:messages_app_transactionalmessage_change", args=[message.pk]),
        }
        return TemplateResponse(request, "admin/messages_app/simulate.html", context)

    def versions_view(self, request, object_id):
        message = self._message(request, object_id, "messages_app.view_messageversion")
        versions = list(message.versions.select_related("published_by"))
        by_number = {v.number: v for v in versions}
        new = by_number.get(_int(request.GET.get("new"))) or (versions[0] if versions else None)
        old = by_number.get(_int(request.GET.get("old"))) or (versions[1] if len(versions) > 1 else new)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": message,
            "title": gettext("Versions of {label}").format(label=message.label),
            "versions": versions,
            "old": old,
            "new": new,
            "diff": version_diff(old=old, new=new) if old and new else [],
            "live_number": message.published_version.number if message.published_version else None,
            "can_rollback": request.user.has_perm(PERM_PUBLISH) and self.object_writable(request, message),
            "change_url": reverse("admin:messages_app_transactionalmessage_change", args=[message.pk]),
        }
        return TemplateResponse(request, "admin/messages_app/versions.html", context)

    def rollback_view(self, request, object_id, number):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        message = self._message(request, object_id, PERM_PUBLISH, write=True)
        try:
            version = message_rollback(message=message, number=number, user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                gettext("Version {number} is live again as version {new}; the draft now holds it.").format(
                    number=number, new=version.number
                ),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(
            reverse("admin:messages_app_transactionalmessage_versions", args=[message.pk])
        )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@admin.register(ProofSend)
class ProofSendAdmin(UnitScopedAdminMixin, ReadOnlyAdmin):
    unit_field = "message__configuration__unit"
    list_display = ["sent_at", "message", "address", "status", "sent_by"]
    list_filter = ["status", "channel"]
    list_select_related = ["message", "sent_by"]
    readonly_fields = [
        "message",
        "test_profile",
        "channel",
        "address",
        "status",
        "provider_message_id",
        "error",
        "sent_at",
        "sent_by",
        "content",
    ]
