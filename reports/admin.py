"""The admin's menu entry of the report of all messages (administrators): it opens the page."""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from .models import HourlyRollup


@admin.register(HourlyRollup)
class GlobalReportEntry(admin.ModelAdmin):
    def has_module_permission(self, request):
        return request.user.has_perm("reports.view_global_report")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("reports.view_global_report")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("reports-global"))
