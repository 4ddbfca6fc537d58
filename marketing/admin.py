import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaign.admin_actions import ObjectAction, ObjectActionsMixin
from campaign.channels import Channel
from campaign.csv import csv_response
from campaign.exceptions import ApplicationError
from organisations.admin_scoping import UnitScopedAdminMixin
from typologies.conditions import ConditionWidget, condition_problems

from .models import DeliveryStatus, MarketingDelivery, RecipientStatus
from .selectors import (
    audience_count,
    delivery_engagement,
    delivery_exclusions,
    delivery_progress,
    recipients_with_engagement,
)
from .services import (
    EDITABLE,
    delivery_cancel,
    delivery_confirm,
    delivery_pause,
    delivery_prepare_start,
    delivery_resume,
    delivery_save,
)

PERM_SEND = "marketing.send_marketingdelivery"


def _prepare(delivery, user):
    try:
        delivery_prepare_start(delivery=delivery)
    except ApplicationError as exc:
        details = "; ".join(f"{error.path}: {error.message}" for error in exc.errors or [])
        raise ApplicationError(f"{exc.message} {details}".strip()) from exc
    return gettext("Preparing “%(delivery)s”: the recipient list is being computed.") % {"delivery": delivery}


def _confirm(delivery, user):
    delivery_confirm(delivery=delivery)
    if delivery.status == DeliveryStatus.SCHEDULED:
        return gettext("“%(delivery)s” will be sent at %(time)s.") % {
            "delivery": delivery,
            "time": delivery.scheduled_at,
        }
    return gettext("“%(delivery)s” is sending.") % {"delivery": delivery}


def _pause(delivery, user):
    delivery_pause(delivery=delivery)
    return gettext("“%(delivery)s” is paused.") % {"delivery": delivery}


def _resume(delivery, user):
    delivery_resume(delivery=delivery)
    return gettext("“%(delivery)s” is sending again.") % {"delivery": delivery}


def _cancel(delivery, user):
    delivery_cancel(delivery=delivery)
    return gettext("“%(delivery)s” is cancelled: what was not sent will not be.") % {"delivery": delivery}


CONTENT_FIELDSETS = {
    "email": [
        "sender_name",
        "sender_email",
        "reply_to",
        "subject",
        "preheader",
        "html",
        "text",
        "tracking_enabled",
    ],
    "sms": ["sms_text"],
    "push": ["push_application", "push_title", "push_body"],
}


