from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV

from campaign.admin_actions import ReadOnlyAdmin

from .admin_import import ProfileImportAdminMixin
from .models import Profile, ProfileImport
from .resources import ProfileResource


@admin.register(Profile)
class ProfileAdmin(ProfileImportAdminMixin, ExportMixin, admin.ModelAdmin):
    list_display = ["__str__", "email", "mobile_phone", "external_id", "language", "modified_at"]
    search_fields = ["email", "mobile_phone", "external_id", "first_name", "last_name"]
    list_filter = ["language"]
    readonly_fields = ["created_at", "modified_at"]
    # CSV export of the list as filtered (the Export button) or of the selected profiles (action),
    # in the columns an import reads (docs/formats.md).
    resource_classes = [ProfileResource]
    formats = [CSV]
    skip_export_form = True
    import_export_change_list_template = "admin/profiles/profile/change_list.html"
    actions = ["export_selected"]

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_filename(self, request, queryset, file_format):
        return "profiles.csv"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Export the selected profiles as CSV"), permissions=["view"])
    def export_selected(self, request, queryset):
        return self._do_file_export(CSV(), request, queryset)


@admin.register(ProfileImport)
class ProfileImportAdmin(ReadOnlyAdmin):
    list_display = [
        "file_name",
        "status",
        "key",
        "rows_total",
        "rows_new",
        "rows_update",
        "rows_invalid",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perms(["profiles.add_profile", "profiles.change_profile"])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:profiles_profile_import_job", args=[object_id]))
