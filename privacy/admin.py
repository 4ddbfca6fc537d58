"""Privacy requests in the admin: the record of every export and erasure, and the two screens a
profile's page links to (each a confirmation page; the request runs on POST)."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext

from campaign.admin_actions import ReadOnlyAdmin
from profiles.models import Profile

from .models import PrivacyRequest, PrivacyRequestOutcome
from .selectors import profile_events
from .services import profile_erase, profile_export


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "outcome", "subject_hash", "requested_by", "requested_by_name"]
    list_filter = ["kind", "outcome"]
    search_fields = ["subject_hash"]
    readonly_fields = [f.name for f in PrivacyRequest._meta.fields]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/<int:profile_id>/", view(self.export_view), name="privacy_profile_export"),
            path("erase/<int:profile_id>/", view(self.erase_view), name="privacy_profile_erase"),
            *super().get_urls(),
        ]

    def _page(self, request, profile, *, kind, template, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": Profile._meta,
            "profile": profile,
            "kind": kind,
            **extra,
        }
        return TemplateResponse(request, template, context)

    def export_view(self, request, profile_id):
        if not request.user.has_perm("privacy.export_profile_data"):
            raise PermissionDenied
        profile = get_object_or_404(Profile, pk=profile_id)
        if request.method == "POST":
            document = profile_export(profile=profile, user=request.user)
            response = HttpResponse(
                json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
                content_type="application/json; charset=utf-8",
            )
            response["Content-Disposition"] = (
                f'attachment; filename="profile-{profile.pk}-personal-data.json"'
            )
            return response
        return self._page(
            request,
            profile,
            kind="export",
            template="admin/privacy/confirm.html",
            title=gettext("Export the personal data of {profile}").format(profile=profile),
        )

    def erase_view(self, request, profile_id):
        if not request.user.has_perm("privacy.erase_profile_data"):
            raise PermissionDenied
        profile = get_object_or_404(Profile, pk=profile_id)
        if request.method == "POST":
            record = profile_erase(profile=profile, user=request.user)
            if record.outcome == PrivacyRequestOutcome.DONE:
                self.message_user(
                    request,
                    gettext(
                        "The profile's personal data was erased ({events} events cleared); its addresses are "
                        "suppressed."
                    ).format(events=record.detail.get("events", 0)),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:profiles_profile_changelist"))
            self.message_user(request, record.error, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[profile.pk]))
        return self._page(
            request,
            profile,
            kind="erase",
            template="admin/privacy/confirm.html",
            title=gettext("Erase the personal data of {profile}").format(profile=profile),
            events=profile_events(profile=profile).count(),
            subscriptions=profile.subscriptions.count(),
            devices=profile.app_subscriptions.count(),
        )