@admin.register(MarketingDelivery)
class MarketingDeliveryAdmin(UnitScopedAdminMixin, ObjectActionsMixin, admin.ModelAdmin):
    formfield_overrides = {models.JSONField: {"widget": ConditionWidget}}
    change_form_template = "admin/marketing/marketingdelivery/change_form.html"
    list_display = ["label", "channel", "status", "target_count", "sent_count", "failed_count", "created_at"]
    list_filter = ["status", "channel", ("unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["label"]
    readonly_fields = [
        "status",
        "audience_count",
        "excluded_count",
        "target_count",
        "sent_count",
        "failed_count",
        "error",
        "prepared_at",
        "started_at",
        "finished_at",
    ]
    object_actions = (
        ObjectAction(
            "prepare",
            _("Prepare"),
            PERM_SEND,
            _prepare,
            available=lambda obj: obj.status in EDITABLE,
        ),
        ObjectAction(
            "confirm",
            _("Confirm and send"),
            PERM_SEND,
            _confirm,
            available=lambda obj: obj.status == DeliveryStatus.PREPARED,
            confirm=_("Send this delivery to its recipients?"),
        ),
        ObjectAction(
            "pause",
            _("Pause"),
            PERM_SEND,
            _pause,
            available=lambda obj: obj.status in (DeliveryStatus.SENDING, DeliveryStatus.SCHEDULED),
        ),
        ObjectAction(
            "resume",
            _("Resume"),
            PERM_SEND,
            _resume,
            available=lambda obj: obj.status == DeliveryStatus.PAUSED,
        ),
        ObjectAction(
            "cancel",
            _("Cancel"),
            PERM_SEND,
            _cancel,
            available=lambda obj: obj.status not in (DeliveryStatus.DONE, DeliveryStatus.CANCELLED),
            confirm=_("Cancel this delivery? What was not sent yet will never be."),
        ),
    )

    def get_fieldsets(self, request, obj=None):
        channel = obj.channel if obj else request.GET.get("channel", "email")
        return [
            (
                None,
                {
                    "fields": ["label", "unit", "channel", "status"]
                    if obj is None
                    else ["label", "unit", "status"]
                },
            ),
            (
                _("Content"),
                {"fields": [*CONTENT_FIELDSETS.get(channel, CONTENT_FIELDSETS["email"]), "locale"]},
            ),
            *(
                [
                    (
                        _("Follow-up"),
                        {
                            "fields": [
                                "follow_up_of",
                                "follow_up_min_days",
                                "follow_up_max_days",
                                "follow_up_engagement",
                                "typology",
                                "category",
                            ],
                            "description": _(
                                "Sent to the recipients of the message, with the data of the event each "
                                "one received: templates read ctx and the enrichments as the message does."
                            ),
                        },
                    )
                ]
                if obj is not None and obj.follow_up_of_id
                else [(_("Audience and rules"), {"fields": ["service", "audience", "typology", "category"]})]
            ),
            (_("Sending"), {"fields": ["scheduled_at", "rate_per_second", "recurrence"]}),
            (
                _("Figures"),
                {
                    "fields": [
                        "audience_count",
                        "excluded_count",
                        "target_count",
                        "sent_count",
                        "failed_count",
                        "error",
                        "prepared_at",
                        "started_at",
                        "finished_at",
                    ]
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["channel", "follow_up_of"]
            if obj.status not in EDITABLE:
                fields += [f.name for f in self.model._meta.fields if f.editable and f.name not in fields]
        return fields

    def save_model(self, request, obj, form, change):
        delivery_save(delivery=obj, user=request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.status in EDITABLE)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra.update(
                progress=delivery_progress(delivery_id=obj.pk),
                progress_url=reverse("admin:marketing_marketingdelivery_progress", args=[obj.pk]),
                recipients_url=reverse("admin:marketing_marketingdelivery_recipients", args=[obj.pk]),
                exclusions=delivery_exclusions(delivery=obj),
                # Opens and clicks: emails only.
                engagement=delivery_engagement(delivery=obj) if obj.channel == Channel.EMAIL else None,
            )
        extra["audience_count_url"] = reverse("admin:marketing_marketingdelivery_audience_count")
        return super().change_view(request, object_id, form_url, extra)

    def add_view(self, request, form_url="", extra_context=None):
        extra = {
            **(extra_context or {}),
            "audience_count_url": reverse("admin:marketing_marketingdelivery_audience_count"),
        }
        return super().add_view(request, form_url, extra)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/progress/",
                view(self.progress_view),
                name="marketing_marketingdelivery_progress",
            ),
            path(
                "<int:object_id>/recipients.csv",
                view(self.recipients_view),
                name="marketing_marketingdelivery_recipients",
            ),
            path(
                "audience-count/",
                view(self.audience_count_view),
                name="marketing_marketingdelivery_audience_count",
            ),
            *super().get_urls(),
        ]

    def _delivery(self, request, object_id) -> MarketingDelivery:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def progress_view(self, request, object_id):
        delivery = self._delivery(request, object_id)
        return JsonResponse(delivery_progress(delivery_id=delivery.pk))

    def recipients_view(self, request, object_id):
        delivery = self._delivery(request, object_id)
        labels = dict(RecipientStatus.choices)
        yes, no = gettext("yes"), gettext("no")
        rows = (
            (
                r.profile_id,
                r.profile.email,
                r.profile.mobile_phone,
                labels[r.status],
                r.rule.label if r.rule else "",
                r.sent_at or "",
                r.error,
                yes if r.opened else no,
                yes if r.clicked else no,
            )
            for r in recipients_with_engagement(delivery=delivery).iterator(chunk_size=2000)
        )
        header = [
            gettext("Profile"),
            gettext("Email"),
            gettext("Mobile phone"),
            gettext("Status"),
            gettext("Rule"),
            gettext("Sent"),
            gettext("Error"),
            gettext("Opened"),
            gettext("Clicked"),
        ]
        return csv_response(f"delivery-{delivery.pk}-recipients.csv", header, rows)

    def audience_count_view(self, request):
        """The live count of the audience condition being typed on the form."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        raw = request.GET.get("audience", "").strip()
        try:
            audience = json.loads(raw) if raw and raw != "null" else None
        except json.JSONDecodeError as exc:
            return JsonResponse({"errors": [gettext("Not JSON: %(error)s") % {"error": exc}]})
        problems = condition_problems(audience) if audience is not None else []
        if problems:
            return JsonResponse({"errors": problems})
        return JsonResponse({"count": audience_count(audience=audience)})
